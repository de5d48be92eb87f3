"""converters/pooling.py beyond 2-d max/avg/sum: 1-d and 3-d pooling, lp pooling, adaptive average
pooling of any output size; against real MXNet in real Caffe and OpenCV (1e-4)."""

import mxnet as mx
import numpy as np
import pytest

from harness import assert_converts_exactly, assert_rejected, layer_types, mxnet_forward, save_model

# (pool_type, p_value) of Pooling
POOL_TYPES = [("max", None), ("avg", None), ("sum", None), ("lp", 1), ("lp", 2), ("lp", 3)]


def _pooling(pool_type, p_value, **attrs) -> mx.sym.Symbol:
    if p_value is not None:
        attrs["p_value"] = p_value
    return mx.sym.Pooling(mx.sym.Variable("data"), pool_type=pool_type, name="pool", **attrs)


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("convention", ["valid", "full"])
@pytest.mark.parametrize("pool_type, p_value", POOL_TYPES)
@pytest.mark.parametrize(
    "kernel, stride, pad, size",
    [
        ((3,), (2,), (1,), (9,)),  # 1-d, a window clipped by the padding at each end
        ((2,), (2,), (0,), (7,)),  # 1-d, 'valid' drops the last element, 'full' keeps it alone
        ((3, 2, 3), (2, 2, 2), (1, 1, 1), (5, 6, 7)),  # 3-d
        ((2, 3, 2), (1, 2, 2), (0, 1, 0), (3, 7, 5)),  # 3-d, a different geometry per axis
    ],
)
def test_1d_and_3d(tmp_path, kernel, stride, pad, size, pool_type, p_value, convention, include_pad):
    sym = _pooling(
        pool_type,
        p_value,
        kernel=kernel,
        stride=stride,
        pad=pad,
        pooling_convention=convention,
        count_include_pad=include_pad,
    )
    assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)


@pytest.mark.parametrize("pool_type, p_value", POOL_TYPES)
@pytest.mark.parametrize("size", [(9,), (4, 5, 6)])
def test_global_1d_and_3d(tmp_path, size, pool_type, p_value):
    sym = _pooling(pool_type, p_value, kernel=(1,) * len(size), global_pool=True)
    summary = assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)
    assert summary.outputs == {"pool": (2, 3) + (1,) * len(size)}


def test_3d_is_two_2d_poolings(tmp_path):
    """Over (H, W) of the (N, C*D, H, W) view, then over D of the (N, C, D, H'*W') view."""
    sym = _pooling("max", None, kernel=(2, 3, 3), stride=(2, 2, 2), pooling_convention="full")
    summary = assert_converts_exactly(sym, {"data": (1, 2, 4, 7, 7)}, tmp_path)
    assert layer_types(summary) == ["Input", "Reshape", "Pooling", "Reshape", "Pooling", "Reshape"]
    assert summary.outputs == {"pool": (1, 2, 2, 3, 3)}


@pytest.mark.parametrize("p_value", [1, 2, 3])
@pytest.mark.parametrize(
    "kernel, stride, pad, convention, size",
    [
        ((2, 2), (2, 2), (0, 0), "valid", (7, 7)),  # rounded down: the pooling_rounding pass's Crop
        ((3, 3), (2, 2), (1, 1), "valid", (6, 7)),  # padded: zeros add nothing to the sums
        ((3, 3), (2, 2), (1, 1), "full", (6, 6)),  # last window clipped: a per-position divisor
        ((3, 2), (1, 2), (1, 0), "full", (5, 7)),
    ],
)
def test_lp_2d(tmp_path, kernel, stride, pad, convention, size, p_value):
    sym = _pooling("lp", p_value, kernel=kernel, stride=stride, pad=pad, pooling_convention=convention)
    assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)


@pytest.mark.parametrize(
    "p_value, types",
    [
        (2, ["Power", "Pooling", "Power"]),
        (3, ["Power", "Pooling", "ReLU", "Power", "Power", "ReLU", "Power", "Eltwise"]),
    ],
)
def test_lp_forms(tmp_path, p_value, types):
    """sqrt(sum x^2): the window area goes into the root's Power. The cube root keeps the sign of a
    negative sum of cubes as relu(s)^(1/3) - relu(-s)^(1/3): half the outputs here are negative,
    so a form that dropped the sign would fail."""
    sym = _pooling("lp", p_value, kernel=(2, 2), stride=(2, 2))
    shape = (2, 3, 6, 8)
    inputs = {"data": np.random.default_rng(5).standard_normal(shape).astype(np.float32)}
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=inputs)
    assert layer_types(summary) == ["Input"] + types
    if p_value == 3:
        symbol, params = save_model(sym, {}, {}, tmp_path, "reference")
        assert (mxnet_forward(symbol, params, inputs)[0] < 0).mean() > 0.3


@pytest.mark.parametrize(
    "size, output_size",
    [
        ((7, 7), (3, 3)),  # bins [0,3) [2,5) [4,7): overlapping
        ((10, 10), (4, 4)),  # bins of 3 and 4 elements
        ((5, 5), (7, 7)),  # more bins than elements
        ((6, 9), (4, 2)),
        ((8, 7), (4, 3)),  # one axis divides evenly, the other does not
        ((13, 1), (5, 1)),
    ],
)
def test_adaptive_avg_pooling_of_any_size(tmp_path, size, output_size):
    """MXNet's bin i of an axis is [floor(i*size/out), ceil((i+1)*size/out)): averaging matrices,
    one per axis, as in BilinearResize2D."""
    sym = mx.sym.contrib.AdaptiveAvgPooling2D(mx.sym.Variable("data"), output_size=output_size, name="pool")
    summary = assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)
    assert summary.outputs == {"pool": (2, 3) + output_size}
    assert "Pooling" not in layer_types(summary)


def test_adaptive_avg_pooling_in_a_network(tmp_path):
    """A PSP/ResNeSt-style pyramid branch: adaptive pooling to 3x3 of a 10x10 map, 1x1 conv, resize back."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), num_filter=6, name="conv")
    x = mx.sym.relu(x, name="relu")
    pooled = mx.sym.contrib.AdaptiveAvgPooling2D(x, output_size=3, name="pool")
    pooled = mx.sym.Convolution(pooled, kernel=(1, 1), num_filter=4, name="reduce")
    up = mx.sym.contrib.BilinearResize2D(pooled, height=10, width=10, name="up")
    x = mx.sym.concat(x, up, dim=1, name="cat")
    assert_converts_exactly(x, {"data": (1, 3, 10, 10)}, tmp_path)


@pytest.mark.parametrize(
    "attrs, shape, message",
    [
        (
            {"kernel": (3,), "pooling_convention": "same"},
            (1, 2, 9),
            "'same' is not supported: MXNet 1.9.1 computes it only",
        ),
        ({"kernel": (2, 2), "pool_type": "lp", "p_value": 4}, (1, 2, 4, 4), "p_value 4"),
        ({"kernel": (2, 2), "pool_type": "lp"}, (1, 2, 4, 4), "'lp' needs p_value"),
        ({"kernel": (2,), "layout": "NWC"}, (1, 2, 9), "layout NWC is not supported, only NCW"),
        ({"kernel": (2, 2, 2)}, (1, 2, 4, 4), r"kernel \(2, 2, 2\) does not match the 2-d pooling"),
        ({"kernel": (2, 2)}, (1, 2, 3, 4, 4, 4), "only 1-d/2-d/3-d pooling"),
    ],
)
def test_rejects(tmp_path, attrs, shape, message):
    sym = mx.sym.Pooling(mx.sym.Variable("data"), name="pool", **attrs)
    assert_rejected(sym, {"data": shape}, tmp_path, message)


def test_pooling_v1_rejects_3d(tmp_path):
    sym = mx.sym.Pooling_v1(mx.sym.Variable("data"), kernel=(2, 2, 2), name="pool")
    assert_rejected(sym, {"data": (1, 2, 4, 4, 4)}, tmp_path, r"only 2-d pooling of \(N, C, spatial...\) input")

import json

import mxnet as mx
import pytest

import mxnet2caffe

from harness import assert_converts_exactly, layer_types

# (kernel, stride, pad, pooling_convention, (H, W)); comments say what Caffe's own output
# size (always rounded up, last window clipped if it starts in the padding) does there.
GEOMETRIES = [
    ((2, 2), (2, 2), (0, 0), "valid", (7, 7)),  # Caffe 4x4, MXNet 3x3: sliced
    ((3, 3), (2, 2), (1, 1), "valid", (6, 6)),  # Caffe 4x4, MXNet 3x3: sliced
    ((2, 2), (2, 2), (1, 1), "valid", (5, 5)),  # Caffe's clipping rule already gives 3x3
    ((3, 3), (1, 1), (1, 1), "valid", (5, 6)),
    ((2, 2), (1, 1), (1, 1), "valid", (6, 7)),
    ((3, 3), (3, 3), (0, 0), "valid", (8, 8)),  # Caffe 3x3, MXNet 2x2: sliced
    ((3, 3), (3, 3), (1, 1), "valid", (9, 8)),  # rows sliced, columns clipped by Caffe
    ((3, 2), (2, 1), (1, 0), "valid", (7, 6)),  # non-square
    ((3, 3), (2, 2), (0, 0), "full", (8, 8)),
    ((3, 3), (2, 2), (1, 1), "full", (6, 6)),  # last window clipped at H + pad
    ((3, 3), (3, 3), (1, 1), "full", (9, 9)),
    ((2, 3), (2, 3), (0, 1), "full", (7, 9)),  # non-square
    ((2, 2), (2, 2), (1, 1), "full", (6, 6)),
]

# (pool_type, count_include_pad) of Pooling
POOL_TYPES = [("max", True), ("avg", True), ("avg", False), ("sum", True)]


def _symbol_with_attrs(sym: mx.sym.Symbol, **attrs: str) -> mx.sym.Symbol:
    """`sym` with raw JSON attributes set on its last node, as a saved model may hold them."""
    graph = json.loads(sym.tojson())
    graph["nodes"][-1]["attrs"].update(attrs)
    return mx.sym.load_json(json.dumps(graph))


def _conversion_error(sym: mx.sym.Symbol, shape, tmp_path) -> str:
    symbol_path = tmp_path / "model-symbol.json"
    sym.save(str(symbol_path))
    with pytest.raises(mxnet2caffe.ConversionError) as error:
        mxnet2caffe.convert(symbol_path, {}, {"data": shape})
    return str(error.value)


@pytest.mark.parametrize("pool_type, include_pad", POOL_TYPES)
@pytest.mark.parametrize("kernel, stride, pad, convention, size", GEOMETRIES)
def test_pooling(tmp_path, pool_type, include_pad, kernel, stride, pad, convention, size):
    sym = mx.sym.Pooling(
        mx.sym.Variable("data"), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
        pooling_convention=convention, count_include_pad=include_pad, name="pool",
    )
    assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("kernel, stride, pad, convention, size", GEOMETRIES)
def test_pooling_v1(tmp_path, pool_type, kernel, stride, pad, convention, size):
    """Pooling_v1 pads with zeros that max sees and divides averages by the kernel area."""
    sym = mx.sym.Pooling_v1(
        mx.sym.Variable("data"), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
        pooling_convention=convention, name="pool",
    )
    assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path)


def test_pooling_v1_max_sees_zero_padding(tmp_path):
    """All-negative input: MXNet's Pooling_v1 max is 0 wherever a window touches the pad."""
    sym = mx.sym.Pooling_v1(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), name="pool")
    inputs = {"data": -1 - mx.nd.random.uniform(shape=(1, 2, 5, 5), dtype="float32").asnumpy()}
    summary = assert_converts_exactly(sym, {"data": (1, 2, 5, 5)}, tmp_path, inputs=inputs)
    assert layer_types(summary) == ["Input", "Convolution", "Pooling"]


@pytest.mark.parametrize("op", ["Pooling", "Pooling_v1"])
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
def test_global_pooling(tmp_path, op, pool_type):
    # kernel, stride and pad are ignored by MXNet under global_pool
    sym = getattr(mx.sym, op)(
        mx.sym.Variable("data"), kernel=(3, 3), stride=(2, 2), pad=(1, 1), global_pool=True,
        pool_type=pool_type, pooling_convention="full", name="pool",
    )
    summary = assert_converts_exactly(sym, {"data": (2, 3, 7, 6)}, tmp_path)
    assert summary.outputs == {"pool": (2, 3, 1, 1)}


def test_defaults_max_valid_stride_one(tmp_path):
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2), name="pool")
    summary = assert_converts_exactly(sym, {"data": (1, 3, 5, 4)}, tmp_path)
    assert summary.outputs == {"pool": (1, 3, 4, 3)}
    assert layer_types(summary) == ["Input", "Pooling"]


def test_valid_crops_caffe_extra_row_and_column(tmp_path):
    """H=W=7, k=s=2: Caffe's Pooling alone gives 4x4, MXNet 3x3 (passes/pooling_rounding.py)."""
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2), stride=(2, 2), name="pool")
    summary = assert_converts_exactly(sym, {"data": (1, 3, 7, 7)}, tmp_path)
    assert summary.outputs == {"pool": (1, 3, 3, 3)}
    assert layer_types(summary) == ["Input", "Pooling", "Pooling", "Crop"]


def test_full_needs_no_slice(tmp_path):
    sym = mx.sym.Pooling(
        mx.sym.Variable("data"), kernel=(2, 2), stride=(2, 2), pooling_convention="full", name="pool"
    )
    summary = assert_converts_exactly(sym, {"data": (1, 3, 7, 7)}, tmp_path)
    assert summary.outputs == {"pool": (1, 3, 4, 4)}
    assert layer_types(summary) == ["Input", "Pooling"]


def test_exclude_pad_scales_border_positions(tmp_path):
    sym = mx.sym.Pooling(
        mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), pool_type="avg",
        count_include_pad=False, name="pool",
    )
    summary = assert_converts_exactly(sym, {"data": (1, 3, 5, 5)}, tmp_path)
    assert layer_types(summary) == ["Input", "Pooling", "Scale"]


def test_count_include_pad_none_string_means_true(tmp_path):
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), pool_type="avg", name="pool")
    sym = _symbol_with_attrs(sym, count_include_pad="None")
    summary = assert_converts_exactly(sym, {"data": (1, 3, 5, 5)}, tmp_path)
    assert layer_types(summary) == ["Input", "Pooling"]


@pytest.mark.parametrize("output_size", [None, 1, (1, 1), 2, (3, 2), (6, 4)])
def test_adaptive_avg_pooling(tmp_path, output_size):
    kwargs = {} if output_size is None else {"output_size": output_size}
    sym = mx.sym.contrib.AdaptiveAvgPooling2D(mx.sym.Variable("data"), name="pool", **kwargs)
    assert_converts_exactly(sym, {"data": (2, 3, 6, 4)}, tmp_path)


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"pool_type": "lp", "p_value": 4}, "p_value 4"),
        ({"pooling_convention": "same"}, "pooling_convention 'same'"),
        ({"kernel": (3, 3), "pad": (3, 3)}, "must be smaller than kernel"),
        # last window [5, 7) of 'full' lies wholly in the padding of a 4-row input
        ({"stride": (3, 3), "pad": (1, 1), "pooling_convention": "full"}, "wholly outside"),
        ({"kernel": (2,)}, "does not match the 2-d pooling"),
        ({"layout": "NHWC"}, "layout NHWC"),
    ],
)
def test_rejects(tmp_path, attrs, message):
    kwargs = {"kernel": (2, 2), **attrs}
    sym = mx.sym.Pooling(mx.sym.Variable("data"), name="pool", **kwargs)
    assert message in _conversion_error(sym, (1, 3, 4, 4), tmp_path)


def test_pooling_v1_rejects_empty_last_window(tmp_path):
    sym = mx.sym.Pooling_v1(
        mx.sym.Variable("data"), kernel=(1, 1), stride=(2, 2), pooling_convention="full", name="pool"
    )
    assert "wholly outside" in _conversion_error(sym, (1, 3, 4, 4), tmp_path)

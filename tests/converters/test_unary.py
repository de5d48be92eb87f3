"""Unary math ops (converters/unary.py) against real MXNet in real Caffe and OpenCV (harness:
relative max error <= 1e-4 unless a test says otherwise): Power forms, Exp/Log/AbsVal, sign,
hard_sigmoid and the hard-swish patterns built from it, Cast."""

import re

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe

from harness import assert_converts_exactly, assert_rejected, backend_forward, layer_types, mxnet_forward, save_model

SHAPE = (2, 3, 4, 5)
RNG = np.random.default_rng(11)


def signed(low: float, high: float) -> np.ndarray:
    """Magnitudes low..high of either sign."""
    return (RNG.choice([-1.0, 1.0], size=SHAPE) * RNG.uniform(low, high, size=SHAPE)).astype(np.float32)


def uniform(low: float, high: float) -> np.ndarray:
    return RNG.uniform(low, high, size=SHAPE).astype(np.float32)


@pytest.mark.parametrize(
    "op, values, layer",
    [
        (mx.sym.sqrt, uniform(0.0, 9.0), "Power"),  # zero and values near it included
        (mx.sym.sqrt, uniform(1e-6, 1e-4), "Power"),
        (mx.sym.rsqrt, uniform(0.05, 9.0), "Power"),
        (mx.sym.square, uniform(-4.0, 4.0), "Power"),
        (mx.sym.reciprocal, signed(0.1, 3.0), "Power"),  # |x| kept away from 0
        (mx.sym.negative, uniform(-4.0, 4.0), "Power"),
        (mx.sym.exp, uniform(-6.0, 6.0), "Exp"),
        (mx.sym.log, uniform(1e-3, 100.0), "Log"),
        (mx.sym.abs, uniform(-4.0, 4.0), "AbsVal"),
    ],
    ids=lambda value: getattr(value, "__name__", None) if callable(value) else None,
)
def test_one_layer_functions(tmp_path, op, values, layer):
    sym = op(mx.sym.Variable("data"), name="result")
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": values})
    assert layer_types(summary) == ["Input", layer]


@pytest.mark.parametrize("op", [mx.sym.sqrt, mx.sym.exp, mx.sym.abs, mx.sym.square, mx.sym.sign])
def test_after_a_convolution(tmp_path, op):
    """Between two convolutions (sqrt takes |x| of the first one's output: no negative values)."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv1")
    x = op(mx.sym.abs(x) if op is mx.sym.sqrt else x, name="result")
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=3, name="conv2")
    assert_converts_exactly(sym, {"data": (2, 3, 7, 6)}, tmp_path)


SIGN_VALUES = np.array(
    [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 1e-37, -1e-37, 1.1754944e-38, -1.1754944e-38, 3e38, -3e38, 1e-20, -7.0],
    dtype=np.float32,
)


def test_sign_of_zeros_and_of_the_smallest_and_largest_normal_floats(tmp_path):
    """Exactly MXNet's, from 0 and the smallest normal float (2^-126) up to 3e38."""
    sym = mx.sym.sign(mx.sym.Variable("data"), name="result")
    data = SIGN_VALUES.reshape(1, 2, 7)
    summary = assert_converts_exactly(sym, {"data": data.shape}, tmp_path, inputs={"data": data}, tolerance=0.0)
    assert layer_types(summary) == ["Input", "Power", "Power", "Eltwise", "Power", "Power", "Eltwise", "Power"]


def test_sign_of_subnormal_floats_in_caffe(tmp_path):
    """x * 2^252 takes even the smallest subnormal, 2^-149, beyond 1: Caffe computes MXNet's sign
    of subnormals too. (OpenCV DNN flushes subnormal values to 0, so its sign of them is 0.)"""
    sym = mx.sym.sign(mx.sym.Variable("data"), name="result")
    data = np.array([1e-45, -1e-45, 1e-40, -3e-39, 0.0, 5.0], dtype=np.float32).reshape(1, 6)
    symbol_path, params_path = save_model(sym, {}, {}, tmp_path)
    summary = mxnet2caffe.convert(symbol_path, params_path, {"data": data.shape}, tmp_path / "converted")
    (want,) = mxnet_forward(symbol_path, params_path, {"data": data})
    (got,) = backend_forward("caffe", summary.prototxt, summary.caffemodel, {"data": data}, ["result"])
    assert want.tolist() == [[1.0, -1.0, 1.0, -1.0, 0.0, 1.0]]
    np.testing.assert_array_equal(got, want)


def spread(limit: float) -> np.ndarray:
    return RNG.uniform(-limit, limit, size=SHAPE).astype(np.float32)


@pytest.mark.parametrize(
    "alpha, beta",
    [(None, None), (1 / 6, 0.5), (0.5, 0.0), (1.0, -0.5), (-0.25, 0.25)],
    ids=["default", "hard-swish", "no-shift", "shifted", "negative-slope"],
)
def test_hard_sigmoid(tmp_path, alpha, beta):
    """clip(alpha * x + beta, 0, 1), inputs hitting both bounds; MXNet's defaults 0.2, 0.5."""
    attrs = {} if alpha is None else {"alpha": alpha, "beta": beta}
    sym = mx.sym.hard_sigmoid(mx.sym.Variable("data"), name="result", **attrs)
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": spread(8.0)})
    assert layer_types(summary) == ["Input", "Power", "ReLU", "Power", "Power", "Eltwise", "Power"]


def hard_swish_with_hard_sigmoid(x, name: str):
    return mx.sym.elemwise_mul(x, mx.sym.hard_sigmoid(x, alpha=1 / 6, beta=0.5, name=f"{name}_gate"), name=name)


def hard_swish_with_clip(x, name: str):
    """gluon's HardSwish: x * clip(x + 3, 0, 6) / 6."""
    return x * (mx.sym.clip(x + 3.0, 0.0, 6.0, name=f"{name}_clip") / 6.0)


@pytest.mark.parametrize("hard_swish", [hard_swish_with_hard_sigmoid, hard_swish_with_clip])
def test_hard_swish_alone(tmp_path, hard_swish):
    sym = hard_swish(mx.sym.Variable("data"), "hswish")
    assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": spread(6.0)})


@pytest.mark.parametrize("hard_swish", [hard_swish_with_hard_sigmoid, hard_swish_with_clip])
def test_mobilenet_v3_style_block_with_hard_swish(tmp_path, hard_swish):
    """conv -> BN -> hard-swish -> depthwise conv -> BN -> hard-swish -> 1x1 conv; inputs of
    standard deviation 4 put values on both sides of -3 and 3."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, no_bias=True, name="conv1")
    x = hard_swish(mx.sym.BatchNorm(x, fix_gamma=False, name="bn1"), "hswish1")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, num_group=8, no_bias=True, name="dw")
    x = hard_swish(mx.sym.BatchNorm(x, fix_gamma=False, name="bn2"), "hswish2")
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="pw")
    shapes = {"data": (2, 3, 9, 9)}
    inputs = {"data": (4 * RNG.standard_normal(shapes["data"])).astype(np.float32)}
    assert_converts_exactly(sym, shapes, tmp_path, inputs=inputs)


def test_cast_to_float32_is_the_identity(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=4, name="conv1")
    x = mx.sym.Cast(x, dtype="float32", name="cast")
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=2, name="conv2")
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path)
    assert layer_types(summary) == ["Input", "Convolution", "Convolution"]


@pytest.mark.parametrize("dtype", ["float16", "float64", "int32", "uint8"])
def test_cast_to_other_types_is_rejected(tmp_path, dtype):
    sym = mx.sym.Cast(mx.sym.Variable("data"), dtype=dtype, name="cast")
    message = f"Cast to {dtype}: the converted model computes in float32 throughout"
    assert_rejected(sym, {"data": SHAPE}, tmp_path, re.escape(message))


def test_power_followed_by_a_scaling_in_opencv(tmp_path):
    """OpenCV 4.11 fuses the scaling into the Power (sqrt(2 x)) unless passes/opencv_fusion_guards.py
    keeps them apart."""
    sym = mx.sym.sqrt(mx.sym.Variable("data"), name="root") * 2.0
    assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": uniform(0.5, 9.0)})

import json
import re

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.native_layers import SWITCHES
from mxnet2caffe.verify.inputs import random_inputs

from harness import assert_converts_exactly, assert_rejected, backend_forward, layer_types, mxnet_forward, save_model

SHAPE = (2, 3, 4, 5)
TWO_INPUTS = {"a": SHAPE, "b": SHAPE}


@pytest.mark.parametrize(
    "op, layer",
    [
        (lambda a, b: a + b, "Eltwise"),
        (lambda a, b: a - b, "Eltwise"),
        (lambda a, b: a * b, "Eltwise"),
        (mx.sym.elemwise_add, "Eltwise"),
        (mx.sym.elemwise_sub, "Eltwise"),
        (mx.sym.elemwise_mul, "Eltwise"),
        (mx.sym.broadcast_add, "Eltwise"),
        (mx.sym.broadcast_plus, "Eltwise"),
        (mx.sym.broadcast_sub, "Eltwise"),
        (mx.sym.broadcast_minus, "Eltwise"),
        (mx.sym.broadcast_mul, "Eltwise"),
    ],
)
def test_binary_equal_shapes(tmp_path, op, layer):
    sym = op(mx.sym.Variable("a"), mx.sym.Variable("b"))
    summary = assert_converts_exactly(sym, TWO_INPUTS, tmp_path)
    assert layer_types(summary) == ["Input", "Input", layer]


@pytest.mark.parametrize("op", [mx.sym.add_n, mx.sym.ElementWiseSum])
@pytest.mark.parametrize("count", [2, 4])
def test_sum_of_many(tmp_path, op, count):
    names = [f"x{i}" for i in range(count)]
    sym = op(*[mx.sym.Variable(n) for n in names], name="total")
    assert_converts_exactly(sym, {n: SHAPE for n in names}, tmp_path)


@pytest.mark.parametrize(
    "op, legacy",
    [
        ("elemwise_add", "_Plus"),
        ("elemwise_sub", "_Minus"),
        ("elemwise_mul", "_Mul"),
        ("_plus_scalar", "_PlusScalar"),
        ("_minus_scalar", "_MinusScalar"),
        ("_rminus_scalar", "_RMinusScalar"),
        ("_mul_scalar", "_MulScalar"),
        ("_div_scalar", "_DivScalar"),
        ("elemwise_div", "_Div"),
    ],
)
def test_legacy_op_names(tmp_path, op, legacy):
    """Graphs saved by MXNet before NNVM name these ops by their old aliases."""
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    builders = {
        "elemwise_add": lambda: a + b,
        "elemwise_sub": lambda: a - b,
        "elemwise_mul": lambda: a * b,
        "_plus_scalar": lambda: a + 1.5,
        "_minus_scalar": lambda: a - 1.5,
        "_rminus_scalar": lambda: 1.5 - a,
        "_mul_scalar": lambda: a * 1.5,
        "_div_scalar": lambda: a / 1.5,
        "elemwise_div": lambda: a / b,
    }
    sym = builders[op]()
    graph = json.loads(sym.tojson())
    assert graph["nodes"][-1]["op"] == op
    graph["nodes"][-1]["op"] = legacy
    symbol_path, params_path = save_model(sym, {}, {}, tmp_path)
    legacy_path = tmp_path / "legacy-symbol.json"
    legacy_path.write_text(json.dumps(graph))
    shapes = {name: SHAPE for name in sym.list_arguments()}
    # dividing tensors takes the native form when asked for; the other ops ignore the options
    summary = mxnet2caffe.convert(legacy_path, params_path, shapes, tmp_path / "converted", ALL_NATIVE)
    inputs = random_inputs(shapes)
    (want,) = mxnet_forward(symbol_path, params_path, inputs)
    (got,) = backend_forward("opencv", summary.prototxt, summary.caffemodel, inputs, list(summary.outputs))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _squeeze_excite(data: mx.sym.Symbol, channels: int, scale_first: bool) -> mx.sym.Symbol:
    """An SE block as Gluon/MXNet model zoos build it."""
    s = mx.sym.Pooling(data, global_pool=True, kernel=(1, 1), pool_type="avg", name="se_pool")
    s = mx.sym.FullyConnected(s, num_hidden=channels // 4, name="se_fc1")
    s = mx.sym.Activation(s, act_type="relu", name="se_relu")
    s = mx.sym.FullyConnected(s, num_hidden=channels, name="se_fc2")
    s = mx.sym.Activation(s, act_type="sigmoid", name="se_sigmoid")
    s = mx.sym.reshape(s, shape=(0, 0, 1, 1), name="se_reshape")
    operands = (s, data) if scale_first else (data, s)
    return mx.sym.broadcast_mul(*operands, name="se_scale")


@pytest.mark.parametrize("scale_first", [False, True])
def test_squeeze_excitation_block(tmp_path, scale_first):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv")
    sym = _squeeze_excite(x, 8, scale_first)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 6, 7)}, tmp_path)
    assert layer_types(summary)[-2:] == ["Reshape", "Scale"]
    assert summary.outputs == {"se_scale": (2, 8, 6, 7)}


@pytest.mark.parametrize(
    "data_shape, scale_shape, scale_first",
    [
        ((2, 3, 4, 5), (2, 3, 1, 1), False),  # SE: per sample and channel
        ((2, 3, 4, 5), (2, 3, 1, 1), True),
        ((2, 3, 4, 5), (1, 3, 1, 1), False),  # per channel
        ((2, 3, 4, 5), (3, 1, 1), True),  # fewer dims: aligned on the right
        ((2, 3, 4, 5), (1, 1, 4, 5), False),  # per position
        ((2, 3, 4, 5), (5,), True),  # last axis
        ((2, 3, 4, 5), (2, 3, 4, 1), False),
        ((2, 6), (2, 1), True),
    ],
)
def test_broadcast_multiply_by_a_span_of_axes(tmp_path, data_shape, scale_shape, scale_first):
    data, scale = mx.sym.Variable("data"), mx.sym.Variable("scale")
    operands = (scale, data) if scale_first else (data, scale)
    sym = mx.sym.broadcast_mul(*operands, name="product")
    summary = assert_converts_exactly(sym, {"data": data_shape, "scale": scale_shape}, tmp_path)
    assert layer_types(summary)[-1] == "Scale"


NATIVE = mxnet2caffe.ConvertOptions(forms={"broadcast_mul": "native"})
ALL_NATIVE = mxnet2caffe.ConvertOptions(forms={switch: "native" for switch in SWITCHES})
# switch -> (MXNet op, the native layer it emits)
BROADCASTS = {
    "broadcast_add": (mx.sym.broadcast_add, "MXBroadcastAdd"),
    "broadcast_sub": (mx.sym.broadcast_sub, "MXBroadcastSub"),
    "broadcast_mul": (mx.sym.broadcast_mul, "MXBroadcastMul"),
    "broadcast_div": (mx.sym.broadcast_div, "MXBroadcastDiv"),
}


@pytest.mark.parametrize("scale_first", [False, True])
def test_squeeze_excitation_block_native(tmp_path, scale_first):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv")
    summary = assert_converts_exactly(_squeeze_excite(x, 8, scale_first), {"data": (2, 3, 6, 7)}, tmp_path, options=NATIVE)
    assert layer_types(summary)[-1] == "MXBroadcastMul" and "Scale" not in layer_types(summary)


def _operand_inputs(lhs_shape, rhs_shape, divide: bool) -> dict:
    """Standard-normal lhs and rhs; a divisor (rhs) of magnitude 0.5..1.5, either sign."""
    rng = np.random.default_rng(5)
    lhs = rng.standard_normal(lhs_shape)
    if divide:
        rhs = rng.choice([-1.0, 1.0], size=rhs_shape) * rng.uniform(0.5, 1.5, size=rhs_shape)
    else:
        rhs = rng.standard_normal(rhs_shape)
    return {"lhs": lhs.astype(np.float32), "rhs": rhs.astype(np.float32)}


@pytest.mark.parametrize("data_first", [True, False])
@pytest.mark.parametrize(
    "data_shape, other_shape",
    [
        ((2, 3, 4, 5), (2, 3, 1, 1)),  # SE-like: per sample and channel
        ((2, 3, 4, 5), (1, 1, 1, 1)),  # single value: no stock form for mul either
        ((2, 3, 4, 5), (2, 1, 4, 5)),  # not one span of axes
        ((2, 3, 4, 5), (3, 1, 1)),  # fewer dims: reshaped first
        ((2, 6), (6,)),
    ],
)
@pytest.mark.parametrize("switch", list(BROADCASTS))
def test_native_broadcasts_in_both_operand_orders(tmp_path, switch, data_shape, other_shape, data_first):
    op, layer = BROADCASTS[switch]
    lhs_shape, rhs_shape = (data_shape, other_shape) if data_first else (other_shape, data_shape)
    sym = op(mx.sym.Variable("lhs"), mx.sym.Variable("rhs"), name="result")
    shapes = {"lhs": lhs_shape, "rhs": rhs_shape}
    options = mxnet2caffe.ConvertOptions(forms={switch: "native"})
    inputs = _operand_inputs(lhs_shape, rhs_shape, switch == "broadcast_div")
    summary = assert_converts_exactly(sym, shapes, tmp_path, inputs=inputs, options=options)
    types = layer_types(summary)
    assert types[-1] == layer and set(types) <= {"Input", "Reshape", layer}
    assert summary.outputs == {"result": data_shape}


@pytest.mark.parametrize(
    "op, layer",
    [
        (mx.sym.broadcast_div, "MXBroadcastDiv"),
        (mx.sym.elemwise_div, "MXBroadcastDiv"),
        (lambda a, b: a / b, "MXBroadcastDiv"),
        (mx.sym.broadcast_add, "Eltwise"),  # equal shapes: the stock layer, native switch or not
        (mx.sym.broadcast_minus, "Eltwise"),
        (mx.sym.broadcast_mul, "Eltwise"),
    ],
)
def test_equal_shapes_with_native_forms(tmp_path, op, layer):
    sym = op(mx.sym.Variable("lhs"), mx.sym.Variable("rhs"))
    inputs = _operand_inputs(SHAPE, SHAPE, divide=True)
    summary = assert_converts_exactly(sym, {"lhs": SHAPE, "rhs": SHAPE}, tmp_path, inputs=inputs, options=ALL_NATIVE)
    assert layer_types(summary) == ["Input", "Input", layer]


def test_native_broadcasts_in_a_network(tmp_path):
    """Centering and scaling by per-channel statistics, as normalization blocks do."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    pooled = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pooled")
    spread = mx.sym.Activation(pooled, act_type="sigmoid", name="squashed") + 0.5
    centered = mx.sym.broadcast_minus(pooled, x, name="centered")
    scaled = mx.sym.broadcast_div(centered, spread, name="scaled")
    sym = mx.sym.broadcast_plus(pooled, scaled, name="shifted")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 8, 8)}, tmp_path, options=ALL_NATIVE)
    native = [layer for layer in layer_types(summary) if layer.startswith("MX")]
    assert native == ["MXBroadcastSub", "MXBroadcastDiv", "MXBroadcastAdd"]


@pytest.mark.parametrize("switch", list(BROADCASTS))
def test_native_forms_need_one_full_size_operand(tmp_path, switch):
    op, _ = BROADCASTS[switch]
    symbol_path = tmp_path / "model-symbol.json"
    op(mx.sym.Variable("a"), mx.sym.Variable("b")).save(str(symbol_path))
    options = mxnet2caffe.ConvertOptions(forms={switch: "native"})
    with pytest.raises(mxnet2caffe.NodeError, match=re.escape("stretches both operands: the Caffe forms need one")):
        mxnet2caffe.convert(symbol_path, {}, {"a": (2, 3, 1, 1), "b": (1, 1, 4, 5)}, None, options)


@pytest.mark.parametrize(
    "op",
    [
        lambda x: x + 2.5,
        lambda x: x - 0.75,
        lambda x: x * -1.5,
        lambda x: x * 0.0,
        lambda x: x / 3.0,
        lambda x: x / -0.1,
        lambda x: 4.0 - x,
    ],
)
def test_scalar_arithmetic(tmp_path, op):
    sym = op(mx.sym.Variable("data"))
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path)
    assert layer_types(summary) == ["Input", "Power"]


def test_division_by_zero_scalar_is_rejected(tmp_path):
    assert_rejected(mx.sym.Variable("data") / 0.0, {"data": SHAPE}, tmp_path, "scalar 0")


def _spread(shape, limit: float) -> dict:
    """Inputs spread over [-limit, limit] so that both bounds of a clip are hit."""
    rng = np.random.default_rng(3)
    return {"data": rng.uniform(-limit, limit, shape).astype(np.float32)}


@pytest.mark.parametrize(
    "low, high, layers",
    [
        (0.0, 6.0, 5),  # ReLU6 as MobileNetV2 uses it
        (-0.5, 0.7, 6),
        (-1.0, -1.0, 6),
        (-2.0, 0.0, 5),
        (float("-inf"), 1.0, 4),
        (0.25, float("inf"), 2),
        (-1e4, 1e4, 6),  # far bounds: exact, no cancellation against them
    ],
)
def test_clip(tmp_path, low, high, layers):
    sym = mx.sym.clip(mx.sym.Variable("data"), low, high, name="clipped")
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs=_spread(SHAPE, 10.0))
    types = layer_types(summary)[1:]
    assert len(types) == layers and set(types) <= {"ReLU", "Power", "Eltwise"}


def test_clip_small_values_under_far_bounds_stay_exact(tmp_path):
    sym = mx.sym.clip(mx.sym.Variable("data"), -1e4, 1e4, name="clipped")
    assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs=_spread(SHAPE, 1e-3), tolerance=1e-7)


def test_clip_after_convolution_in_a_network(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=6, name="conv")
    x = mx.sym.clip(x, 0.0, 0.5, name="relu6ish")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="conv2")
    assert_converts_exactly(x, {"data": (2, 3, 8, 8)}, tmp_path)


def test_clip_with_inverted_bounds_is_rejected(tmp_path):
    sym = mx.sym.clip(mx.sym.Variable("data"), 1.0, 0.0)
    assert_rejected(sym, {"data": SHAPE}, tmp_path, "a_min 1.0 must not exceed a_max 0.0")

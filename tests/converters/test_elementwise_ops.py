"""Broadcast arithmetic in every broadcast pattern, maximum/minimum, the scalar ops and the face
models' element-wise blocks (MobileFace's ReLU6, the MFM of lightened CNNs, a GNAP-style
division), in stock layers, against real MXNet in real Caffe and OpenCV (harness: relative max
error <= 1e-4).

Stretching an operand is exact (Concat of copies), division is x * (1/y): one
rounding more than MXNet. Inputs are standard normal (negative values and values near zero
included); a divisor has magnitude 0.5..1.5 of either sign, so 1/y stays away from overflow."""

import json

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.verify.inputs import random_inputs

from harness import (
    assert_converts_exactly,
    assert_rejected,
    backend_forward,
    layer_types,
    mxnet_forward,
    random_params,
    save_model,
)

SHAPE = (2, 3, 4, 5)

BROADCAST_OPS = {
    "add": mx.sym.broadcast_add,
    "sub": mx.sym.broadcast_sub,
    "mul": mx.sym.broadcast_mul,
    "div": mx.sym.broadcast_div,
    "maximum": mx.sym.broadcast_maximum,
    "minimum": mx.sym.broadcast_minimum,
}

# (shape of the full-size operand, shape of the stretched one)
ONE_STRETCHED = [
    ((2, 3, 4, 5), (2, 3, 1, 1)),  # SE-style: per sample and channel
    ((2, 3, 4, 5), (1, 3, 1, 1)),  # per channel
    ((2, 3, 4, 5), (1, 1, 4, 5)),  # per position
    ((2, 3, 4, 5), (2, 1, 1, 1)),  # per sample
    ((2, 3, 4, 5), (2, 1, 4, 5)),  # along the channel axis alone (GNAP's attention)
    ((2, 3, 4, 5), (1, 3, 1, 5)),  # two separate runs of stretched axes
    ((2, 3, 4, 5), (1, 1, 1, 1)),  # a single value
    ((2, 3, 4, 5), (3, 1, 1)),  # lower rank: aligned on the right
    ((2, 3, 4, 5), (5,)),
    ((2, 6), (2, 1)),
    ((2, 6), (6,)),
    ((3, 5, 7), (3, 1, 7)),  # odd sizes, 3-d
]

BOTH_STRETCHED = [
    ((2, 3, 1, 1), (2, 1, 4, 5)),  # (N,C,1,1) with (N,1,H,W)
    ((2, 3, 1, 1), (1, 1, 4, 5)),
    ((1, 3, 1, 5), (2, 1, 4, 1)),
    ((3, 1), (1, 4)),
    ((3, 1, 1), (2, 1, 4, 5)),  # lower rank on one side
]

STOCK_FORMS = {"Input", "Reshape", "Concat", "Eltwise", "Scale", "Power"}


def operand_inputs(lhs_shape, rhs_shape, divide: bool, seed: int = 5) -> dict:
    """Standard-normal lhs and rhs; a divisor (rhs) of magnitude 0.5..1.5, either sign."""
    rng = np.random.default_rng(seed)
    lhs = rng.standard_normal(lhs_shape)
    if divide:
        rhs = rng.choice([-1.0, 1.0], size=rhs_shape) * rng.uniform(0.5, 1.5, size=rhs_shape)
    else:
        rhs = rng.standard_normal(rhs_shape)
    return {"lhs": lhs.astype(np.float32), "rhs": rhs.astype(np.float32)}


def convert_binary(tmp_path, op: str, lhs_shape, rhs_shape, options=None):
    sym = BROADCAST_OPS[op](mx.sym.Variable("lhs"), mx.sym.Variable("rhs"), name="result")
    shapes = {"lhs": lhs_shape, "rhs": rhs_shape}
    inputs = operand_inputs(lhs_shape, rhs_shape, divide=op == "div")
    return assert_converts_exactly(sym, shapes, tmp_path, inputs=inputs, options=options)


@pytest.mark.parametrize("full_first", [True, False], ids=["full-lhs", "full-rhs"])
@pytest.mark.parametrize("full, stretched", ONE_STRETCHED, ids=str)
@pytest.mark.parametrize("op", list(BROADCAST_OPS))
def test_one_operand_stretched(tmp_path, op, full, stretched, full_first):
    lhs, rhs = (full, stretched) if full_first else (stretched, full)
    summary = convert_binary(tmp_path, op, lhs, rhs)
    assert set(layer_types(summary)) <= STOCK_FORMS
    assert summary.outputs == {"result": full}


@pytest.mark.parametrize("lhs, rhs", BOTH_STRETCHED, ids=str)
@pytest.mark.parametrize("op", list(BROADCAST_OPS))
def test_both_operands_stretched(tmp_path, op, lhs, rhs):
    summary = convert_binary(tmp_path, op, lhs, rhs)
    assert set(layer_types(summary)) <= STOCK_FORMS
    assert summary.outputs == {"result": tuple(np.broadcast_shapes(lhs, rhs))}


@pytest.mark.parametrize(
    "op, lhs, rhs, layers",
    [
        # a Concat of copies per stretched axis
        ("add", (2, 1, 4, 5), SHAPE, ["Concat", "Eltwise"]),
        ("sub", SHAPE, (2, 3, 1, 1), ["Concat", "Concat", "Eltwise"]),
        ("add", SHAPE, (1, 1, 1, 1), ["Concat", "Concat", "Concat", "Concat", "Eltwise"]),
        ("sub", SHAPE, (3, 1, 1), ["Reshape", "Concat", "Concat", "Concat", "Eltwise"]),  # rank first
        ("add", (2, 3, 1, 1), (2, 1, 4, 5), ["Concat", "Concat", "Concat", "Eltwise"]),  # both stretched
        # a product keeps the two-bottom Scale where the smaller operand spans contiguous axes
        ("mul", SHAPE, (2, 3, 1, 1), ["Reshape", "Scale"]),
        ("mul", (2, 6), (6,), ["Scale"]),
        ("mul", SHAPE, (2, 1, 4, 5), ["Concat", "Eltwise"]),
        # x / y = x * y^-1, the reciprocal taken on the smaller operand
        ("div", SHAPE, (2, 3, 1, 1), ["Power", "Reshape", "Scale"]),
        ("div", SHAPE, (1, 1, 1, 1), ["Power", "Concat", "Concat", "Concat", "Concat", "Eltwise"]),
        ("div", (2, 1, 1, 1), SHAPE, ["Power", "Reshape", "Scale"]),
        ("maximum", SHAPE, (2, 1, 4, 5), ["Concat", "Eltwise"]),
        # min(a, b) = -max(-a, -b)
        ("minimum", SHAPE, (2, 1, 4, 5), ["Power", "Power", "Concat", "Eltwise", "Power"]),
    ],
)
def test_broadcast_forms(tmp_path, op, lhs, rhs, layers):
    summary = convert_binary(tmp_path, op, lhs, rhs)
    assert layer_types(summary) == ["Input", "Input", *layers]


@pytest.mark.parametrize("op", list(BROADCAST_OPS))
def test_stretched_operands_computed_by_convolutions(tmp_path, op):
    """Copies of a blob a layer computes (OpenCV may let a producer write into its Concat's
    output): an SE-style pooled branch (N,C,1,1) and a one-channel map (N,1,H,W), each against
    the full-size convolution output, then both against each other."""
    data = mx.sym.Variable("data")
    full = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=4, name="full")
    pooled = mx.sym.Pooling(full, global_pool=True, kernel=(1, 1), pool_type="avg", name="pooled")
    pooled = mx.sym.Convolution(pooled, kernel=(1, 1), num_filter=4, name="squeezed")
    plane = mx.sym.Convolution(data, kernel=(1, 1), num_filter=1, name="plane")
    if op == "div":  # divisors kept away from 0: 1.5 + sigmoid in (1.5, 2.5)
        pooled = mx.sym.sigmoid(pooled) + 1.5
        plane = mx.sym.sigmoid(plane) + 1.5
    build = BROADCAST_OPS[op]
    heads = [build(full, pooled, name="by_pooled"), build(full, plane, name="by_plane"), build(plane, pooled, name="cross")]
    summary = assert_converts_exactly(mx.sym.Group(heads), {"data": (2, 3, 5, 6)}, tmp_path)
    assert set(layer_types(summary)) <= STOCK_FORMS | {"Convolution", "Pooling", "Sigmoid"}


@pytest.mark.parametrize(
    "build, layers",
    [
        (lambda a, b: mx.sym.maximum(a, b), ["Eltwise"]),  # _maximum
        (lambda a, b: mx.sym.minimum(a, b), ["Power", "Power", "Eltwise", "Power"]),  # _minimum
        (mx.sym.broadcast_maximum, ["Eltwise"]),
        (mx.sym.broadcast_minimum, ["Power", "Power", "Eltwise", "Power"]),
        (mx.sym.elemwise_div, ["Power", "Eltwise"]),
        (lambda a, b: a / b, ["Power", "Eltwise"]),  # _div
        (mx.sym.broadcast_div, ["Power", "Eltwise"]),
        (mx.sym.elemwise_sub, ["Eltwise"]),
        (mx.sym.elemwise_mul, ["Eltwise"]),
    ],
)
def test_equal_shapes(tmp_path, build, layers):
    sym = build(mx.sym.Variable("lhs"), mx.sym.Variable("rhs"))
    inputs = operand_inputs(SHAPE, SHAPE, divide=True)
    summary = assert_converts_exactly(sym, {"lhs": SHAPE, "rhs": SHAPE}, tmp_path, inputs=inputs)
    assert layer_types(summary) == ["Input", "Input", *layers]


def test_ties_and_signed_zeros_in_maximum_and_minimum(tmp_path):
    """Equal operands, zeros of both signs: max and min pick a value both sides agree on."""
    values = np.array([0.0, -0.0, 1.5, -1.5, 1e-30, -1e-30], dtype=np.float32)
    lhs = np.tile(values, 4).reshape(1, 4, 6)
    rhs = np.repeat(values[:4], 6).reshape(1, 4, 6)
    a, b = mx.sym.Variable("lhs"), mx.sym.Variable("rhs")
    group = mx.sym.Group([mx.sym._internal._maximum(a, b, name="larger"), mx.sym._internal._minimum(a, b, name="smaller")])
    shapes = {"lhs": lhs.shape, "rhs": rhs.shape}
    assert_converts_exactly(group, shapes, tmp_path, inputs={"lhs": lhs, "rhs": rhs}, tolerance=0.0)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_native_switches_still_pick_the_native_layer(tmp_path, op):
    switch = f"broadcast_{op}"
    options = mxnet2caffe.ConvertOptions(forms={switch: "native"})
    summary = convert_binary(tmp_path, op, SHAPE, (2, 1, 4, 5), options=options)
    assert layer_types(summary)[-1] == f"MXBroadcast{op.capitalize()}"


# ------------------------------------------------------------------ constants from the params file

def constant_values(shape, seed: int = 7) -> np.ndarray:
    """Magnitudes 0.5..1.5 of either sign: a fair divisor too."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)).astype(np.float32)


# name -> MXNet op with the constant c on its side
CONSTANT_OPS = {
    "c/x": lambda x, c: mx.sym.broadcast_div(c, x, name="op"),
    "max(x,c)": lambda x, c: mx.sym.broadcast_maximum(x, c, name="op"),
    "max(c,x)": lambda x, c: mx.sym.broadcast_maximum(c, x, name="op"),
    "min(x,c)": lambda x, c: mx.sym.broadcast_minimum(x, c, name="op"),
    "x+c equal shapes": lambda x, c: mx.sym.elemwise_add(x, c, name="op"),
    "x/c equal shapes": lambda x, c: mx.sym.elemwise_div(x, c, name="op"),
}
DATA = (2, 3, 6, 7)  # the convolution (3x3, no padding) makes it (2, 3, 4, 5)


@pytest.mark.parametrize(
    "op, constant_shape",
    [
        (op, shape)
        for op in CONSTANT_OPS
        for shape in ([SHAPE] if "equal shapes" in op else [(1, 3, 1, 1), (1, 1, 4, 5), (1, 3, 1, 5), (1,), SHAPE])
    ],
    ids=str,
)
def test_constant_operand_after_a_convolution(tmp_path, op, constant_shape):
    data, constant = mx.sym.Variable("data"), mx.sym.Variable("c", shape=constant_shape)
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=3, name="conv1")
    x = CONSTANT_OPS[op](x, constant)
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="conv2")
    args, aux = random_params(sym, {"data": DATA, "c": constant_shape})
    args["c"] = mx.nd.array(constant_values(constant_shape))
    summary = assert_converts_exactly(sym, {"data": DATA}, tmp_path, args=args, aux=aux)
    assert set(layer_types(summary)) <= STOCK_FORMS | {"Convolution"}


# --------------------------------------------------------------------------------- scalar ops

def spread(limit: float, seed: int = 3) -> np.ndarray:
    """Values spread over [-limit, limit] (zero and small values included)."""
    return np.random.default_rng(seed).uniform(-limit, limit, SHAPE).astype(np.float32)


def away_from_zero(limit: float, seed: int = 4) -> np.ndarray:
    """Magnitudes limit/3..limit of either sign: divisors whose reciprocal stays moderate."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], size=SHAPE) * rng.uniform(limit / 3, limit, size=SHAPE)).astype(np.float32)


@pytest.mark.parametrize(
    "build, values, layers",
    [
        (lambda x: mx.sym.maximum(x, 0.0), spread(8.0), ["ReLU"]),
        (lambda x: mx.sym.maximum(x, 0.5), spread(8.0), ["Power", "Eltwise"]),
        (lambda x: mx.sym.maximum(x, -1.5), spread(8.0), ["Power", "Eltwise"]),
        (lambda x: mx.sym.maximum(x, 1e-3), spread(2e-3), ["Power", "Eltwise"]),  # near zero
        (lambda x: mx.sym.minimum(x, 6.0), spread(8.0), ["Power", "Power", "Eltwise", "Power"]),
        (lambda x: mx.sym.minimum(x, -0.25), spread(8.0), ["Power", "Power", "Eltwise", "Power"]),
        (lambda x: mx.sym.minimum(x, 0.0), spread(8.0), ["Power", "ReLU", "Power"]),
        (lambda x: 1.0 / x, away_from_zero(1.5), ["Power"]),  # _rdiv_scalar
        (lambda x: 2.5 / x, away_from_zero(1.5), ["Power"]),  # (x / 2.5) ^ -1
        (lambda x: -0.5 / x, away_from_zero(1.5), ["Power"]),
        (lambda x: 0.0 / x, away_from_zero(1.5), ["Power"]),
        (lambda x: x ** 2, spread(4.0), ["Power"]),  # _power_scalar
        (lambda x: x ** 3, spread(4.0), ["Power"]),
        (lambda x: x ** -2, away_from_zero(1.5), ["Power"]),
        (lambda x: x ** 0, spread(4.0), ["Power"]),
        (lambda x: 2.0 ** x, spread(6.0), ["Exp"]),  # _rpower_scalar
        (lambda x: 0.5 ** x, spread(6.0), ["Exp"]),
        (lambda x: 10.0 ** x, spread(4.0), ["Exp"]),
        (lambda x: 1.0 ** x, spread(4.0), ["Exp"]),
    ],
)
def test_scalar_ops(tmp_path, build, values, layers):
    sym = build(mx.sym.Variable("data"))
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": values})
    assert layer_types(summary) == ["Input", *layers]


@pytest.mark.parametrize("exponent", [0.5, 1.5, -0.5, 2.25])
def test_fractional_power_of_positive_values(tmp_path, exponent):
    """x ^ 0.5 of a negative x is nan in MXNet and in Caffe: positive inputs only."""
    sym = mx.sym.Variable("data") ** exponent
    values = np.random.default_rng(2).uniform(0.05, 9.0, SHAPE).astype(np.float32)
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, inputs={"data": values})
    assert layer_types(summary) == ["Input", "Power"]


@pytest.mark.parametrize(
    "op, legacy, build",
    [
        ("_maximum", "_Maximum", lambda a, b: mx.sym.maximum(a, b)),
        ("_minimum", "_Minimum", lambda a, b: mx.sym.minimum(a, b)),
        ("_maximum_scalar", "_MaximumScalar", lambda a, b: mx.sym.maximum(a, 0.5)),
        ("_minimum_scalar", "_MinimumScalar", lambda a, b: mx.sym.minimum(a, 0.5)),
        ("_rdiv_scalar", "_RDivScalar", lambda a, b: 2.0 / a),
        ("_power_scalar", "_PowerScalar", lambda a, b: a ** 3),
        ("_rpower_scalar", "_RPowerScalar", lambda a, b: 3.0 ** a),
    ],
)
def test_legacy_op_names(tmp_path, op, legacy, build):
    """Graphs saved by MXNet before NNVM name these ops by their old aliases."""
    sym = build(mx.sym.Variable("a"), mx.sym.Variable("b"))
    graph = json.loads(sym.tojson())
    assert graph["nodes"][-1]["op"] == op
    graph["nodes"][-1]["op"] = legacy
    symbol_path, params_path = save_model(sym, {}, {}, tmp_path)
    legacy_path = tmp_path / "legacy-symbol.json"
    legacy_path.write_text(json.dumps(graph))
    shapes = {name: SHAPE for name in sym.list_arguments()}
    summary = mxnet2caffe.convert(legacy_path, params_path, shapes, tmp_path / "converted")
    inputs = {"a": away_from_zero(1.5)} if op == "_rdiv_scalar" else random_inputs(shapes)
    (want,) = mxnet_forward(symbol_path, params_path, inputs)
    for runtime in ("opencv", "caffe"):
        (got,) = backend_forward(runtime, summary.prototxt, summary.caffemodel, inputs, list(summary.outputs))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize(
    "build, shapes, match",
    [
        (lambda a: 0.0 ** a, {"a": SHAPE}, "base 0.0: Caffe's Exp computes base \\^ x as exp\\(x ln base\\)"),
        (lambda a: (-2.0) ** a, {"a": SHAPE}, "needs a positive base"),
        (lambda a: mx.sym.maximum(a, float("nan")), {"a": SHAPE}, "the scalar is nan"),
        (lambda a: mx.sym.broadcast_add(a, mx.sym.Variable("b")), {"a": SHAPE, "b": (2, 2, 1, 1)}, "do not broadcast"),
        (lambda a: mx.sym.broadcast_maximum(a, mx.sym.Variable("b")), {"a": SHAPE, "b": (3, 4, 5, 1)}, "do not broadcast"),
        (lambda a: mx.sym.elemwise_sub(a, mx.sym.Variable("b")), {"a": SHAPE, "b": (2, 3, 1, 1)}, "inputs have different shapes"),
    ],
)
def test_rejected(tmp_path, build, shapes, match):
    assert_rejected(build(mx.sym.Variable("a")), shapes, tmp_path, match)


@pytest.mark.parametrize("build, op", [(lambda a: a % 2.0, "_mod_scalar"), (mx.sym.erf, "erf")])
def test_ops_without_an_exact_form_stay_unsupported(tmp_path, build, op):
    """x mod c needs a floor, erf an approximation: no stock Caffe layer computes either, so the
    error lists the op and says where --outputs can cut the graph before it."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="conv")
    symbol_path = tmp_path / "model-symbol.json"
    build(x).save(str(symbol_path))
    with pytest.raises(mxnet2caffe.UnsupportedOpsError, match=f"(?s){op} x1.*--outputs conv"):
        mxnet2caffe.convert(symbol_path, {}, {"data": SHAPE})


# ------------------------------------------------------------------------- face model blocks

def relu6(x, name: str):
    """MobileFace's ReLU6: two scalar ops, not clip."""
    lower = mx.sym._internal._maximum_scalar(x, scalar=0.0, name=f"{name}_max")
    return mx.sym._internal._minimum_scalar(lower, scalar=6.0, name=f"{name}_min")


def test_mobileface_style_block_with_relu6_as_scalar_ops(tmp_path):
    """conv -> BN -> relu6 -> depthwise conv -> BN -> relu6 -> 1x1 conv -> BN, then an embedding;
    inputs of standard deviation 8 drive many values past both bounds of the ReLU6."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=8, no_bias=True, name="conv1")
    x = relu6(mx.sym.BatchNorm(x, fix_gamma=False, name="bn1"), "relu1")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, num_group=8, no_bias=True, name="dw2")
    x = relu6(mx.sym.BatchNorm(x, fix_gamma=False, name="bn2"), "relu2")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=16, no_bias=True, name="pw2")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn3")
    sym = mx.sym.FullyConnected(x, num_hidden=10, name="fc1")
    shapes = {"data": (2, 3, 15, 15)}
    inputs = {"data": (8 * np.random.default_rng(1).standard_normal(shapes["data"])).astype(np.float32)}
    summary = assert_converts_exactly(sym, shapes, tmp_path, inputs=inputs)
    types = layer_types(summary)
    # each ReLU6: ReLU, then min(y, 6) = -max(-y, -6) in four layers
    assert types.count("ReLU") == 2 and types.count("Eltwise") == 2 and types.count("Power") == 6


def test_mfm_lightened_cnn_block(tmp_path):
    """Max-Feature-Map: the convolution's channels split in two halves, their element-wise max."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv1")
    halves = mx.sym.SliceChannel(x, num_outputs=2, name="slice1")
    x = mx.sym._internal._maximum(halves[0], halves[1], name="mfm1")
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=6, name="conv2")
    halves = mx.sym.SliceChannel(x, num_outputs=2, name="slice2")
    sym = mx.sym._internal._maximum(halves[0], halves[1], name="mfm2")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 9, 9)}, tmp_path)
    assert layer_types(summary).count("Eltwise") == 2 and summary.outputs == {"mfm2": (2, 3, 4, 4)}


def test_gnap_style_head(tmp_path):
    """Norm-aware pooling as insightface's GNAP head computes it: each position's feature norm,
    its mean over the map divided by it (broadcast_div, both operands stretched to (N,1,H,W)),
    the features scaled by that (broadcast_mul along the channel axis), then average pooling."""
    data = mx.sym.Variable("data")
    body = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv")
    body = mx.sym.BatchNorm(body, fix_gamma=False, name="bn")
    norm = mx.sym.sqrt(mx.sym.sum(mx.sym.square(body), axis=1, keepdims=True), name="norm")
    mean_norm = mx.sym.mean(norm, axis=(2, 3), keepdims=True, name="mean_norm")
    attention = mx.sym.broadcast_div(mean_norm, norm, name="attention")
    body = mx.sym.broadcast_mul(body, attention, name="weighted")
    sym = mx.sym.Pooling(body, global_pool=True, kernel=(1, 1), pool_type="avg", name="gap")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 7, 7)}, tmp_path)
    assert set(layer_types(summary)) <= STOCK_FORMS | {"Convolution", "BatchNorm", "Pooling", "ReLU", "Flatten"}

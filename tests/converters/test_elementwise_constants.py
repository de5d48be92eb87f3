"""Broadcast arithmetic with a constant operand (a variable whose value is in the params file):
one stock Scale layer holding the constant, or one Power layer for a single value."""

import re

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.reader import read_prototxt

from harness import assert_converts_exactly, layer_types, random_params, save_model

DATA = (2, 3, 6, 7)  # the first convolution (3x3, no padding) makes it (2, 3, 4, 5)


def constant_values(shape, seed: int = 7) -> np.ndarray:
    """Magnitudes 0.5..1.5 of either sign: a fair divisor too."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)).astype(np.float32)


# name -> the MXNet op with the constant c on its side
OPS = {
    "x*c": lambda x, c: mx.sym.broadcast_mul(x, c, name="op"),
    "c*x": lambda x, c: mx.sym.broadcast_mul(c, x, name="op"),
    "x+c": lambda x, c: mx.sym.broadcast_add(x, c, name="op"),
    "c+x": lambda x, c: mx.sym.broadcast_plus(c, x, name="op"),
    "x-c": lambda x, c: mx.sym.broadcast_sub(x, c, name="op"),
    "c-x": lambda x, c: mx.sym.broadcast_minus(c, x, name="op"),
    "x/c": lambda x, c: mx.sym.broadcast_div(x, c, name="op"),
}

# constant shape -> (layers, Scale's axis, Scale's num_axes) for x of shape (2, 3, 4, 5). A Scale
# that is not per channel follows a Reshape to the same shape: OpenCV would fuse it into the
# convolution before it as if it were per channel
CONSTANTS = {
    (1, 3, 1, 1): (["Scale"], 1, 1),  # per channel, as gluoncv's mean and std
    (3, 1, 1): (["Scale"], 1, 1),  # fewer axes: aligned on the right
    (1, 1, 4, 5): (["Reshape", "Scale"], 2, 2),  # per position
    (1, 3, 1, 5): (["Reshape", "Scale"], 1, 3),  # a 1 inside the span: the constant is tiled along it
    (1,): (["Power"], None, None),  # a single value
}


@pytest.mark.parametrize("constant_shape", list(CONSTANTS), ids=str)
@pytest.mark.parametrize("op", list(OPS))
def test_constant_operand_in_the_middle_of_a_network(tmp_path, op, constant_shape):
    # the constant's variable carries its shape, as in exported models: MXNet infers from it
    data, constant = mx.sym.Variable("data"), mx.sym.Variable("c", shape=constant_shape)
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=3, name="conv1")
    x = OPS[op](x, constant)
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="conv2")
    args, aux = random_params(sym, {"data": DATA, "c": constant_shape})
    args["c"] = mx.nd.array(constant_values(constant_shape))
    summary = assert_converts_exactly(sym, {"data": DATA}, tmp_path, args=args, aux=aux)
    layers, axis, num_axes = CONSTANTS[constant_shape]
    assert layer_types(summary) == ["Input", "Convolution", *layers, "Convolution"]
    if layers[-1] == "Scale":
        param = read_prototxt(summary.prototxt).layer[-2].scale_param
        has_bias = op[1] in "+-"  # sums and differences; products and quotients have none
        assert (param.axis, param.num_axes, param.bias_term) == (axis, num_axes, has_bias)


def _convert_with_constant(tmp_path, sym, shapes, constant):
    args = {"c": mx.nd.array(constant)}
    symbol_path, params_path = save_model(sym, args, {}, tmp_path)
    return mxnet2caffe.convert(symbol_path, params_path, shapes)


@pytest.mark.parametrize(
    "build, data_shape, constant, message",
    [
        (lambda x, c: mx.sym.broadcast_div(x, c), (2, 3, 4, 5), np.array([[[1.0]], [[0.0]], [[2.0]]]),
         "the constant divisor 'c' holds a 0"),
        (lambda x, c: mx.sym.broadcast_add(x, c), (2, 3, 1, 1), np.ones((1, 3, 4, 5)),
         "the constant 'c' (1, 3, 4, 5) stretches the tensor (2, 3, 1, 1) to (2, 3, 4, 5)"),
    ],
    ids=["zero-divisor", "stretching"],
)
def test_constant_operands_without_an_exact_form_are_rejected(tmp_path, build, data_shape, constant, message):
    sym = build(mx.sym.Variable("x"), mx.sym.Variable("c", shape=constant.shape))
    with pytest.raises(mxnet2caffe.NodeError, match=re.escape(message)):
        _convert_with_constant(tmp_path, sym, {"x": data_shape}, constant.astype(np.float32))


def test_per_position_constant_after_a_convolution_with_as_many_channels(tmp_path):
    """20 channels and a 4x5 constant: without the Reshape, OpenCV fuses the Scale into the
    convolution as 20 per-channel factors, without an error (measured: 0.39 relative error)."""
    data, constant = mx.sym.Variable("data"), mx.sym.Variable("c", shape=(1, 1, 4, 5))
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=20, name="conv1")
    sym = mx.sym.broadcast_mul(x, constant, name="op")
    args, aux = random_params(sym, {"data": DATA, "c": (1, 1, 4, 5)})
    args["c"] = mx.nd.array(constant_values((1, 1, 4, 5)))
    summary = assert_converts_exactly(sym, {"data": DATA}, tmp_path, args=args, aux=aux)
    assert layer_types(summary) == ["Input", "Convolution", "Reshape", "Scale"]

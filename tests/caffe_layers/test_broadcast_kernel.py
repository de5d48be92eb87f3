"""The C++ kernel through the Python module: mxnet2caffe._native.broadcast against numpy."""

import re

import numpy as np
import pytest

from mxnet2caffe import _native

from native_nets import BROADCAST_SHAPES, LAYER_TYPES, OPERATIONS, ORDERS, bottom_shapes, random_bottoms, shape_ids

MORE_SHAPES = [
    ((), ()),
    ((7,), (1,)),
    ((7,), (7,)),
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((2, 0, 3), (2, 1, 3)),
    ((4, 1, 3), (1, 1, 3)),
]
KERNEL_OPS = {
    "MXBroadcastMul": _native.BroadcastOp.mul,
    "MXBroadcastAdd": _native.BroadcastOp.add,
    "MXBroadcastSub": _native.BroadcastOp.sub,
    "MXBroadcastDiv": _native.BroadcastOp.div,
}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES + MORE_SHAPES, ids=shape_ids)
@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_matches_numpy(layer_type, shapes, order):
    a_shape, b_shape = bottom_shapes(shapes, order)
    a, b = random_bottoms(layer_type, a_shape, b_shape)
    y = _native.broadcast(KERNEL_OPS[layer_type], a, b)
    assert y.dtype == np.float32 and y.shape == shapes[0]
    np.testing.assert_array_equal(y, OPERATIONS[layer_type][0](a, b))  # one float32 operation per value
    assert _native.broadcast_output_shape(list(a_shape), list(b_shape)) == list(shapes[0])


def test_strided_and_double_inputs_are_converted():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 8, 10))[:, :, ::2, ::2]  # float64, not contiguous
    s = rng.normal(size=(2, 3, 1, 1))
    y = _native.broadcast(_native.BroadcastOp.sub, s, x)
    np.testing.assert_array_equal(y, s.astype(np.float32) - x.astype(np.float32))


@pytest.mark.parametrize(
    "a_shape, b_shape, message",
    [
        ((2, 3, 4, 5), (2, 3, 2, 1), "axis 2 is 4 in a and 2 in b (each axis must be equal, or 1 in one of them)"),
        ((2, 3, 4, 5), (2, 3), "a has 4 axes and b 2"),
        ((2, 1, 4, 5), (2, 3, 1, 1), "both are stretched, a along axis 1 and b along axis 2"),
    ],
)
def test_shapes_that_do_not_broadcast(a_shape, b_shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _native.broadcast_output_shape(list(a_shape), list(b_shape))
    with pytest.raises(ValueError, match="cannot broadcast"):
        _native.broadcast(_native.BroadcastOp.add, np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32))

"""The C++ kernel through the Python module: mxnet2caffe._native.broadcast_mul against numpy."""

import numpy as np
import pytest
from native_nets import BROADCAST_SHAPES, shape_ids

from mxnet2caffe import _native

MORE_SHAPES = [
    ((), ()),
    ((7,), (1,)),
    ((7,), (7,)),
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((2, 0, 3), (2, 1, 3)),
    ((4, 1, 3), (1, 1, 3)),
]


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES + MORE_SHAPES, ids=shape_ids)
def test_matches_numpy(shapes):
    x_shape, s_shape = shapes
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape).astype(np.float32)
    s = rng.normal(size=s_shape).astype(np.float32)
    y = _native.broadcast_mul(x, s)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x * s)  # one float32 product per value: bit for bit
    assert _native.broadcast_mul_shape_error(list(x_shape), list(s_shape)) == ""


def test_strided_and_double_inputs_are_converted():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 8, 10))[:, :, ::2, ::2]  # float64, not contiguous
    s = rng.normal(size=(2, 3, 1, 1))
    y = _native.broadcast_mul(x, s)
    np.testing.assert_array_equal(y, x.astype(np.float32) * s.astype(np.float32))


@pytest.mark.parametrize(
    "x_shape, s_shape, message",
    [
        ((2, 3, 4, 5), (2, 3, 2, 1), "axis 2 is 2 in s and 4 in x"),
        ((2, 3, 4, 5), (2, 3), "s has 2 axes and x 4"),
        ((2, 1, 4, 5), (2, 3, 1, 1), "axis 1 is 3 in s and 1 in x"),  # s never grows x
    ],
)
def test_shapes_that_do_not_broadcast(x_shape, s_shape, message):
    assert message in _native.broadcast_mul_shape_error(list(x_shape), list(s_shape))
    with pytest.raises(ValueError, match=message):
        _native.broadcast_mul(np.zeros(x_shape, np.float32), np.zeros(s_shape, np.float32))

"""The transpose kernel (cpp/transpose.cpp) through the Python module: mxnet2caffe._native.transpose
against numpy.transpose, bit for bit (a transpose only copies values)."""

import itertools
import math
import re

import numpy as np
import pytest

from mxnet2caffe import _native

# odd sizes, so that a wrong stride or a wrong merge of axes lands on another value
ODD_SHAPES = {2: (3, 5), 3: (3, 5, 7), 4: (2, 3, 5, 7), 5: (2, 3, 1, 5, 3)}


def random_array(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("rank", sorted(ODD_SHAPES))
def test_every_permutation_matches_numpy(rank):
    x = random_array(ODD_SHAPES[rank])
    permutations = list(itertools.permutations(range(rank)))
    assert len(permutations) == math.factorial(rank)
    for permutation in permutations:
        y = _native.transpose(x, list(permutation))
        want = x.transpose(permutation)
        assert y.dtype == np.float32 and y.shape == want.shape and y.flags.c_contiguous, permutation
        np.testing.assert_array_equal(y, want, err_msg=str(permutation))
        assert _native.transpose_output_shape(list(x.shape), list(permutation)) == list(want.shape)


@pytest.mark.parametrize(
    "shape, permutation",
    [
        ((), ()),
        ((7,), (0,)),
        ((1, 1, 1), (2, 0, 1)),
        ((2, 1, 3, 1), (3, 2, 1, 0)),  # axes of size 1 move nothing
        ((2, 3, 4, 5, 7), (0, 2, 1, 3, 4)),  # ShuffleNet's channel shuffle
        ((2, 16, 7, 7), (0, 2, 3, 1)),  # NCHW -> NHWC: (N, C, H*W) -> (N, H*W, C)
        ((2, 7, 7, 16), (0, 3, 1, 2)),
        ((2, 3, 2, 3, 2, 3), (5, 3, 1, 4, 2, 0)),  # more axes than the kernel needs to know
        ((2, 1, 3, 2, 1, 3, 2), (6, 0, 5, 2, 4, 1, 3)),
        ((2, 0, 3), (2, 1, 0)),  # no values
        ((300, 301), (1, 0)),  # rows longer than a cache line, both ways
    ],
)
def test_more_shapes(shape, permutation):
    x = random_array(shape, seed=1)
    np.testing.assert_array_equal(_native.transpose(x, permutation), x.transpose(permutation))


def strided_inputs():
    base = random_array((4, 6, 10, 8), seed=2, dtype=np.float64)
    return {
        "every other element": base[:, ::2, ::2, :],
        "reversed axis": base[:, :, ::-1, :],
        "numpy transposed view": base.transpose(3, 1, 0, 2),
        "fortran order": np.asfortranarray(base),
        "float64": base,
        "broadcast view (stride 0)": np.broadcast_to(base[:, :1], base.shape),
    }


@pytest.mark.parametrize("name", list(strided_inputs()))
def test_non_contiguous_and_other_dtypes_are_converted(name):
    """pybind11 copies such arrays to C-contiguous float32 first; the result is numpy's on that."""
    x = strided_inputs()[name]
    assert name == "float64" or not x.flags.c_contiguous
    for permutation in ((0, 2, 3, 1), (3, 2, 1, 0), (1, 0, 3, 2)):
        y = _native.transpose(x, permutation)
        np.testing.assert_array_equal(y, x.astype(np.float32).transpose(permutation), err_msg=str(permutation))


def test_the_input_is_left_alone():
    x = random_array((3, 5, 7), seed=3)
    before = x.copy()
    _native.transpose(x, [2, 0, 1])
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    "shape, permutation, message",
    [
        ((2, 3, 4), (0, 1), "cannot transpose (2,3,4) by (0,1): the order has 2 axes and the tensor 3"),
        ((2, 3, 4), (0, 1, 2, 3), "the order has 4 axes and the tensor 3"),
        ((2, 3, 4), (0, 0, 1), "cannot transpose (2,3,4) by (0,0,1): it is not an order of the axes 0..2, each once"),
        ((2, 3, 4), (0, 1, 3), "it is not an order of the axes 0..2, each once"),
        ((2, 3, 4), (-1, 0, 1), "it is not an order of the axes 0..2, each once"),
        ((2, -1), (1, 0), "axis 1 of the tensor is negative"),
    ],
)
def test_orders_that_are_not_permutations(shape, permutation, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _native.transpose_output_shape(list(shape), list(permutation))
    if min(shape) >= 0:
        with pytest.raises(ValueError, match=re.escape(message)):
            _native.transpose(np.zeros(shape, np.float32), list(permutation))


# The kernel moves values in tiles: 4x4 SSE blocks of single values (edges value by value), runs
# of a few values moved as one (a 3x3 kernel's rows), long runs copied whole; large tensors are
# split between threads. The cases below reach each way, with sizes that leave ragged tiles.
def random_bits(shape, seed):
    """float32 values of random bits: NaNs with payloads, infinities, subnormals; a copy that went
    through arithmetic would change some of them."""
    return np.random.default_rng(seed).integers(0, 1 << 32, size=shape, dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize(
    "shape, permutation",
    [
        ((64, 64, 3, 3), (2, 3, 0, 1)),  # MXNet OIHW weights -> HWOI: single values, 9 rows by 4096
        ((64, 64, 3, 3), (2, 3, 1, 0)),
        ((64, 64, 3, 3), (1, 0, 2, 3)),  # OI swapped: runs of 9 values moved as one
        ((1, 64, 112, 112), (0, 2, 3, 1)),  # NCHW -> NHWC, split between threads
        ((1, 112, 112, 64), (0, 3, 1, 2)),
        ((512, 512, 3, 3), (1, 0, 2, 3)),  # 9 MB: runs of 9 values, split between threads
        ((512, 512, 3, 3), (2, 3, 0, 1)),
        ((3, 37, 41, 5), (0, 2, 1, 3)),  # runs of 5 values, ragged tiles
        ((3, 37, 41, 17), (0, 2, 1, 3)),  # runs of 17 values copied whole
        ((5, 33, 35), (2, 1, 0)),  # tiles of 32 with a ragged edge on both axes
        ((2, 130, 3, 67), (3, 0, 2, 1)),  # outer axes on both sides of the tiled ones
        ((1001, 257), (1, 0)),  # several tiles of columns per row block, threads
    ],
)
def test_conversion_shapes_bit_for_bit(shape, permutation):
    x = random_bits(shape, seed=len(shape) + shape[-1])
    y = _native.transpose(x, permutation)
    want = np.ascontiguousarray(x.transpose(permutation))
    assert y.shape == want.shape and y.flags.c_contiguous
    np.testing.assert_array_equal(y.view(np.uint32), want.view(np.uint32))


def test_random_shapes_and_orders_bit_for_bit():
    rng = np.random.default_rng(7)
    for case in range(150):
        rank = int(rng.integers(2, 6))
        shape = tuple(int(size) for size in rng.integers(1, 40 if rank < 4 else 12, size=rank))
        permutation = tuple(int(axis) for axis in rng.permutation(rank))
        x = random_bits(shape, seed=case)
        want = np.ascontiguousarray(x.transpose(permutation)).view(np.uint32)
        np.testing.assert_array_equal(
            _native.transpose(x, permutation).view(np.uint32), want, err_msg=f"{shape} {permutation}"
        )

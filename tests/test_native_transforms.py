"""The weight transforms of cpp/weights.hpp through mxnet2caffe._native, each against the numpy code
it replaced, bit for bit (compared as integers, so NaN payloads and the sign of zero count too):
reverse_axis (--swap-rgb) against numpy.flip, fold_batch_norm (--fuse-bn) against the float64 numpy
folding passes/fuse_batch_norm.py did, to_float32 (.params) against astype(float32). Odd sizes, so
that a wrong stride lands on another value; non-contiguous, big-endian and unaligned inputs;
NaN, inf, subnormals and zeros."""

import re

import numpy as np
import pytest

from mxnet2caffe import _native


def bits(array):
    """The values as unsigned integers of their size: equal bits, not just equal values."""
    array = np.asarray(array)
    return array.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize])


def assert_same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(bits(got), bits(np.ascontiguousarray(want)))


def with_specials(array):
    """The array with NaN, +-inf, -0.0 and a float32 subnormal in its first values."""
    flat = array.reshape(-1)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40], array.dtype)
    flat[: min(5, flat.size)] = specials[: min(5, flat.size)]
    return array


def random(shape, seed=0, dtype=np.float32):
    return with_specials(np.random.default_rng(seed).normal(size=shape).astype(dtype))


def assert_same_bits_but_nan_payloads(got, want):
    """Bit for bit, except that a NaN may be any NaN: where both factors of a product are NaN, IEEE
    leaves open whose payload (and sign) the result has, and numpy's own answer changes with the
    memory alignment of its operands (its SIMD loops take them in either order)."""
    assert got.dtype == want.dtype and got.shape == want.shape and got.flags.c_contiguous
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(bits(got)[~nan], bits(np.ascontiguousarray(want))[~nan])


# --- reverse_axis ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (3, 5), (3, 1, 5), (2, 3, 5, 7), (5, 3, 7, 7), (1, 3, 1, 1)])
def test_reverse_every_axis_matches_numpy_flip(shape):
    x = random(shape, seed=1)
    for axis in range(-len(shape), len(shape)):
        assert_same_bits(_native.reverse_axis(x, axis), np.flip(x, axis))


def non_contiguous_inputs():
    base = random((4, 6, 10, 8), seed=2)
    return {
        "every other element": base[:, ::2, ::2, :],
        "already reversed view": base[:, ::-1],
        "transposed view": base.transpose(3, 1, 0, 2),
        "fortran order": np.asfortranarray(base),
        "big-endian": base.astype(">f4"),
    }


@pytest.mark.parametrize("name", list(non_contiguous_inputs()))
def test_reverse_non_contiguous_and_big_endian_inputs(name):
    x = non_contiguous_inputs()[name]
    assert not (x.flags.c_contiguous and x.dtype.isnative)
    for axis in range(4):
        assert_same_bits(_native.reverse_axis(x, axis), np.flip(x.astype(np.float32), axis))


def test_reverse_no_values_and_the_input_is_left_alone():
    assert _native.reverse_axis(np.zeros((2, 0, 3), np.float32), 1).shape == (2, 0, 3)
    x = random((3, 5, 7), seed=3)
    before = x.copy()
    _native.reverse_axis(x, 1)
    assert_same_bits(x, before)


@pytest.mark.parametrize("axis", [3, -4, 100])
def test_reverse_an_axis_the_array_lacks(axis):
    message = f"cannot reverse axis {axis} of a tensor with 3 axes"
    with pytest.raises(ValueError, match=re.escape(message)):
        _native.reverse_axis(np.zeros((2, 3, 4), np.float32), axis)


# --- fold_batch_norm ----------------------------------------------------------------------------


def numpy_fold(weights, bias, mean, var, factor, eps, gamma, beta, groups, transposed):
    """What passes/fuse_batch_norm.py computed with numpy before the native kernel (its reference)."""
    mean, var, gamma, beta, bias = (np.asarray(v, np.float64).ravel() for v in (mean, var, gamma, beta, bias))
    with np.errstate(all="ignore"):  # the NaN and inf are on purpose
        inverse = 0.0 if factor == 0 else 1.0 / np.float64(factor)
        a = gamma / np.sqrt(var * inverse + eps)
        c = beta - mean * inverse * a
        weights = np.asarray(weights, np.float64)
        trailing = (1,) * (weights.ndim - 2)
        if not transposed:
            scaled = weights * a.reshape((-1, 1) + trailing)
        else:
            inputs, per_group = weights.shape[:2]
            grouped = weights.reshape((groups, inputs // groups) + weights.shape[1:])
            scaled = (grouped * a.reshape((groups, 1, per_group) + trailing)).reshape(weights.shape)
        return scaled.astype(np.float32), (bias * a + c).astype(np.float32)


def fold_case(weights_shape, channels, seed, factor=1.0):
    rng = np.random.default_rng(seed)
    weights = random(weights_shape, seed)
    mean = rng.normal(size=channels).astype(np.float32) * 5
    var = rng.uniform(0.01, 3, size=channels).astype(np.float32)
    var[0] = -1.0  # sqrt of a negative: NaN, through to channel 0 of the result
    var[-1] = np.float32(0.0)  # with eps 0: a division by zero, inf
    gamma = rng.normal(size=channels).astype(np.float32)
    beta = rng.normal(size=channels).astype(np.float32)
    bias = rng.normal(size=channels).astype(np.float32)
    return dict(weights=weights, bias=bias, mean=mean, var=var, factor=factor, gamma=gamma, beta=beta)


@pytest.mark.parametrize(
    "name, weights_shape, channels, groups, transposed",
    [
        ("Convolution", (7, 3, 3, 5), 7, 1, False),
        ("Convolution 1x1", (5, 9, 1, 1), 5, 1, False),
        ("InnerProduct", (11, 13), 11, 1, False),
        ("Deconvolution", (6, 5, 3, 3), 5, 1, True),
        ("grouped Deconvolution", (9, 5, 3, 1), 15, 3, True),
        ("depthwise Deconvolution", (7, 1, 3, 3), 7, 7, True),
    ],
)
@pytest.mark.parametrize("factor", [1.0, 999.0 / 1000.0, 0.0])
@pytest.mark.parametrize("eps", [1e-3, 2e-5, 0.0])
def test_fold_matches_the_numpy_folding(name, weights_shape, channels, groups, transposed, factor, eps):
    case = fold_case(weights_shape, channels, seed=len(name), factor=factor)
    got = _native.fold_batch_norm(
        case["weights"],
        case["bias"],
        case["mean"],
        case["var"],
        factor,
        eps,
        case["gamma"],
        case["beta"],
        groups,
        transposed,
    )
    want = numpy_fold(
        case["weights"],
        case["bias"],
        case["mean"],
        case["var"],
        factor,
        eps,
        case["gamma"],
        case["beta"],
        groups,
        transposed,
    )
    assert_same_bits_but_nan_payloads(got[0], want[0])
    assert_same_bits_but_nan_payloads(got[1], want[1])
    # the special values did go through: channel 0's negative variance (unused when the factor is
    # 0) and the NaN among the weights
    assert np.isnan(got[1][0]) or factor == 0
    assert np.isnan(got[0].flat[0])


@pytest.mark.parametrize(
    "make_weights",
    [
        lambda w: np.asfortranarray(w),
        lambda w: w.astype(">f4"),
        lambda w: w.astype(np.float64) / 3,  # float64 weights are rounded only once, at the end
        lambda w: np.repeat(w, 2, axis=1)[:, ::2],
    ],
    ids=["fortran order", "big-endian", "float64", "every other element"],
)
def test_fold_other_weight_layouts_and_dtypes(make_weights):
    case = fold_case((7, 3, 3, 5), 7, seed=4)
    weights = make_weights(case["weights"])
    args = (case["bias"], case["mean"], case["var"], 1.0, 1e-5, case["gamma"], case["beta"], 1, False)
    got = _native.fold_batch_norm(weights, *args)
    want = numpy_fold(weights, *args)
    assert_same_bits_but_nan_payloads(got[0], want[0])
    assert_same_bits_but_nan_payloads(got[1], want[1])


@pytest.mark.parametrize(
    "weights_shape, channels, groups, transposed, message",
    [
        ((7, 3, 3, 3), 6, 1, False, "mean has 6 values for weights of 7 output channels"),
        ((6, 5, 3, 3), 5, 4, True, "Deconvolution weights of 6 input channels cannot be split into 4 groups"),
        ((6,), 6, 1, True, "the weights have too few axes to hold output channels"),
        ((6, 5), 5, 0, True, "groups must be at least 1"),
    ],
)
def test_fold_sizes_that_disagree(weights_shape, channels, groups, transposed, message):
    vector = np.ones(channels, np.float32)
    with pytest.raises(ValueError, match=re.escape(message)):
        _native.fold_batch_norm(
            np.ones(weights_shape, np.float32),
            np.ones(7 if channels == 6 else channels),
            vector,
            vector,
            1.0,
            1e-5,
            vector,
            vector,
            groups,
            transposed,
        )


# --- to_float32 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_every_float16_value_in_both_byte_orders(order):
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(order + "f2")
    assert_same_bits(_native.to_float32(every), every.astype(np.float32))


def float64_edge_values():
    tiny32 = float(np.finfo(np.float32).tiny)
    values = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        np.pi,
        1e-300,
        -1e-300,
        5e-324,
        tiny32,
        tiny32 / 3,
        1e-46,  # below float32's least
        float(np.finfo(np.float32).max),
        3.4028235677973366e38,
        1e39,
        -1e300,
        np.inf,
        -np.inf,
        np.nan,
        1.0 + 2.0**-24,
        1.0 + 3 * 2.0**-24,
        1.0 + 2.0**-24 + 2.0**-52,  # ties to even, and just above a tie
    ]
    payload_nan = np.array([0x7FF0_0000_DEAD_BEEF, 0xFFF8_0000_0000_0001], np.uint64).view(np.float64)
    return np.concatenate([np.array(values), payload_nan])


@pytest.mark.parametrize("order", ["<", ">"])
def test_float64_edge_values_in_both_byte_orders(order):
    x = float64_edge_values().astype(order + "f8")
    with np.errstate(over="ignore", invalid="ignore"):
        assert_same_bits(_native.to_float32(x), x.astype(np.float32))


@pytest.mark.parametrize("dtype", ["<f2", ">f2", "<f8", ">f8"])
def test_large_odd_arrays_split_between_threads(dtype):
    # a few MB, more than one thread's share, an odd count so the ranges have uneven ends
    x = with_specials(np.random.default_rng(5).normal(size=(1001, 1003)).astype(dtype))
    assert_same_bits(_native.to_float32(x), x.astype(np.float32))


@pytest.mark.parametrize("dtype", ["<f2", ">f8"])
def test_non_contiguous_and_unaligned_inputs(dtype):
    x = random((5, 7, 9), seed=6, dtype=dtype)
    for view in (x[:, ::2, 1::3], x.transpose(2, 0, 1), np.asfortranarray(x)):
        assert_same_bits(_native.to_float32(view), view.astype(np.float32))
    # a view one byte into a buffer, as an array inside a mapped .params file can be
    raw = np.zeros(x.nbytes + 1, np.uint8)
    raw[1:] = np.frombuffer(x.tobytes(), np.uint8)
    unaligned = np.frombuffer(raw.data, dtype, x.size, 1).reshape(x.shape)
    assert not unaligned.flags.aligned
    assert_same_bits(_native.to_float32(unaligned), x.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint16, np.complex64])
def test_to_float32_takes_only_float16_and_float64(dtype):
    with pytest.raises(ValueError, match="to_float32 takes float16 or float64 arrays, not"):
        _native.to_float32(np.zeros(3, dtype))


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_the_params_reader_converts_as_astype(tmp_path, dtype):
    """mxnet/params.py converts float16 and float64 arrays with to_float32: a file MXNet saved reads
    back as numpy's astype(float32) of what was saved, for an array large enough to use threads."""
    import mxnet as mx

    from mxnet2caffe.mxnet.params import read_params

    saved = random((301, 257, 3), seed=7, dtype=dtype)
    path = tmp_path / "w.params"
    mx.nd.save(str(path), {"arg:w": mx.nd.array(saved, dtype=dtype)})
    assert_same_bits(read_params(path)["w"], saved.astype(np.float32))

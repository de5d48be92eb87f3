import mxnet as mx
import pytest

import mxnet2caffe

from harness import assert_converts_exactly, assert_rejected, layer_types


def _nearest(*inputs, **attrs):
    return mx.sym.UpSampling(*inputs, sample_type="nearest", name="up", **attrs)


def _bilinear(scale, channels):
    data = mx.sym.Variable("data")
    return mx.sym.UpSampling(
        data, mx.sym.Variable("up_weight"), scale=scale, sample_type="bilinear", num_filter=channels, name="up"
    )


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_nearest(tmp_path, scale):
    sym = _nearest(mx.sym.Variable("data"), scale=scale)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5, 7)}, tmp_path)
    assert layer_types(summary) == ["Input", "Deconvolution"]
    assert summary.outputs == {"up": (2, 3, 5 * scale, 7 * scale)}


def test_nearest_scale_1_is_the_input(tmp_path):
    data = mx.sym.Variable("data")
    sym = mx.sym.Convolution(_nearest(data, scale=1), kernel=(1, 1), num_filter=2, name="conv")
    summary = assert_converts_exactly(sym, {"data": (1, 3, 5, 7)}, tmp_path)
    assert layer_types(summary) == ["Input", "Convolution"]


# each input is brought to the first one's size times scale, by its own factor
SEVERAL = {"a": (2, 3, 3, 5), "b": (2, 3, 6, 10), "c": (2, 3, 12, 20)}


@pytest.mark.parametrize(
    "names, mode, channels, layers",
    [
        (["a", "b"], "concat", 6, ["Deconvolution", "Deconvolution", "Concat"]),
        (["a", "b"], "sum", 3, ["Deconvolution", "Deconvolution", "Eltwise"]),
        (["b", "a", "c"], "concat", 9, ["Deconvolution", "Deconvolution", "Concat"]),  # c is at the size already
        (["a", "c", "b"], "sum", 3, ["Deconvolution", "Deconvolution", "Eltwise"]),
    ],
)
def test_nearest_several_inputs(tmp_path, names, mode, channels, layers):
    scale = 4 if names[0] == "a" else 2
    sym = _nearest(*[mx.sym.Variable(name) for name in names], scale=scale, multi_input_mode=mode)
    summary = assert_converts_exactly(sym, {name: SEVERAL[name] for name in names}, tmp_path)
    assert layer_types(summary)[len(names):] == layers
    assert summary.outputs == {"up": (2, channels, 12, 20)}


def _mxnet_bilinear_kernel(scale, channels):
    """The weights mx.init.Bilinear gives the bilinear UpSampling weight (C, 1, k, k)."""
    kernel = 2 * scale - scale % 2
    weight = mx.nd.zeros((channels, 1, kernel, kernel))
    mx.init.Bilinear()(mx.init.InitDesc("up_weight"), weight)
    return weight


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("weights", ["bilinear", "random"])
def test_bilinear(tmp_path, scale, weights):
    sym = _bilinear(scale, 3)
    args = {"up_weight": _mxnet_bilinear_kernel(scale, 3)} if weights == "bilinear" else None  # None: random
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5, 7)}, tmp_path, args=args, aux={} if args else None)
    assert layer_types(summary) == ["Input", "Deconvolution"]
    assert summary.outputs == {"up": (2, 3, 5 * scale, 7 * scale)}


@pytest.mark.parametrize("sample_type", ["nearest", "bilinear"])
def test_batch_norm_after_upsampling_with_fuse_bn(tmp_path, sample_type):
    """OpenCV DNN folds a BatchNorm right after a grouped Deconvolution wrongly; --fuse-bn folds it first."""
    data = mx.sym.Variable("data")
    up = _nearest(data, scale=2) if sample_type == "nearest" else _bilinear(2, 3)
    sym = mx.sym.BatchNorm(up, fix_gamma=False, name="bn")
    options = mxnet2caffe.ConvertOptions(fuse_bn=True)
    summary = assert_converts_exactly(sym, {"data": (1, 3, 5, 4)}, tmp_path, options=options)
    assert layer_types(summary) == ["Input", "Deconvolution"]


@pytest.mark.parametrize(
    "shapes, attrs, match",
    [
        ({"a": (1, 2, 4, 4), "b": (1, 3, 3, 3)}, dict(scale=2), r"input 1 of size \(3, 3\) is not an integer factor"),
        ({"a": (1, 2, 4, 4), "b": (1, 3, 8, 2)}, dict(scale=2), r"the same for height and width, of the output size \(8, 8\)"),
        ({"a": (1, 2, 4, 4), "b": (1, 3, 2, 2)}, dict(scale=2, multi_input_mode="sum"), "'sum' needs inputs of equal batch and channels"),
        ({"a": (1, 2, 4)}, dict(scale=2), "only NCHW input is supported"),
    ],
)
def test_nearest_rejected(tmp_path, shapes, attrs, match):
    sym = _nearest(*[mx.sym.Variable(name) for name in shapes], **attrs)
    assert_rejected(sym, shapes, tmp_path, match)


def test_bilinear_num_filter_other_than_channels_rejected(tmp_path):
    sym = mx.sym.UpSampling(
        mx.sym.Variable("data"), mx.sym.Variable("up_weight"), scale=2, sample_type="bilinear", num_filter=1, name="up"
    )
    assert_rejected(sym, {"data": (1, 2, 4, 4)}, tmp_path, "bilinear num_filter 1 must equal the 2 input channels")

import mxnet as mx
import pytest

from harness import assert_converts_exactly, assert_rejected, layer_types


@pytest.mark.parametrize(
    "data, like, attrs",
    [
        ((2, 3, 9, 8), (2, 5, 4, 3), {}),
        ((2, 3, 9, 8), (2, 5, 4, 3), dict(offset=(2, 1))),
        ((2, 3, 9, 8), (2, 5, 4, 3), dict(offset=(5, 5))),  # the last position that fits
        ((2, 3, 9, 8), (2, 5, 4, 3), dict(center_crop=True)),  # (9 - 4) / 2 and (8 - 3) / 2 round down to 2, 2
        ((2, 3, 9, 8), (2, 5, 6, 4), dict(center_crop=True, offset=(3, 0))),  # the offset is ignored then
        ((2, 3, 9, 8), (1, 5, 4, 3), {}),  # input 1 gives height and width only
        ((2, 3, 9, 8), (2, 1, 9, 8), {}),  # nothing to cut
    ],
)
def test_crop_like_second_input(tmp_path, data, like, attrs):
    sym = mx.sym.Crop(mx.sym.Variable("data"), mx.sym.Variable("like"), name="crop", **attrs)
    summary = assert_converts_exactly(sym, {"data": data, "like": like}, tmp_path)
    assert layer_types(summary) == ["Input", "Input", "Crop"]
    assert summary.outputs == {"crop": data[:2] + like[2:]}


@pytest.mark.parametrize(
    "h_w, attrs",
    [
        ((5, 4), dict(offset=(1, 2))),
        ((5, 4), {}),
        ((1, 1), dict(offset=(8, 7))),
        ((8, 3), dict(center_crop=True)),  # offsets (0, 2): (9 - 8) / 2 rounds down
        ((9, 5), dict(offset=(0, 3))),  # the height is kept
    ],
)
def test_crop_to_h_w(tmp_path, h_w, attrs):
    sym = mx.sym.Crop(mx.sym.Variable("data"), h_w=h_w, name="crop", **attrs)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 9, 8)}, tmp_path)
    assert layer_types(summary) == ["Input", "Pooling", "Crop"]
    assert summary.outputs == {"crop": (2, 3) + h_w}


def test_crop_to_the_whole_input_is_the_input(tmp_path):
    data = mx.sym.Variable("data")
    sym = mx.sym.Convolution(mx.sym.Crop(data, h_w=(9, 8), name="crop"), kernel=(1, 1), num_filter=2, name="conv")
    summary = assert_converts_exactly(sym, {"data": (1, 3, 9, 8)}, tmp_path)
    assert layer_types(summary) == ["Input", "Convolution"]


def _conv_bn_relu(x, channels, name, kernel=(1, 1), stride=(1, 1), pad=(0, 0)):
    x = mx.sym.Convolution(x, kernel=kernel, stride=stride, pad=pad, num_filter=channels, name=f"{name}_conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name=f"{name}_bn")
    return mx.sym.Activation(x, act_type="relu", name=f"{name}_relu")


def test_retinaface_fpn_merge(tmp_path):
    """RetinaFace / SSH: the stride-16 map upsampled (nearest, 2) is one row and column larger than
    the odd-sized stride-8 lateral, cut to it with a two-input Crop, added, then smoothed."""
    data = mx.sym.Variable("data")
    stride8 = _conv_bn_relu(data, 16, "c3", kernel=(3, 3), stride=(2, 2), pad=(1, 1))  # 37 -> 19
    stride16 = _conv_bn_relu(stride8, 24, "c4", kernel=(3, 3), stride=(2, 2), pad=(1, 1))  # 19 -> 10
    lateral = _conv_bn_relu(stride8, 8, "lateral8")
    top = _conv_bn_relu(stride16, 8, "lateral16")
    up = mx.sym.UpSampling(top, scale=2, sample_type="nearest", workspace=512, name="up16", num_args=1)  # 20 x 20
    cropped = mx.sym.Crop(*[up, lateral], name="crop16")
    merged = mx.sym.elemwise_add(lateral, cropped, name="merge8")
    out = _conv_bn_relu(merged, 8, "smooth8", kernel=(3, 3), pad=(1, 1))
    summary = assert_converts_exactly(out, {"data": (1, 8, 37, 37)}, tmp_path)
    assert summary.outputs == {"smooth8_relu": (1, 8, 19, 19)}
    types = layer_types(summary)
    assert types.count("Crop") == 1 and types.count("Deconvolution") == 1


@pytest.mark.parametrize(
    "shapes, attrs, match",
    [
        ({"data": (1, 3, 9, 8)}, dict(h_w=(10, 4)), r"crop size \(10, 4\) is larger than the input size \(9, 8\)"),
        ({"data": (1, 3, 9, 8)}, dict(h_w=(5, 4), offset=(5, 0)), r"offset \(5, 0\) does not fit: .* can start at most at \(4, 4\)"),
        ({"data": (1, 3, 9, 8)}, {}, r"h_w \(0, 0\) must give a positive crop size"),
        ({"data": (1, 3, 9, 8)}, dict(h_w=(5,)), r"attribute 'h_w' \(5,\) must be a \(height, width\) pair"),
        ({"data": (1, 3, 9)}, dict(h_w=(5, 4)), r"input 0 must be NCHW"),
        ({"data": (1, 3, 9, 8), "like": (1, 3, 4, 9)}, {}, r"crop size \(4, 9\) is larger than the input size \(9, 8\)"),
        ({"data": (1, 3, 9, 8), "like": (1, 3, 4, 3)}, dict(offset=(1, 6)), r"offset \(1, 6\) does not fit"),
    ],
)
def test_crop_rejected(tmp_path, shapes, attrs, match):
    sym = mx.sym.Crop(*[mx.sym.Variable(name) for name in shapes], name="crop", **attrs)
    assert_rejected(sym, shapes, tmp_path, match)

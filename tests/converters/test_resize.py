"""converters/resize.py: _contrib_BilinearResize2D in every mode MXNet 1.9 has, both corner
alignments, up and down, odd sizes; against real MXNet in real Caffe and OpenCV (1e-4)."""

import mxnet as mx
import numpy as np
import pytest

from harness import assert_converts_exactly, assert_rejected, layer_types

INPUT = (2, 3, 5, 8)  # odd height, even width: the odd/even modes differ per axis

# attributes -> MXNet's output (height, width) for INPUT
SIZES = [
    ({"height": 11, "width": 17}, (11, 17)),  # up, not an integer factor
    ({"height": 10, "width": 16}, (10, 16)),  # up, factor 2
    ({"height": 3, "width": 3}, (3, 3)),  # down
    ({"height": 9, "width": 4}, (9, 4)),  # up one axis, down the other
    ({"height": 5, "width": 13}, (5, 13)),  # one axis kept
    ({"height": 1, "width": 1}, (1, 1)),
    ({"scale_height": 2.0, "scale_width": 1.5}, (10, 12)),
    ({"scale_height": 0.5, "scale_width": 0.3}, (2, 2)),  # int(0.5 * 5), int(0.3 * 8) in float32
    ({"height": 7, "width": 7, "scale_height": 3.0, "scale_width": 0.5}, (15, 4)),  # scales win
    ({"scale_width": 2.0, "height": 4, "width": 6}, (4, 6)),  # MXNet ignores scale_width alone
    ({"mode": "odd_scale", "scale_height": 2.0, "scale_width": 2.0}, (9, 16)),  # (5-1)*2+1, 8*2
    ({"mode": "odd_scale", "scale_height": 0.5, "scale_width": 0.5}, (3, 4)),
    ({"mode": "to_even_down"}, (4, 8)),
    ({"mode": "to_even_up"}, (6, 8)),
    ({"mode": "to_odd_down"}, (5, 7)),
    ({"mode": "to_odd_up"}, (5, 9)),
]


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("attrs, size", SIZES)
def test_modes(tmp_path, attrs, size, align_corners):
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), align_corners=align_corners, name="resize", **attrs)
    summary = assert_converts_exactly(sym, {"data": INPUT}, tmp_path)
    assert summary.outputs == {"resize": INPUT[:2] + size}


def test_default_aligns_corners(tmp_path):
    """No align_corners attribute: MXNet 1.9 aligns corners, and so must the weights."""
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), height=9, width=11, name="resize")
    summary = assert_converts_exactly(sym, {"data": INPUT}, tmp_path)
    assert layer_types(summary) == ["Input", "InnerProduct", "Reshape", "Convolution", "Reshape"]


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("like_shape", [(1, 4, 12, 7), (2, 1, 3, 8), (2, 3, 5, 8)])
def test_like(tmp_path, like_shape, align_corners):
    """The 'like' input is computed by a layer read by nothing else: the conversion must still
    read it (a Crop to its size), or OpenCV would list it as an output."""
    like = mx.sym.Convolution(mx.sym.Variable("guide"), kernel=(1, 1), num_filter=like_shape[1], name="guide_conv")
    sym = mx.sym.contrib.BilinearResize2D(
        mx.sym.Variable("data"), like, mode="like", align_corners=align_corners, name="resize"
    )
    shapes = {"data": INPUT, "guide": (like_shape[0], 2) + like_shape[2:]}
    summary = assert_converts_exactly(sym, shapes, tmp_path)
    assert summary.outputs == {"resize": INPUT[:2] + like_shape[2:]}
    assert layer_types(summary)[-1] == "Crop"


def test_same_size_is_the_identity(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=4, name="conv")
    x = mx.sym.contrib.BilinearResize2D(x, height=5, width=8, name="resize")
    x = mx.sym.relu(x, name="relu")
    summary = assert_converts_exactly(x, {"data": INPUT}, tmp_path)
    assert layer_types(summary) == ["Input", "Convolution", "ReLU"]


@pytest.mark.parametrize("align_corners", [True, False])
def test_fcn_head(tmp_path, align_corners):
    """gluoncv's FCN head: a strided backbone, a 3x3 conv + BN + relu, a 1x1 classifier, then
    BilinearResize2D back to the input's size (here 1/8 of 37x45: 5x6 -> 37x45)."""
    x = mx.sym.Variable("data")
    for index in range(3):
        x = mx.sym.Convolution(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=8, name=f"backbone{index}")
        x = mx.sym.relu(x, name=f"backbone{index}_relu")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, no_bias=True, name="head_conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="head_bn")
    x = mx.sym.relu(x, name="head_relu")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=5, name="classifier")
    x = mx.sym.contrib.BilinearResize2D(x, height=37, width=45, align_corners=align_corners, name="upsample")
    inputs = {"data": np.random.default_rng(3).standard_normal((1, 3, 37, 45)).astype(np.float32)}
    summary = assert_converts_exactly(x, {"data": (1, 3, 37, 45)}, tmp_path, inputs=inputs)
    assert summary.outputs == {"upsample": (1, 5, 37, 45)}


def test_batch_norm_after_the_resize(tmp_path):
    """A BatchNorm reading the resize: after both axes it reads the final Reshape; after the
    columns alone it reads the InnerProduct (axis 3), where OpenCV may fuse it (the
    opencv_fusion_guards pass puts a Reshape in between)."""
    x = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), height=4, width=11, name="resize")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn")
    assert_converts_exactly(x, {"data": INPUT}, tmp_path)
    x = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), height=5, width=11, name="resize")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn")
    (tmp_path / "columns_only").mkdir()
    assert_converts_exactly(x, {"data": INPUT}, tmp_path / "columns_only")


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"scale_height": 2.0}, "scale_height without scale_width"),
        ({"mode": "odd_scale", "scale_height": 2.0}, "needs scale_height and scale_width"),
        ({"scale_height": 0.1, "scale_width": 1.0}, r"output size \(0, 8\)"),
    ],
)
def test_rejects(tmp_path, attrs, message):
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), name="resize", **attrs)
    assert_rejected(sym, {"data": INPUT}, tmp_path, message)


def test_rejects_input_that_is_not_4d(tmp_path):
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), height=4, width=4, name="resize")
    assert_rejected(sym, {"data": (2, 3, 5)}, tmp_path, "only 4-d")

"""converters/pad.py: Pad in every mode, against real MXNet in real Caffe and OpenCV (1e-4)."""

import mxnet as mx
import numpy as np
import pytest

from harness import assert_converts_exactly, assert_rejected, layer_types

# spatial (top, bottom, left, right) widths; MXNet's pad_width is (0, 0, 0, 0) followed by them
WIDTHS = [
    (1, 1, 1, 1),  # symmetric
    (2, 2, 1, 1),  # symmetric, different per axis
    (0, 1, 0, 1),  # the iris UNet's trailing pad before a 2x2 pooling
    (2, 1, 3, 0),  # asymmetric on both axes
    (0, 0, 1, 3),  # columns only
    (3, 0, 0, 0),  # rows only, one side
    (4, 4, 6, 6),  # on the 5x7 inputs below: the widest reflection MXNet makes (size - 1)
]


def _pad(data: mx.sym.Symbol, mode: str, widths, value: float = 0.0) -> mx.sym.Symbol:
    return mx.sym.Pad(data, mode=mode, pad_width=(0, 0, 0, 0) + tuple(widths), constant_value=value, name="pad")


@pytest.mark.parametrize("value", [0.0, 2.5, -1.25])
@pytest.mark.parametrize("widths", WIDTHS)
def test_constant(tmp_path, widths, value):
    sym = _pad(mx.sym.Variable("data"), "constant", widths, value)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5, 7)}, tmp_path)
    top, bottom, left, right = widths
    assert summary.outputs == {"pad": (2, 3, 5 + top + bottom, 7 + left + right)}


@pytest.mark.parametrize("mode", ["edge", "reflect"])
@pytest.mark.parametrize("widths", WIDTHS)
def test_edge_and_reflect(tmp_path, mode, widths):
    sym = _pad(mx.sym.Variable("data"), mode, widths)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5, 7)}, tmp_path)
    assert set(layer_types(summary)) == {"Input", "Slice", "Concat"}


@pytest.mark.parametrize(
    "widths, value, types",
    [
        ((1, 1, 2, 2), 0.0, ["Input", "Convolution"]),
        ((0, 1, 0, 1), 0.0, ["Input", "Convolution", "Pooling", "Crop"]),
        ((1, 1, 2, 2), 3.0, ["Input", "Convolution", "Reshape", "Scale"]),
        ((0, 1, 0, 1), 3.0, ["Input", "Convolution", "Pooling", "Crop", "Scale"]),
    ],
)
def test_constant_forms(tmp_path, widths, value, types):
    """Zero padding is one depthwise Convolution of ones; unequal widths add a Crop; a non-zero
    value a Scale whose bias holds it on the border (a Reshape keeps OpenCV from fusing it)."""
    sym = _pad(mx.sym.Variable("data"), "constant", widths, value)
    summary = assert_converts_exactly(sym, {"data": (1, 2, 4, 5)}, tmp_path)
    assert layer_types(summary) == types


def test_constant_border_holds_the_value_exactly(tmp_path):
    """All-zero input: the output is the mask itself, so a wrong border cannot hide in the tolerance."""
    sym = _pad(mx.sym.Variable("data"), "constant", (2, 1, 3, 0), 7.5)
    inputs = {"data": np.zeros((1, 2, 3, 4), dtype=np.float32)}
    assert_converts_exactly(sym, {"data": (1, 2, 3, 4)}, tmp_path, inputs=inputs)


@pytest.mark.parametrize("mode", ["constant", "edge"])
def test_edge_of_a_single_row(tmp_path, mode):
    sym = _pad(mx.sym.Variable("data"), mode, (2, 3, 1, 0), 1.5)
    assert_converts_exactly(sym, {"data": (2, 3, 1, 4)}, tmp_path)


def test_zero_widths_add_no_layer(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.relu(_pad(x, "reflect", (0, 0, 0, 0)), name="relu")
    summary = assert_converts_exactly(x, {"data": (1, 3, 6, 6)}, tmp_path)
    assert layer_types(summary) == ["Input", "Convolution", "ReLU"]


@pytest.mark.parametrize("pool_type", ["max", "avg"])
@pytest.mark.parametrize("size", [(7, 9), (8, 8)])
def test_iris_unet_pad_before_pooling(tmp_path, pool_type, size):
    """The iris UNet's down step: conv, relu, Pad (0,0,0,0,0,1,0,1), 2x2/2 pooling; on odd sizes the
    pad makes the pooling see the last row and column, on even ones it adds a window of zeros."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), num_filter=4, name="conv")
    x = mx.sym.Activation(x, act_type="relu", name="relu")
    x = mx.sym.Pad(x, mode="constant", pad_width=(0, 0, 0, 0, 0, 1, 0, 1), name="pad")
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type=pool_type, name="pool")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=6, name="conv2")
    summary = assert_converts_exactly(x, {"data": (2, 3) + size}, tmp_path)
    assert summary.outputs == {"conv2": (2, 6, (size[0] + 1) // 2, (size[1] + 1) // 2)}


def test_xception_style_pad_before_strided_depthwise_conv(tmp_path):
    """gluoncv's Xception pads explicitly ('fixed padding') before a stride-2 depthwise conv."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=8, name="conv")
    x = mx.sym.Pad(x, mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), name="pad")
    x = mx.sym.Convolution(x, kernel=(3, 3), stride=(2, 2), num_filter=8, num_group=8, no_bias=True, name="dw")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="pw")
    assert_converts_exactly(x, {"data": (1, 3, 9, 9)}, tmp_path)


def test_lower_case_alias(tmp_path):
    """mx.sym.pad is the same op; the graph stores it as Pad."""
    sym = mx.sym.pad(mx.sym.Variable("data"), mode="edge", pad_width=(0, 0, 0, 0, 1, 2, 2, 1), name="pad")
    assert_converts_exactly(sym, {"data": (1, 2, 3, 4)}, tmp_path)


@pytest.mark.parametrize(
    "mode, pad_width, shape, message",
    [
        ("constant", (0, 0, 1, 1, 0, 0, 0, 0), (1, 2, 3, 4), "pads the batch or channel axis"),
        ("edge", (1, 0, 0, 0, 0, 0, 0, 0), (1, 2, 3, 4), "pads the batch or channel axis"),
        ("reflect", (0, 0, 0, 0, 3, 0, 0, 0), (1, 2, 3, 4), r"reflect padding \(3, 0\) of an axis of size 3"),
        ("reflect", (0, 0, 0, 0, 0, 0, 1, 4), (1, 2, 3, 4), r"reflect padding \(1, 4\) of an axis of size 4"),
        ("constant", (0, 0, 0, 0, 1, 1, 1, 1, 1, 1), (1, 2, 3, 4, 5), "only 4-d"),
        ("constant", (0, 0, 0, 0, 1, 1), (1, 2, 3, 4), "two widths per axis"),
    ],
)
def test_rejects(tmp_path, mode, pad_width, shape, message):
    sym = mx.sym.Pad(mx.sym.Variable("data"), mode=mode, pad_width=pad_width, name="pad")
    assert_rejected(sym, {"data": shape}, tmp_path, message)

"""expand_dims and squeeze: a Reshape with explicit dims, checked against MXNet in OpenCV and Caffe."""

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe

from harness import assert_converts_exactly, assert_rejected, backend_forward, layer_types, mxnet_forward, save_model


@pytest.mark.parametrize(
    "shape, axis, expected",
    [
        ((2, 3, 5, 7), 0, (1, 2, 3, 5, 7)),
        ((2, 3, 5, 7), 1, (2, 1, 3, 5, 7)),
        ((2, 3, 5, 7), 3, (2, 3, 5, 1, 7)),
        ((2, 3, 5, 7), 4, (2, 3, 5, 7, 1)),
        ((2, 3, 5, 7), -1, (2, 3, 5, 7, 1)),
        ((2, 3, 5, 7), -2, (2, 3, 5, 1, 7)),
        ((2, 3, 5, 7), -5, (1, 2, 3, 5, 7)),
        ((2, 9), 1, (2, 1, 9)),
        ((2, 9), -1, (2, 9, 1)),
        ((2, 3, 5), 2, (2, 3, 1, 5)),
    ],
)
def test_expand_dims(tmp_path, shape, axis, expected):
    sym = mx.sym.expand_dims(mx.sym.Variable("data"), axis=axis, name="expanded")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert summary.outputs == {"expanded": expected}
    assert layer_types(summary) == ["Input", "Reshape"]


@pytest.mark.parametrize(
    "shape, axis, expected",
    [
        ((2, 1, 5, 1), None, (2, 5)),
        ((2, 1, 5, 1), (1,), (2, 5, 1)),
        ((2, 1, 5, 1), (-1,), (2, 1, 5)),
        ((2, 1, 5, 1), (3, 1), (2, 5)),
        ((1, 3, 1, 7), (0,), (3, 1, 7)),  # the batch axis of size 1, as a model for one image has
        ((1, 3, 1, 7), None, (3, 7)),
        ((2, 6, 1, 1), (2, 3), (2, 6)),  # a global pooling's output, as an embedding head squeezes it
    ],
)
def test_squeeze(tmp_path, shape, axis, expected):
    sym = mx.sym.squeeze(mx.sym.Variable("data"), axis=axis, name="squeezed")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert summary.outputs == {"squeezed": expected}


def test_squeeze_of_every_axis_keeps_one(tmp_path):
    """MXNet keeps one axis of size 1 when every axis goes. Caffe gives that 1-d blob; OpenCV's
    Python binding returns any 1-d blob as (n, 1), so OpenCV is compared by value here."""
    sym = mx.sym.squeeze(mx.sym.Variable("data"), name="squeezed")
    symbol, params = save_model(sym, {}, {}, tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": (1, 1)}, tmp_path / "converted")
    assert summary.outputs == {"squeezed": (1,)}
    inputs = {"data": np.array([[-2.5]], dtype=np.float32)}
    (expected,) = mxnet_forward(symbol, params, inputs)
    (in_caffe,) = backend_forward("caffe", summary.prototxt, summary.caffemodel, inputs, ["squeezed"])
    (in_opencv,) = backend_forward("opencv", summary.prototxt, summary.caffemodel, inputs, ["squeezed"])
    assert expected.shape == in_caffe.shape == (1,) and in_opencv.shape == (1, 1)
    assert expected[0] == in_caffe[0] == in_opencv[0, 0] == -2.5


def test_squeeze_of_nothing_keeps_the_blob(tmp_path):
    """No axis of size 1: MXNet returns the input as it is, so no layer is needed."""
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    sym = mx.sym.Activation(mx.sym.squeeze(conv, name="squeezed"), act_type="tanh", name="next")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 7, 9)}, tmp_path)
    assert "Reshape" not in layer_types(summary)


def test_expand_dims_then_squeeze_in_a_network(tmp_path):
    """An embedding head: global pooling, squeeze to (N, C), expand back and a 1x1 convolution."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=6, name="conv")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    x = mx.sym.squeeze(x, axis=(2, 3), name="embedding")
    x = mx.sym.expand_dims(mx.sym.expand_dims(x, axis=-1, name="e1"), axis=-1, name="e2")
    sym = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="head")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 9, 7)}, tmp_path)
    assert summary.outputs == {"head": (2, 4, 1, 1)}


@pytest.mark.parametrize(
    "op, attrs, match",
    [
        (mx.sym.expand_dims, {"axis": 5}, r"'axis' 5 is out of range \[-5, 4\] for a 4-d input"),
        (mx.sym.expand_dims, {"axis": -6}, r"'axis' -6 is out of range"),
        (mx.sym.squeeze, {"axis": (2,)}, r"cannot squeeze axes \[2\] of the input \(2, 1, 5, 1\)"),
        (mx.sym.squeeze, {"axis": (1, -3)}, "repeats an axis"),
        (mx.sym.squeeze, {"axis": (4,)}, "'axis' 4 is out of range for a 4-d input"),
    ],
)
def test_shape_ops_reject(tmp_path, op, attrs, match):
    assert_rejected(op(mx.sym.Variable("data"), **attrs), {"data": (2, 1, 5, 1)}, tmp_path, match)

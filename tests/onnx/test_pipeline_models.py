"""The pipeline issue's models in ONNX: a detector cut at its raw heads, repeated node names, a
training graph with a label, and a model converted to take raw pixels; each run in onnxruntime
against MXNet (relative max error <= 1e-4)."""

import mxnet as mx
import numpy as np
from conftest import assert_tensorrt_ready, run_onnx
from models.test_detectors import YOLO_HEADS, yolo_v3

from mxnet2caffe.onnx import convert_to_onnx
from mxnet2caffe.options import ConvertOptions
from mxnet2caffe.verify.compare import compare

from harness import TOLERANCE, mxnet_forward, random_params, save_model
from symbols import renamed_model


def assert_matches(model_path, reference_symbol, params, onnx_inputs, mxnet_inputs):
    expected = mxnet_forward(reference_symbol, params, mxnet_inputs)
    actual = run_onnx(model_path, onnx_inputs)
    assert len(actual) == len(expected)
    for index, (got, want) in enumerate(zip(actual, expected)):
        result = compare(f"output {index}", got, want)
        assert got.shape == want.shape and result.within(TOLERANCE), (index, got.shape, result.relative_error)


def test_yolo_v3_cut_at_its_raw_heads(tmp_path):
    """The whole file (box decoding and NMS included) with --outputs at the head convolutions."""
    full, heads = yolo_v3(64)
    args, aux = random_params(mx.sym.Group(heads), {"data": (1, 3, 64, 64)})
    symbol, params = save_model(full, args, aux, tmp_path)
    cut = save_model(mx.sym.Group(heads), args, aux, tmp_path, name="cut")[0]
    model = convert_to_onnx(symbol, params, {"data": (1, 3, 64, 64)}, tmp_path / "yolo", ConvertOptions(outputs=tuple(YOLO_HEADS)))
    assert_tensorrt_ready(model)
    assert [output.name for output in model.graph.output] == YOLO_HEADS
    x = {"data": np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    assert_matches(tmp_path / "yolo.onnx", cut, params, x, x)


def test_repeated_and_odd_node_names(tmp_path):
    """A Convolution and a Flatten both named fc7, a node named like a helper blob, one named data."""
    sym = renamed_model()
    symbol, params = save_model(sym, *random_params(sym, {"data": (1, 3, 9, 9)}), tmp_path)
    assert_tensorrt_ready(convert_to_onnx(symbol, params, {"data": (1, 3, 9, 9)}, tmp_path / "renamed"))
    x = {"data": np.random.default_rng(1).standard_normal((1, 3, 9, 9)).astype(np.float32)}
    assert_matches(tmp_path / "renamed.onnx", symbol, params, x, x)


def test_training_graph_with_a_label(tmp_path):
    """SoftmaxOutput's label input and a MakeLoss head are training-only: the ONNX model has one
    input and one output."""
    data, label = mx.sym.Variable("data"), mx.sym.Variable("softmax_label")
    fc = mx.sym.FullyConnected(mx.sym.Flatten(data), num_hidden=5, name="fc")
    softmax = mx.sym.SoftmaxOutput(fc, label, name="softmax")
    loss = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(fc - 1.0)), name="loss")
    training = mx.sym.Group([softmax, loss])
    args, aux = random_params(training, {"data": (2, 3, 4, 4), "softmax_label": (2,)})
    symbol, params = save_model(training, args, aux, tmp_path)
    inference = save_model(softmax, args, aux, tmp_path, name="inference")[0]
    model = convert_to_onnx(symbol, params, {"data": (2, 3, 4, 4)}, tmp_path / "trained")
    assert [value.name for value in model.graph.input] == ["data"] and len(model.graph.output) == 1
    x = {"data": np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)}
    assert_matches(tmp_path / "trained.onnx", inference, params, x, {**x, "softmax_label": np.zeros(2, np.float32)})


def test_raw_pixels_with_mean_std_and_swapped_channels(tmp_path):
    """--mean/--std/--swap-rgb with --fuse-bn: the ONNX model takes raw BGR pixels, MXNet the
    normalized RGB ones."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv0")
    x = mx.sym.Activation(mx.sym.BatchNorm(x, fix_gamma=False, name="bn0"), act_type="relu", name="relu0")
    sym = mx.sym.FullyConnected(x, num_hidden=4, name="fc1")
    symbol, params = save_model(sym, *random_params(sym, {"data": (1, 3, 12, 12)}), tmp_path)
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    options = ConvertOptions(mean=mean, std=std, swap_rgb=True, fuse_bn=True)
    convert_to_onnx(symbol, params, {"data": (1, 3, 12, 12)}, tmp_path / "raw", options)
    raw = np.random.default_rng(3).uniform(0, 255, (1, 3, 12, 12)).astype(np.float32)
    normalized = (raw[:, ::-1] - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    assert_matches(tmp_path / "raw.onnx", symbol, params, {"data": raw}, {"data": normalized.astype(np.float32)})

import logging

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.verify.inputs import random_inputs

from harness import assert_converts_exactly, assert_rejected, backend_forward, layer_types, mxnet_forward, save_model


def _logits(shape, scale: float = 4.0) -> dict:
    """Logits wide enough that a softmax over the wrong axis or scale shows."""
    return {"data": np.random.default_rng(5).normal(0, scale, shape).astype(np.float32)}


@pytest.mark.parametrize("op", [mx.sym.softmax, mx.sym.log_softmax])
@pytest.mark.parametrize(
    "shape, axis",
    [((2, 10), -1), ((2, 10), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 2), ((4, 3, 5), 0)],
)
@pytest.mark.parametrize("temperature", [None, 1.0, 2.5, 0.5])
def test_softmax_along_axis(tmp_path, op, shape, axis, temperature):
    sym = op(mx.sym.Variable("data"), axis=axis, temperature=temperature, name="prob")
    assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=_logits(shape))


@pytest.mark.parametrize(
    "attrs, match",
    [
        ({"temperature": 0.0}, "temperature 0.0 is not positive"),
        ({"temperature": -1.0}, "temperature -1.0 is not positive"),
        ({"dtype": "float16"}, "dtype float16"),
        ({"axis": 2}, "'axis' 2 is out of range for a 2-d input"),
    ],
)
def test_softmax_rejects(tmp_path, attrs, match):
    sym = mx.sym.softmax(mx.sym.Variable("data"), **attrs)
    assert_rejected(sym, {"data": (2, 10)}, tmp_path, match)


def test_softmax_with_length_is_rejected(tmp_path):
    sym = mx.sym.softmax(mx.sym.Variable("data"), mx.sym.Variable("length"), use_length=True, axis=-1)
    assert_rejected(sym, {"data": (2, 10), "length": (2,)}, tmp_path, "use_length")


@pytest.mark.parametrize(
    "shape, mode",
    [
        ((2, 10), "instance"),
        ((2, 3, 4, 5), "instance"),  # MXNet's kernels take the last axis
        ((2, 3, 4), "instance"),
        ((2, 10, 1, 1), "channel"),
        ((2, 3, 4, 5), "channel"),
        ((2, 3, 4), "channel"),
    ],
)
def test_softmax_activation(tmp_path, shape, mode):
    sym = mx.sym.SoftmaxActivation(mx.sym.Variable("data"), mode=mode, name="prob")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=_logits(shape))
    assert layer_types(summary)[1:] == ["Softmax"]
    assert summary.outputs == {"prob": shape}


def test_softmax_activation_channel_mode_needs_3_axes(tmp_path):
    sym = mx.sym.SoftmaxActivation(mx.sym.Variable("data"), mode="channel")
    assert_rejected(sym, {"data": (2, 10)}, tmp_path, "at least 3 axes")


def _classifier(head, **attrs) -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    x = mx.sym.FullyConnected(data, num_hidden=10, name="fc")
    # the label variable stays in the graph, as in every checkpoint saved from training
    return head(x, mx.sym.Variable("softmax_label"), name="softmax", **attrs)


@pytest.mark.parametrize("head", [mx.sym.SoftmaxOutput, mx.sym.Softmax])
@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"grad_scale": 2.0, "ignore_label": 0, "use_ignore": True, "normalization": "valid"},
        {"smooth_alpha": 0.1, "out_grad": True},
        {"preserve_shape": True},
    ],
)
def test_softmax_output_ignores_its_label(tmp_path, head, attrs, caplog):
    sym = _classifier(head, **attrs)
    with caplog.at_level(logging.WARNING):
        summary = assert_converts_exactly(sym, {"data": (3, 7)}, tmp_path, inputs=_logits((3, 7)))
    assert summary.outputs == {"softmax": (3, 10)}
    assert "not used by the converter" not in caplog.text  # every attribute was considered


@pytest.mark.parametrize(
    "shape, attrs",
    [
        ((2, 5, 3, 4), {"multi_output": True}),  # per position, over channels
        ((2, 5, 3), {"multi_output": True}),
        ((2, 5, 3, 4), {"preserve_shape": True}),  # over the last axis
        ((2, 5, 3), {}),  # over all non-batch axes (MXNet's reference kernel for 3-d)
        ((2, 5, 1, 1), {"multi_output": True}),
    ],
)
def test_softmax_output_on_feature_maps(tmp_path, shape, attrs):
    sym = mx.sym.SoftmaxOutput(mx.sym.Variable("data"), mx.sym.Variable("softmax_label"), name="softmax", **attrs)
    assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=_logits(shape))


@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (2, 5, 1, 1)])
def test_softmax_output_4d_follows_mxnet_definition(tmp_path, shape, caplog):
    """SoftmaxOutput without multi_output/preserve_shape is a softmax over all non-batch
    axes (its reference CPU and GPU kernels). MXNet 1.9.1's oneDNN CPU kernel, which this
    MXNet runs for 4-d inputs, takes the last axis instead; the converter follows the
    definition, so the reference comes from MXNet's softmax on the flattened input."""
    data = mx.sym.Variable("data")
    sym = mx.sym.SoftmaxOutput(data, mx.sym.Variable("softmax_label"), name="softmax")
    definition = mx.sym.reshape(mx.sym.softmax(mx.sym.flatten(data), axis=1), shape=shape)
    symbol_path, params_path = save_model(definition, {}, {}, tmp_path)
    inputs = _logits(shape)
    (want,) = mxnet_forward(symbol_path, params_path, inputs)
    sym.save(str(tmp_path / "softmax-symbol.json"))
    with caplog.at_level(logging.WARNING):
        summary = mxnet2caffe.convert(tmp_path / "softmax-symbol.json", {}, {"data": shape}, tmp_path / "converted")
    assert "oneDNN" in caplog.text  # users comparing with a CPU MXNet are told why it differs
    (got,) = backend_forward("opencv", summary.prototxt, summary.caffemodel, inputs, ["softmax"])
    assert got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.reshape(shape[0], -1).sum(axis=1), 1.0, rtol=1e-5)


def test_softmax_output_in_a_network_with_its_label(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    x = mx.sym.Flatten(x, name="flat")
    x = mx.sym.FullyConnected(x, num_hidden=6, name="fc")
    sym = mx.sym.SoftmaxOutput(x, name="softmax")  # creates the softmax_label variable
    assert "softmax_label" in sym.list_arguments()
    assert_converts_exactly(sym, {"data": (2, 3, 7, 7)}, tmp_path, inputs=_logits((2, 3, 7, 7)))


def test_log_softmax_of_a_network(tmp_path, caplog):
    data = mx.sym.Variable("data")
    x = mx.sym.FullyConnected(data, num_hidden=8, name="fc")
    sym = mx.sym.log_softmax(x, name="logp")
    with caplog.at_level(logging.WARNING):
        summary = assert_converts_exactly(sym, {"data": (3, 5)}, tmp_path, inputs=random_inputs({"data": (3, 5)}))
    assert layer_types(summary)[-2:] == ["Softmax", "Log"]
    assert "-inf" in caplog.text  # the float32 range limit of Log(Softmax) is not silent

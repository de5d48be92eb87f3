"""sum / mean / max / min / norm: real MXNet against OpenCV DNN and Caffe, relative max error
<= 1e-4 (harness.TOLERANCE) on every output."""

import json

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

from harness import (
    TOLERANCE,
    assert_converts_exactly,
    assert_rejected,
    backend_forward,
    layer_types,
    mxnet_forward,
    save_model,
)

REDUCTIONS = [mx.sym.sum, mx.sym.mean, mx.sym.max, mx.sym.min]


def as_head(sym: mx.sym.Symbol, shape) -> mx.sym.Symbol:
    """OpenCV DNN hands a 1-d output back as (n, 1): a 1-d result goes through a Reshape to
    (1, n) so that both runtimes are compared on the same shape (the reduction stays inside)."""
    _, (out_shape,), _ = sym.infer_shape(data=shape)
    return mx.sym.reshape(sym, shape=(1, -1), name="as_2d") if len(out_shape) == 1 else sym


@pytest.mark.parametrize("reduce", REDUCTIONS, ids=lambda op: op.__name__)
@pytest.mark.parametrize(
    "shape, attrs",
    [
        ((2, 3, 5, 7), {"axis": 1}),
        ((2, 3, 5, 7), {"axis": 1, "keepdims": True}),
        ((2, 3, 5, 7), {"axis": (2, 3), "keepdims": True}),  # global pooling, one layer
        ((2, 3, 5, 7), {"axis": (2, 3)}),
        ((2, 3, 5, 7), {"axis": -1}),
        ((2, 3, 5, 7), {"axis": -2, "keepdims": True}),
        ((2, 3, 5, 7), {"axis": (1, 3)}),  # axes apart
        ((2, 3, 5, 7), {"axis": (-4, 2)}),  # the batch axis too
        ((2, 3, 5, 7), {"axis": (1, 2, 3)}),
        ((2, 3, 5, 7), {}),  # every axis: shape (1,)
        ((2, 3, 5, 7), {"keepdims": True}),
        ((2, 3, 5, 7), {"axis": 1, "exclude": True}),
        ((2, 3, 5, 7), {"axis": (0, 3), "exclude": True, "keepdims": True}),
        ((2, 3, 1, 5), {"axis": (1, 3)}),  # a size-1 axis between
        ((2, 3, 5, 7), {"axis": (0, 1, 2, 3), "exclude": True}),  # reduces nothing
        ((2, 3, 3, 5, 2), {"axis": 1}),  # ResNeSt: (N, radix, C, H, W) over radix
        ((3, 5, 7), {"axis": -2}),
        ((4, 9), {"axis": 1}),
        ((4, 9), {"axis": 0, "keepdims": True}),
    ],
)
def test_reduction(tmp_path, reduce, shape, attrs):
    sym = as_head(reduce(mx.sym.Variable("data"), name="reduced", **attrs), shape)
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert "Reduction" not in layer_types(summary)  # OpenCV DNN 4.x cannot create it


def test_mean_of_a_large_tensor_is_reduced_axis_by_axis(tmp_path):
    """A float32 running sum over one window of all 50176 values put this mean (~7e-4, from
    zero-mean inputs) 1.6e-5 off, relative; one window per axis, 3.5e-6 (Caffe) and 2.2e-6
    (OpenCV). Held to 1e-5 here, tighter than the 1e-4 of the other tests, so that a return
    to the single window shows."""
    sym = mx.sym.mean(mx.sym.Variable("data"), keepdims=True, name="mean")
    summary = assert_converts_exactly(sym, {"data": (2, 512, 7, 7)}, tmp_path, tolerance=1e-5)
    assert layer_types(summary).count("Pooling") == 3  # H and W, channels, batch


def test_several_reductions_of_one_tensor_as_outputs(tmp_path):
    """Four heads reading the same input: each is its own chain, none disturbs another."""
    data = mx.sym.Variable("data")
    heads = [
        mx.sym.sum(data, axis=1, keepdims=True, name="channel_sum"),
        mx.sym.max(data, axis=(2, 3), name="spatial_max"),
        mx.sym.min(data, axis=-1, name="row_min"),
        mx.sym.mean(data, axis=(0, 2), keepdims=True, name="batch_row_mean"),
    ]
    summary = assert_converts_exactly(mx.sym.Group(heads), {"data": (2, 3, 5, 7)}, tmp_path)
    assert summary.outputs == {
        "channel_sum": (2, 1, 5, 7),
        "spatial_max": (2, 3),
        "row_min": (2, 3, 5),
        "batch_row_mean": (1, 3, 1, 7),
    }


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"axis": (2, 3), "keepdims": True}, ["Input", "Pooling"]),  # MXNet's global average pooling
        ({"axis": 3, "keepdims": True}, ["Input", "Pooling"]),
        ({"axis": 1}, ["Input", "Reshape", "Pooling", "Reshape"]),
    ],
)
def test_mean_layers(tmp_path, attrs, expected):
    sym = mx.sym.mean(mx.sym.Variable("data"), name="mean", **attrs)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5, 7)}, tmp_path)
    assert layer_types(summary) == expected


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize(
    "shape, attrs",
    [
        ((2, 3, 5, 7), {"axis": 1}),
        ((2, 3, 5, 7), {"axis": (2, 3), "keepdims": True}),
        ((2, 3, 5, 7), {"axis": (1, 3)}),
        ((2, 3, 5, 7), {}),
        ((4, 9), {"axis": -1, "keepdims": True}),
    ],
)
def test_norm(tmp_path, order, shape, attrs):
    sym = as_head(mx.sym.norm(mx.sym.Variable("data"), ord=order, name="norm", **attrs), shape)
    assert_converts_exactly(sym, {"data": shape}, tmp_path)


@pytest.mark.parametrize("legacy, op", [("sum_axis", "sum"), ("max_axis", "max"), ("min_axis", "min")])
def test_legacy_names(tmp_path, legacy, op):
    """Graphs may name the ops by their aliases, which MXNet runs as the op itself."""
    shape = (2, 3, 5, 7)
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), axis=2, name="reduced")
    graph = json.loads(sym.tojson())
    graph["nodes"][-1]["op"] = legacy
    symbol_path, params_path = save_model(sym, {}, {}, tmp_path)
    symbol_path.write_text(json.dumps(graph))
    summary = mxnet2caffe.convert(symbol_path, params_path, {"data": shape}, tmp_path / "converted")
    inputs = random_inputs({"data": shape})
    (want,) = mxnet_forward(symbol_path, params_path, inputs)
    assert want.shape == (2, 3, 7)
    for backend in BACKENDS:
        (got,) = backend_forward(backend, summary.prototxt, summary.caffemodel, inputs, list(summary.outputs))
        assert compare("reduced", got, want).within(TOLERANCE), backend


@pytest.mark.parametrize(
    "sym, message",
    [
        (mx.sym.sum(mx.sym.Variable("data"), axis=4), r"'axis' \(4,\) is out of range"),
        (mx.sym.max(mx.sym.Variable("data"), axis=(1, -3)), r"names an axis twice"),
        (mx.sym.norm(mx.sym.Variable("data"), ord=2, out_dtype="float16"), "out_dtype float16"),
    ],
)
def test_rejected(tmp_path, sym, message):
    assert_rejected(sym, {"data": (2, 3, 5, 7)}, tmp_path, message)


def split_attention(data: mx.sym.Symbol, channels: int, radix: int, spatial) -> mx.sym.Symbol:
    """ResNeSt's split-attention convolution (gluoncv's SplitAttentionConv, cardinality 1): a
    grouped conv to radix * channels, the radix splits summed, global pooling, two 1x1 convs,
    a softmax over the radix axis, the splits weighted by it and summed.

    Cardinality 1 makes rSoftMax's swapaxes(1, 2) of (N, 1, radix, C) a reshape to (N, radix, C),
    written as one here."""
    height, width = spatial
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=channels * radix, num_group=radix, name="conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    splits = mx.sym.reshape(mx.sym.expand_dims(x, axis=1), shape=(0, radix, -1, height, width), name="splits")
    gap = mx.sym.sum(splits, axis=1, name="gap_sum")
    gap = mx.sym.contrib.AdaptiveAvgPooling2D(gap, output_size=1, name="gap")
    gap = mx.sym.Convolution(gap, kernel=(1, 1), num_filter=channels // 2, name="fc1")
    gap = mx.sym.BatchNorm(gap, fix_gamma=False, eps=1e-5, name="bn1")
    gap = mx.sym.Activation(gap, act_type="relu", name="relu1")
    atten = mx.sym.Convolution(gap, kernel=(1, 1), num_filter=channels * radix, name="fc2")
    atten = mx.sym.softmax(mx.sym.reshape(atten, shape=(0, radix, -1)), axis=1, name="rsoftmax")
    atten = mx.sym.reshape(atten, shape=(0, radix, -1, 1, 1), name="atten")
    weighted = mx.sym.broadcast_mul(atten, splits, name="weighted")
    return mx.sym.sum(weighted, axis=1, name="out")


@pytest.mark.parametrize("radix", [2, 4])
def test_resnest_split_attention_block(tmp_path, radix):
    sym = split_attention(mx.sym.Variable("data"), channels=6, radix=radix, spatial=(5, 7))
    summary = assert_converts_exactly(sym, {"data": (2, 4, 5, 7)}, tmp_path)
    assert summary.outputs == {"out": (2, 6, 5, 7)}

"""The --fuse-bn net pass: BatchNorm + Scale folded into the Convolution / InnerProduct /
Deconvolution before them.

Three kinds of proof:
- structure, on small hand-built Nets: what is fused, what is left, names, NameMap, shapes, notes;
- numbers on hand-built Nets, fused against unfused, both run in real Caffe and real OpenCV DNN
  (Deconvolution has no converter yet, and Caffe-only details live here: a stored scale factor
  other than 1 or 0, an omitted eps, a Scale without bias);
- numbers on small MXNet graphs converted with fuse_bn=True against real MXNet, in both runtimes.
Every comparison: relative max error (max|a-b| / max|b|) <= TOLERANCE = 1e-4.
"""

import copy

import mxnet as mx
import numpy as np
import pytest

from mxnet2caffe import ConvertOptions
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.naming import NameMap
from mxnet2caffe.passes import fuse_batch_norm
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare

from harness import (
    TOLERANCE,
    assert_converts_exactly,
    backend_forward,
    layer_types,
)

FUSE = ConvertOptions(fuse_bn=True)
DATA_SHAPE = (2, 6, 7, 7)  # N, C, H, W of every hand-built net's input
CHANNELS = 6  # output channels of every hand-built producer


def conv_param(kind="Convolution", group=1, bias=True):
    """3x3, stride 2, pad 1: small, but every weight position matters."""
    weights = (DATA_SHAPE[1], CHANNELS // group) if kind == "Deconvolution" else (CHANNELS, DATA_SHAPE[1] // group)
    param = {"num_output": CHANNELS, "bias_term": bias, "kernel_h": 3, "kernel_w": 3,
             "stride_h": 2, "stride_w": 2, "pad_h": 1, "pad_w": 1, "group": group}
    return weights + (3, 3), {"convolution_param": param}


def producer(rng, kind="Convolution", group=1, bias=True):
    """(layer "conv" reading "data", its output shape)."""
    if kind == "InnerProduct":
        weight_shape = (CHANNELS, int(np.prod(DATA_SHAPE[1:])))
        params = {"inner_product_param": {"num_output": CHANNELS, "bias_term": bias}}
        shape = (DATA_SHAPE[0], CHANNELS)
    else:
        weight_shape, params = conv_param(kind, group, bias)
        size = 13 if kind == "Deconvolution" else 4  # (7 - 1) * 2 - 2 + 3, (7 + 2 - 3) // 2 + 1
        shape = (DATA_SHAPE[0], CHANNELS, size, size)
    blobs = [rng.normal(0, 0.3, weight_shape)]
    if bias:
        blobs.append(rng.normal(0, 0.5, CHANNELS))
    return Layer("conv", kind, ("data",), ("conv",), params, tuple(b.astype(np.float32) for b in blobs)), shape


def batch_norm_and_scale(rng, eps=1e-3, factor=1.0, scale_bias=True):
    """As converters/norm.py emits them for a node "bn", but with Caffe's freedoms: a stored
    scale factor (the statistics are stored multiplied by it), eps None = not written. Variances
    are of the order of eps and gammas far from 1, so dropping either shows in the output."""
    mean = rng.normal(0, 0.5, CHANNELS)
    var = rng.uniform(0.2, 3.0, CHANNELS) * (eps or 1e-5)
    # a factor of 0 makes Caffe take the statistics as 0, whatever is stored
    stored = factor or 1.0
    stats = (mean * stored, var * stored, np.array([factor]))
    bn_param = {"use_global_stats": True} if eps is None else {"use_global_stats": True, "eps": eps}
    gamma_beta = (rng.uniform(2.0, 4.0, CHANNELS), rng.normal(0, 0.5, CHANNELS))[: 2 if scale_bias else 1]
    return (
        Layer("bn/normalized", "BatchNorm", ("conv",), ("bn/normalized",), {"batch_norm_param": bn_param},
              tuple(s.astype(np.float32) for s in stats)),
        Layer("bn", "Scale", ("bn/normalized",), ("bn",), {"scale_param": {"bias_term": scale_bias}},
              tuple(g.astype(np.float32) for g in gamma_beta)),
    )


def conv_bn_relu(kind="Convolution", group=1, bias=True, seed=0, **bn):
    """data -> conv -> BatchNorm + Scale (node "bn") -> ReLU, as lowering leaves it."""
    rng = np.random.default_rng(seed)
    conv, shape = producer(rng, kind, group, bias)
    layers = [conv, *batch_norm_and_scale(rng, **bn), Layer("relu", "ReLU", ("bn",), ("relu",))]
    shapes = {"data": DATA_SHAPE, "conv": shape, "bn": shape, "relu": shape}
    names = NameMap([("conv_output", "conv"), ("bn_output", "bn"), ("relu_output", "relu")])
    return Net("hand_built", [Tensor("data", DATA_SHAPE)], layers, [Tensor("relu", shape)], shapes, names)


def layer(net, name):
    return next(candidate for candidate in net.layers if candidate.name == name)


# --- structure -------------------------------------------------------------------


def test_fused_layer_takes_the_scale_name_and_top():
    net = conv_bn_relu()
    conv, relu = layer(net, "conv"), layer(net, "relu")
    fuse_batch_norm.run(net, FUSE)
    assert [(lay.name, lay.type, lay.bottoms, lay.tops) for lay in net.layers] == [
        ("bn", "Convolution", ("data",), ("bn",)),
        ("relu", "ReLU", ("bn",), ("relu",)),
    ]
    assert net.layers[1] is relu  # downstream layers are untouched
    fused = net.layers[0]
    assert dict(fused.params["convolution_param"]) == dict(conv.params["convolution_param"])
    assert [blob.shape for blob in fused.blobs] == [conv.blobs[0].shape, (CHANNELS,)]
    assert all(blob.dtype == np.float32 for blob in fused.blobs)
    # the convolution's output and the normalized helper no longer exist
    assert net.names.as_dict() == {"bn_output": "bn", "relu_output": "relu"}
    assert set(net.shapes) == {"data", "bn", "relu"}
    assert net.outputs == [Tensor("relu", (2, CHANNELS, 4, 4))]
    assert net.notes == ["fused 1 BatchNorm layer(s) into the Convolution before them"]


def test_convolution_without_bias_gains_one():
    net = conv_bn_relu(bias=False)
    assert len(layer(net, "conv").blobs) == 1
    fuse_batch_norm.run(net, FUSE)
    fused = layer(net, "bn")
    assert fused.params["convolution_param"]["bias_term"] is True
    assert len(fused.blobs) == 2


def test_nothing_happens_without_the_option():
    net = conv_bn_relu()
    before = list(net.layers)
    fuse_batch_norm.run(net, ConvertOptions())
    assert net.layers == before and not net.notes


def test_scale_top_may_be_a_net_output():
    net = conv_bn_relu()
    net.outputs.append(Tensor("bn", net.shapes["bn"]))
    fuse_batch_norm.run(net, FUSE)
    assert [lay.type for lay in net.layers] == ["Convolution", "ReLU"]
    assert [t.blob for t in net.outputs] == ["relu", "bn"] and net.producer("bn").type == "Convolution"


def test_note_counts_every_fused_layer_and_names_the_producer_types():
    net = conv_bn_relu()
    fc = conv_bn_relu(kind="InnerProduct", seed=1)
    for lay in fc.layers:  # a second chain, fc -> fc_bn -> fc_relu, from data
        rename = {"conv": "fc", "bn/normalized": "fc_bn/normalized", "bn": "fc_bn", "relu": "fc_relu"}
        net.layers.append(Layer(rename[lay.name], lay.type, tuple(rename.get(b, b) for b in lay.bottoms),
                                tuple(rename[t] for t in lay.tops), lay.params, lay.blobs))
    net.shapes["fc"] = (DATA_SHAPE[0], CHANNELS)
    net.outputs.append(Tensor("fc_relu", (DATA_SHAPE[0], CHANNELS)))
    fuse_batch_norm.run(net, FUSE)
    assert [lay.type for lay in net.layers] == ["Convolution", "ReLU", "InnerProduct", "ReLU"]
    assert net.notes == ["fused 2 BatchNorm layer(s) into the Convolution/InnerProduct before them"]


def reader_of_conv(net):
    net.layers.append(Layer("other", "Power", ("conv",), ("other",)))
    net.outputs.append(Tensor("other", net.shapes["conv"]))


def conv_is_output(net):
    net.outputs.append(Tensor("conv", net.shapes["conv"]))


def reader_of_normalized(net):
    net.layers.append(Layer("other", "Power", ("bn/normalized",), ("other",)))
    net.outputs.append(Tensor("other", net.shapes["conv"]))


def normalized_is_output(net):
    net.outputs.append(Tensor("bn/normalized", net.shapes["conv"]))


def relu_instead_of_scale(net):
    net.replace([layer(net, "bn")], [Layer("bn", "ReLU", ("bn/normalized",), ("bn",))])


def scale_by_a_blob(net):
    net.replace([layer(net, "bn")], [Layer("bn", "Scale", ("bn/normalized", "data"), ("bn",))])


def scale_along_axis_2(net):
    scale = layer(net, "bn")
    net.replace([scale], [Layer("bn", "Scale", scale.bottoms, scale.tops, {"scale_param": {"axis": 2}}, scale.blobs)])


def scale_over_two_axes(net):
    scale = layer(net, "bn")
    gamma = np.ones(net.shapes["conv"][1:3], np.float32)
    net.replace([scale], [Layer("bn", "Scale", scale.bottoms, scale.tops, {"scale_param": {"num_axes": 2}}, (gamma,))])


def batch_statistics(net):
    bn = layer(net, "bn/normalized")
    net.replace([bn], [Layer(bn.name, bn.type, bn.bottoms, bn.tops, {"batch_norm_param": {"use_global_stats": False}},
                             bn.blobs)])


def pooling_before(net):
    pool = Layer("conv", "Pooling", ("data",), ("conv",), {"pooling_param": {"pool": "MAX"}})
    net.replace([layer(net, "conv")], [pool])


def convolution_along_axis_2(net):
    conv = layer(net, "conv")
    param = {"convolution_param": {**conv.params["convolution_param"], "axis": 2}}
    net.replace([conv], [Layer("conv", conv.type, conv.bottoms, conv.tops, param, conv.blobs)])


def inner_product_on_last_axis(net):
    """InnerProduct with axis 2 on (N, 6, 49): (N, 6, units), so BatchNorm's axis 1 is not the units."""
    ip = layer(net, "conv")
    param = {"inner_product_param": {**ip.params["inner_product_param"], "axis": 2}}
    net.replace([ip], [Layer("conv", ip.type, ip.bottoms, ip.tops, param, ip.blobs)])
    net.shapes["conv"] = (DATA_SHAPE[0], 6, CHANNELS)


@pytest.mark.parametrize(
    "kind, edit",
    [
        ("Convolution", reader_of_conv),
        ("Convolution", conv_is_output),
        ("Convolution", reader_of_normalized),
        ("Convolution", normalized_is_output),
        ("Convolution", relu_instead_of_scale),
        ("Convolution", scale_by_a_blob),
        ("Convolution", scale_along_axis_2),
        ("Convolution", scale_over_two_axes),
        ("Convolution", batch_statistics),
        ("Convolution", pooling_before),
        ("Convolution", convolution_along_axis_2),
        ("InnerProduct", inner_product_on_last_axis),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_not_fused(kind, edit):
    net = conv_bn_relu(kind)
    edit(net)
    before, names = list(net.layers), net.names.as_dict()
    fuse_batch_norm.run(net, FUSE)
    assert net.layers == before and net.names.as_dict() == names
    assert net.notes == [
        "left 1 BatchNorm layer(s) unfused (no Convolution/InnerProduct/Deconvolution output read by them "
        "alone, or no Scale alone after them): bn/normalized"
    ]


# --- numbers: hand-built nets, fused against unfused, in real Caffe and OpenCV ----------


@pytest.mark.parametrize(
    "kind, group, bias, bn",
    [
        ("Convolution", 1, True, {}),
        ("Convolution", 1, False, {"eps": 1e-5}),
        ("Convolution", 2, True, {"factor": 0.25}),  # statistics stored multiplied by 0.25
        ("Convolution", 6, False, {"eps": None}),  # depthwise; Caffe's default eps 1e-5
        ("Convolution", 3, True, {"factor": 0.0}),  # Caffe then takes mean and variance as 0
        ("Convolution", 1, True, {"scale_bias": False}),
        ("InnerProduct", 1, True, {}),
        ("InnerProduct", 1, False, {"factor": 4.0}),
        ("Deconvolution", 1, True, {}),
        ("Deconvolution", 2, False, {}),  # output channel g*3 + j lives at weight[g*3:(g+1)*3, j]
        ("Deconvolution", 3, True, {"factor": 0.5, "eps": 0.1}),
        ("Deconvolution", 6, True, {}),
    ],
)
def test_fused_net_computes_what_the_unfused_one_does(tmp_path, kind, group, bias, bn):
    net = conv_bn_relu(kind, group, bias, **bn)
    unfused = copy.deepcopy(net)
    fuse_batch_norm.run(net, FUSE)
    assert [lay.type for lay in net.layers] == [kind, "ReLU"]
    inputs = {"data": np.random.default_rng(5).normal(0, 1, DATA_SHAPE).astype(np.float32)}
    # the reference is the unfused net in Caffe: OpenCV 4.11 folds BatchNorm into a grouped
    # Deconvolution wrongly itself (relative error up to 0.6 on these unfused nets)
    (want,) = backend_forward("caffe", *write_net(unfused, tmp_path / "unfused"), inputs, ["relu"])
    assert np.count_nonzero(want) > want.size // 4  # the ReLU leaves enough to compare
    fused_files = write_net(net, tmp_path / "fused")
    for backend in BACKENDS:
        (got,) = backend_forward(backend, *fused_files, inputs, ["relu"])
        result = compare("relu", got, want)
        assert result.within(TOLERANCE), f"{backend}: relative max error {result.relative_error:.3g}"


# --- numbers: MXNet graphs converted with fuse_bn=True, against MXNet --------------------

DATA = mx.sym.Variable("data")


def conv(x, num_filter=8, **attrs):
    return mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=num_filter, name="conv", **attrs)


def bn(x, name="bn", fix_gamma=False, eps=0.1):
    """eps 0.1 against variances in 0.5..2 (harness.random_params): a lost eps shows."""
    return mx.sym.BatchNorm(x, fix_gamma=fix_gamma, eps=eps, name=name)


def relu(x):
    return mx.sym.Activation(x, act_type="relu", name="relu")


def conv_read_by_bn_and_add():
    c = conv(DATA)
    return bn(c) + c


def bn_read_by_relu_and_a_head():
    b = bn(conv(DATA))
    return mx.sym.Group([b, relu(b)])


GRAPHS = {
    # name: (graph, input shape, BatchNorm layers fused, BatchNorm layers left)
    "conv_bn_relu": (relu(bn(conv(DATA))), (2, 4, 9, 9), 1, 0),
    "conv_without_bias": (bn(conv(DATA, no_bias=True)), (2, 4, 9, 9), 1, 0),
    # gamma = 1 whatever is stored (random gammas are 0.5..1.5)
    "fix_gamma": (relu(bn(conv(DATA), fix_gamma=True)), (2, 4, 9, 9), 1, 0),
    "grouped_strided": (bn(conv(DATA, num_group=2, stride=(2, 2))), (2, 4, 9, 9), 1, 0),
    "depthwise": (relu(bn(conv(DATA, num_filter=6, num_group=6, no_bias=True))), (2, 6, 9, 9), 1, 0),
    "fully_connected": (bn(mx.sym.FullyConnected(DATA, num_hidden=10, name="fc")), (2, 3, 4, 4), 1, 0),
    "conv_also_read_by_add": (conv_read_by_bn_and_add(), (2, 4, 9, 9), 0, 1),
    "bn_on_the_input": (relu(bn(DATA)), (2, 4, 9, 9), 0, 1),
    # the BatchNorm's output is a head and read by the ReLU: the fused layer produces it
    "bn_is_a_head_too": (bn_read_by_relu_and_a_head(), (2, 4, 9, 9), 1, 0),
    "two_blocks": (
        bn(mx.sym.Convolution(relu(bn(conv(DATA))), kernel=(1, 1), num_filter=5, name="conv2"), name="bn2"),
        (2, 4, 9, 9), 2, 0),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_converted_with_fuse_bn_matches_mxnet(tmp_path, name):
    sym, shape, fused, left = GRAPHS[name]
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, options=FUSE)
    types = layer_types(summary)
    assert types.count("BatchNorm") == left and types.count("Scale") == left
    assert any(f"fused {fused} BatchNorm layer(s)" in note for note in summary.notes) == (fused > 0)
    assert any(f"left {left} BatchNorm layer(s) unfused" in note for note in summary.notes) == (left > 0)
    if fused:  # the convolution's output no longer exists; the BatchNorm's keeps its blob
        assert not {"conv_output", "conv2_output", "fc_output"} & set(summary.names)
        # (a head that a layer also reads is compared in its terminal copy: the same values)
        assert summary.names["bn_output"] == ("bn/output" if name == "bn_is_a_head_too" else "bn")


def test_inner_product_with_3d_output_is_left_alone(tmp_path):
    """(N, 5, 10): BatchNorm normalizes axis 1, the 5 rows, not the 10 units, so it stays; the
    guard pass keeps OpenCV from folding it into the InnerProduct wrongly itself."""
    sym = bn(mx.sym.FullyConnected(DATA, num_hidden=10, flatten=False, name="fc"))
    summary = assert_converts_exactly(sym, {"data": (2, 5, 7)}, tmp_path, options=FUSE)
    assert layer_types(summary) == ["Input", "InnerProduct", "Reshape", "BatchNorm", "Scale"]
    assert any("left 1 BatchNorm layer(s) unfused" in note for note in summary.notes)

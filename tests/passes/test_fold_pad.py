"""passes/fold_pad.py: a zero padding (the Pad converter's depthwise Convolution of ones) merged
into the Convolution or Pooling that reads it alone, where exact.

Three kinds of proof:
- structure, on small hand-built Nets: what folds, what is left and why, names, NameMap, notes;
- numbers on hand-built Nets, folded against unfolded, both run in real Caffe and real OpenCV;
- numbers on MXNet graphs with Pad, converted with the pass run first (as NET_PASSES will run it)
  and compared with real MXNet in both runtimes.
Every comparison: relative max error (max|a-b| / max|b|) <= TOLERANCE = 1e-4.
"""

import dataclasses

import mxnet as mx
import numpy as np
import pytest
from small_nets import assert_same_outputs, conv, net_of, random_weight

from mxnet2caffe import ConvertOptions
from mxnet2caffe.caffe.net import Layer, Net
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.converters.pad import zero_pad_convolution
from mxnet2caffe.lower import lower
from mxnet2caffe.mxnet.params import read_params
from mxnet2caffe.mxnet.symbol import read_symbol
from mxnet2caffe.passes import NET_PASSES, fold_pad, pooling_rounding
from mxnet2caffe.pipeline import run_graph_passes
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare

from harness import TOLERANCE, backend_forward, mxnet_forward, random_params, save_model

OPTIONS = ConvertOptions()
SHAPE = (2, 3, 6, 7)  # N, C, H, W of the hand-built nets' input


def zero_pad(name: str, bottom: str, pad_h: int, pad_w: int, channels: int = SHAPE[1]) -> Layer:
    type_, params, blobs = zero_pad_convolution(channels, pad_h, pad_w)
    return Layer(name, type_, (bottom,), (name,), params, blobs)


def pool(name: str, bottom: str, method: str, kernel: int, stride: int, **extra) -> Layer:
    param = {"pool": method, "kernel_h": kernel, "kernel_w": kernel, "stride_h": stride, "stride_w": stride}
    param.update({"pad_h": 0, "pad_w": 0, **extra})
    return Layer(name, "Pooling", (bottom,), (name,), {"pooling_param": param})


def relu(name: str, bottom: str) -> Layer:
    return Layer(name, "ReLU", (bottom,), (name,))


def conv3x3(bottom: str = "pad", pad: int = 0) -> Layer:
    return conv("conv", bottom, random_weight((4, SHAPE[1], 3, 3), seed=1), np.zeros(4, np.float32), pad=pad)


def with_shapes(net: Net) -> Net:
    """The shapes of ReLU and padding outputs (fold_pad reads the shape a Pooling's padding frames,
    pooling_rounding the shape of a Pooling's input)."""
    for layer in net.layers:
        shape = net.shapes.get(layer.bottoms[0])
        pads = fold_pad.zero_padding(layer)
        if shape is not None and pads is not None:
            net.shapes[layer.tops[0]] = shape[:2] + (shape[2] + 2 * pads[0], shape[3] + 2 * pads[1])
        elif shape is not None and layer.type == "ReLU":
            net.shapes[layer.tops[0]] = shape
    return net


def strided_dilated_conv(bottom: str) -> Layer:
    layer = conv("conv", bottom, random_weight((4, SHAPE[1], 3, 3), seed=2), pad=1)
    param = {**layer.params["convolution_param"], "stride_h": 2, "stride_w": 2, "dilation": [2]}
    return dataclasses.replace(layer, params={"convolution_param": param})


def signed_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


def test_folds_into_the_convolution_reading_it():
    net = fold_pad.run(net_of(SHAPE, [zero_pad("pad", "data", 1, 2), conv3x3()]), OPTIONS)
    assert [(layer.name, layer.bottoms) for layer in net.layers] == [("conv", ("data",))]
    param = net.layers[0].params["convolution_param"]
    assert (param["pad_h"], param["pad_w"]) == (1, 2)
    assert net.names.blob("pad_output") is None and net.names.blob("conv_output") == "conv"
    assert net.notes == ["folded 1 zero padding(s) into the Convolution or Pooling reading them"]


def test_pads_add_up_and_chains_fold_whole():
    layers = [zero_pad("pad", "data", 1, 0), zero_pad("pad2", "pad", 2, 1), conv3x3("pad2", pad=1)]
    net = fold_pad.run(net_of(SHAPE, layers), OPTIONS)
    assert [layer.name for layer in net.layers] == ["conv"]
    param = net.layers[0].params["convolution_param"]
    assert (param["pad_h"], param["pad_w"]) == (4, 2)
    assert net.notes == ["folded 2 zero padding(s) into the Convolution or Pooling reading them"]


def test_convolution_pad_as_repeated_field():
    reader = conv3x3()
    param = {key: value for key, value in reader.params["convolution_param"].items() if key not in ("pad_h", "pad_w")}
    reader = dataclasses.replace(reader, params={"convolution_param": {**param, "pad": [2]}})
    net = fold_pad.run(net_of(SHAPE, [zero_pad("pad", "data", 1, 1), reader]), OPTIONS)
    param = net.layers[0].params["convolution_param"]
    assert "pad" not in param and (param["pad_h"], param["pad_w"]) == (3, 3)


def _with_weights(layer: Layer, weights: np.ndarray) -> Layer:
    return dataclasses.replace(layer, blobs=(weights,))


def _with_param(layer: Layer, **changes) -> Layer:
    return dataclasses.replace(layer, params={"convolution_param": {**layer.params["convolution_param"], **changes}})


PAD = zero_pad("pad", "data", 1, 1)

# hand-built nets (input SHAPE) in which the padding "pad" must stay
NOT_FOLDED = {
    "read by two layers": [PAD, conv3x3(), relu("relu", "pad")],
    "a net output": [PAD, conv3x3(), relu("relu", "data")],  # made an output below
    "weights not all one": [_with_weights(PAD, np.full((3, 1, 1, 1), 2, np.float32)), conv3x3()],
    "with a bias": [_with_param(PAD, bias_term=True), conv3x3()],
    "strided": [_with_param(PAD, stride_h=2, stride_w=2), conv3x3()],
    "no padding": [zero_pad("pad", "data", 0, 0), conv3x3()],
    "read by a Deconvolution": [PAD, dataclasses.replace(conv3x3(), type="Deconvolution")],
    "MAX pooling of values that may be negative": [PAD, pool("pool", "pad", "MAX", 3, 2)],
    "pooling with its own pad": [PAD, pool("pool", "pad", "AVE", 3, 2, pad_h=1, pad_w=1)],
    "pad not below the kernel": [zero_pad("pad", "data", 2, 2), pool("pool", "pad", "AVE", 2, 2)],
    # W=7 padded by 1, k2 s2: 5 windows over 9 columns; Caffe's pad-1 form drops the 5th (it starts in the pad)
    "pooling size would change": [PAD, pool("pool", "pad", "AVE", 2, 2)],
    "global pooling": [
        PAD,
        Layer("pool", "Pooling", ("pad",), ("pool",), {"pooling_param": {"pool": "AVE", "global_pooling": True}}),
    ],
}


@pytest.mark.parametrize("case", NOT_FOLDED)
def test_not_folded(case):
    layers = NOT_FOLDED[case]
    net = with_shapes(net_of(SHAPE, layers))
    if case == "a net output":
        net.outputs.append(dataclasses.replace(net.outputs[0], blob="pad"))
    net = fold_pad.run(net, OPTIONS)
    assert [layer.name for layer in net.layers] == [layer.name for layer in layers]
    assert net.notes == []


# (name, layers of a net reading "data" of SHAPE, input) folded; the numbers must not change
FOLDED = [
    ("conv", [zero_pad("pad", "data", 1, 2), conv3x3()], signed_input()),
    ("strided dilated conv", [zero_pad("pad", "data", 2, 1), strided_dilated_conv("pad")], signed_input()),
    (
        "depthwise conv",
        [zero_pad("pad", "data", 1, 1), conv("conv", "pad", random_weight((3, 1, 3, 3), 3), group=3)],
        signed_input(),
    ),
    ("AVE pooling", [zero_pad("pad", "data", 1, 1), pool("pool", "pad", "AVE", 3, 2)], signed_input()),
    # rows: windows at 0, 3, 6 of the 8 padded rows, the last clipped to 2
    (
        "AVE pooling, clipped last window",
        [zero_pad("pad", "data", 1, 1), pool("pool", "pad", "AVE", 3, 3)],
        signed_input(),
    ),
    (
        "AVE pooling rounded down",
        [zero_pad("pad", "data", 1, 1), pool("pool", "pad", "AVE", 2, 2, ceil_mode=False)],
        signed_input(),
    ),
    (
        "MAX pooling after ReLU",
        [relu("relu", "data"), zero_pad("pad", "relu", 1, 1), pool("pool", "pad", "MAX", 3, 2)],
        signed_input(),
    ),
    (
        "MAX pooling after ReLU, clipped",
        [relu("relu", "data"), zero_pad("pad", "relu", 1, 1), pool("pool", "pad", "MAX", 3, 3)],
        signed_input(),
    ),
]


@pytest.mark.parametrize("name, layers, data", FOLDED, ids=[case[0] for case in FOLDED])
def test_folded_net_computes_what_the_unfolded_one_does(tmp_path, name, layers, data):
    before = with_shapes(net_of(SHAPE, layers))
    after = fold_pad.run(with_shapes(net_of(SHAPE, layers)), OPTIONS)
    assert "pad" not in [layer.name for layer in after.layers]
    if name == "AVE pooling rounded down":  # Caffe master has no ceil_mode: the portable form
        before, after = (pooling_rounding.run(net, OPTIONS) for net in (before, after))
    assert_same_outputs(before, {"data": data}, after, {"data": data}, tmp_path)


def _convert_with_fold_pad(sym, shapes, directory):
    """The converter's Net with fold_pad run before the other net passes (where it belongs in
    NET_PASSES), written; returns the Net, its files and the saved MXNet model's files."""
    args, aux = random_params(sym, shapes)
    symbol_path, params_path = save_model(sym, args, aux, directory)
    graph = run_graph_passes(read_symbol(symbol_path), OPTIONS)
    net = lower(graph, read_params(params_path), shapes, OPTIONS, "model")
    for net_pass in (fold_pad.run,) + NET_PASSES:
        net = net_pass(net, OPTIONS)
    prototxt, caffemodel = write_net(net, directory / "folded")
    return net, prototxt, caffemodel, symbol_path, params_path


def _stage(pad_width, reader: str):
    """conv, relu, Pad, then the reader (a conv, a max or an avg pooling)."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.relu(x, name="relu")
    x = mx.sym.Pad(x, mode="constant", pad_width=(0, 0, 0, 0) + pad_width, name="pad")
    if reader == "conv":
        return mx.sym.Convolution(x, kernel=(3, 3), stride=(2, 2), num_filter=5, name="reader")
    return mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type=reader, name="reader")


@pytest.mark.parametrize(
    "pad_width, reader, folds",
    [
        ((1, 1, 1, 1), "conv", True),
        ((2, 2, 1, 1), "conv", True),
        ((1, 1, 1, 1), "max", True),  # after a ReLU
        ((1, 1, 1, 1), "avg", True),
        ((0, 1, 0, 1), "max", False),  # asymmetric: the Crop form stays
        ((0, 1, 0, 1), "conv", False),
    ],
)
def test_converted_with_fold_pad_matches_mxnet(tmp_path, pad_width, reader, folds):
    sym = _stage(pad_width, reader)
    shapes = {"data": (2, 3, 11, 10)}
    net, prototxt, caffemodel, symbol_path, params_path = _convert_with_fold_pad(sym, shapes, tmp_path)
    assert ("pad" not in [layer.name for layer in net.layers]) == folds
    assert any("folded 1 zero padding" in note for note in net.notes) == folds
    inputs = {"data": np.random.default_rng(7).standard_normal(shapes["data"]).astype(np.float32)}
    (want,) = mxnet_forward(symbol_path, params_path, inputs)
    outputs = [tensor.blob for tensor in net.outputs]
    for runtime in BACKENDS:
        (got,) = backend_forward(runtime, prototxt, caffemodel, inputs, outputs)
        result = compare(outputs[0], got, want)
        assert got.shape == want.shape and result.within(TOLERANCE), (runtime, result.relative_error)

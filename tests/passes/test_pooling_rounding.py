"""passes/pooling_rounding.py: MXNet's rounded-down pooling in the form of each profile."""

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.reader import read_prototxt
from mxnet2caffe.naming import NameMap
from mxnet2caffe.passes import pooling_rounding

from harness import assert_converts_exactly, layer_types

OPENCV = mxnet2caffe.ConvertOptions(profile="opencv")
PORTABLE = mxnet2caffe.ConvertOptions()


def floor_pooling_net() -> Net:
    """data 1x2x7x7 -> max pool k2 s2 (Caffe 4x4, MXNet 3x3) -> relu."""
    pool = Layer(
        "pool", "Pooling", ("data",), ("pool",),
        {"pooling_param": {"pool": "MAX", "kernel_h": 2, "kernel_w": 2, "stride_h": 2, "stride_w": 2,
                           "pad_h": 0, "pad_w": 0, "ceil_mode": False}},
    )
    relu = Layer("relu", "ReLU", ("pool",), ("relu",))
    return Net(
        "t", inputs=[Tensor("data", (1, 2, 7, 7))], layers=[pool, relu], outputs=[Tensor("relu", (1, 2, 3, 3))],
        shapes={"data": (1, 2, 7, 7), "pool": (1, 2, 3, 3), "relu": (1, 2, 3, 3)},
        names=NameMap([("pool_output", "pool"), ("relu_output", "relu")]),
    )


def test_portable_crops_against_a_reference_of_the_floor_size():
    net = pooling_rounding.run(floor_pooling_net(), PORTABLE)
    assert [(layer.type, layer.name) for layer in net.layers] == [
        ("Pooling", "pool/ceil"), ("Pooling", "pool/floor_size"), ("Crop", "pool"), ("ReLU", "relu"),
    ]
    pool, reference, crop, _ = net.layers
    assert "ceil_mode" not in pool.params["pooling_param"]
    assert reference.bottoms == ("pool/ceil",)
    assert reference.params["pooling_param"] == {
        "pool": "MAX", "kernel_h": 2, "kernel_w": 2, "stride_h": 1, "stride_w": 1,
    }
    assert crop.bottoms == ("pool/ceil", "pool/floor_size") and crop.tops == ("pool",)
    assert crop.params == {"crop_param": {"axis": 2, "offset": [0]}}
    assert net.shapes["pool/ceil"] == (1, 2, 4, 4) and net.shapes["pool/floor_size"] == (1, 2, 3, 3)
    assert net.names.blob("pool_output") == "pool"
    assert net.notes == ["1 Pooling layer(s) cut to MXNet's rounded-down size with Crop"]


def test_portable_shortens_only_the_axis_that_differs():
    net = floor_pooling_net()
    net.inputs = [Tensor("data", (1, 2, 7, 8))]
    net.shapes["data"] = (1, 2, 7, 8)  # columns: Caffe and MXNet both give 4
    net = pooling_rounding.run(net, PORTABLE)
    reference = net.layers[1].params["pooling_param"]
    assert (reference["kernel_h"], reference["kernel_w"]) == (2, 1)
    assert net.shapes["pool/floor_size"] == (1, 2, 3, 4)


def test_opencv_keeps_one_layer_with_ceil_mode_false():
    net = pooling_rounding.run(floor_pooling_net(), OPENCV)
    assert [layer.type for layer in net.layers] == ["Pooling", "ReLU"]
    assert net.layers[0].params["pooling_param"]["ceil_mode"] is False
    assert "opencv" in net.notes[0]


def test_helper_names_never_collide():
    net = floor_pooling_net()
    taken = Layer("pool/ceil", "ReLU", ("relu",), ("pool/ceil",))
    net.layers.append(taken)
    net = pooling_rounding.run(net, PORTABLE)
    assert [layer.name for layer in net.layers][:3] == ["pool/ceil_2", "pool/floor_size", "pool"]


# (kernel, stride, pad, (H, W)) where MXNet's 'valid' output is smaller than Caffe's
FLOORED = [
    ((2, 2), (2, 2), (0, 0), (7, 7)),
    ((3, 3), (2, 2), (1, 1), (6, 6)),
    ((3, 3), (3, 3), (0, 0), (8, 8)),
    ((3, 3), (3, 3), (1, 1), (9, 8)),  # rows only
    ((3, 2), (2, 1), (0, 0), (8, 6)),  # non-square
]


@pytest.mark.parametrize("profile", ["portable", "opencv"])
@pytest.mark.parametrize("pool_type, include_pad", [("max", True), ("avg", True), ("avg", False), ("sum", True)])
@pytest.mark.parametrize("kernel, stride, pad, size", FLOORED)
def test_both_profiles_match_mxnet(tmp_path, profile, pool_type, include_pad, kernel, stride, pad, size):
    """In real OpenCV and the reference Caffe (an SSD-family fork reading field 13 as ceil_mode)."""
    sym = mx.sym.Pooling(
        mx.sym.Variable("data"), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
        count_include_pad=include_pad, name="pool",
    )
    options = mxnet2caffe.ConvertOptions(profile=profile)
    summary = assert_converts_exactly(sym, {"data": (2, 3) + size}, tmp_path, options=options)
    poolings = [layer for layer in read_prototxt(summary.prototxt).layer if layer.type == "Pooling"]
    if profile == "opencv":
        assert len(poolings) == 1 and poolings[0].pooling_param.HasField("ceil_mode")
        assert not poolings[0].pooling_param.ceil_mode
    else:
        assert len(poolings) == 2 and not any(p.pooling_param.HasField("ceil_mode") for p in poolings)
        assert "Crop" in layer_types(summary)


def test_resnet_stem_in_a_network(tmp_path):
    """conv 7x7/2 then max pool 3x3/2 pad 1 on 112: the ResNet stem where Caffe and MXNet differ."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(7, 7), stride=(2, 2), pad=(3, 3), num_filter=8, name="conv0")
    x = mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name="pool0")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=4, name="conv1")
    inputs = {"data": np.random.default_rng(1).standard_normal((1, 3, 112, 112)).astype(np.float32)}
    summary = assert_converts_exactly(x, {"data": (1, 3, 112, 112)}, tmp_path, inputs=inputs)
    assert summary.outputs == {"conv1": (1, 4, 28, 28)}

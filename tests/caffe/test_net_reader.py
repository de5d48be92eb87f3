"""read_net: a Caffe model read back into the Net IR. What our writer writes reads back as the
same layers, params and weights; the hand-written forms (net-level inputs, kernel_size/pad/stride,
in-place layers) read as the writer's forms with one name per value."""

import numpy as np
import pytest
from caffe_models import hand_written

from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.net_reader import read_net
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.errors import ConversionError

RNG = np.random.default_rng(3)
CONV = {"convolution_param": {"num_output": 4, "kernel_h": 3, "kernel_w": 1, "pad_h": 1, "stride_w": 2, "group": 2}}
POOL = {"pooling_param": {"pool": "AVE", "kernel_h": 2, "kernel_w": 2, "stride_h": 2, "stride_w": 2, "ceil_mode": False}}
SCALE = {"scale_param": {"axis": 0, "bias_term": True}}
RESHAPE = {"reshape_param": {"shape": {"dim": [0, -1]}, "axis": 1}}


def written_net() -> Net:
    weight, bias = RNG.normal(size=(4, 1, 3, 1)).astype(np.float32), RNG.normal(size=4).astype(np.float32)
    layers = [
        Layer("conv", "Convolution", ("data",), ("conv",), CONV, (weight, bias)),
        Layer("pool", "Pooling", ("conv",), ("pool",), POOL),
        Layer("split", "Slice", ("pool",), ("a", "b"), {"slice_param": {"slice_point": [1]}}),
        Layer("flat", "Reshape", ("b",), ("flat",), RESHAPE),
        Layer("gate", "MXBroadcastMul", ("a", "pool"), ("gate",)),
    ]
    return Net("written", inputs=[Tensor("data", (1, 2, 7, 8))], layers=layers)


def test_what_the_writer_writes_reads_back_the_same(tmp_path):
    net = written_net()
    read = read_net(*write_net(net, tmp_path / "net"))
    assert read.name == "written"
    assert read.inputs == net.inputs and read.shapes == {"data": (1, 2, 7, 8)}
    def fields(layer):
        return layer.name, layer.type, layer.bottoms, layer.tops, layer.params

    assert [fields(layer) for layer in read.layers] == [fields(layer) for layer in net.layers]
    for got, want in zip(read.layers, net.layers):
        assert len(got.blobs) == len(want.blobs)
        for got_blob, want_blob in zip(got.blobs, want.blobs):
            assert got_blob.dtype == np.float32 and np.array_equal(got_blob, want_blob)
    assert [t.blob for t in read.outputs] == ["flat", "gate"]  # the tops no layer reads


def test_enums_and_floats_read_as_the_writer_takes_them(tmp_path):
    layers = [Layer("lrn", "LRN", ("data",), ("lrn",), {"lrn_param": {"norm_region": "WITHIN_CHANNEL", "alpha": 0.25}})]
    read = read_net(*write_net(Net("n", inputs=[Tensor("data", (1, 2, 3, 3))], layers=layers), tmp_path / "net"))
    assert read.layers[0].params == {"lrn_param": {"norm_region": "WITHIN_CHANNEL", "alpha": 0.25}}


def test_hand_written_forms_read_as_the_writers(tmp_path):
    read = read_net(*hand_written(tmp_path))
    assert read.inputs == [Tensor("data", (1, 2, 7, 8))]
    conv, relu, pool, scale, again = read.layers
    assert conv.params == {"convolution_param": {"num_output": 4, "kernel_h": 3, "kernel_w": 3, "pad_h": 1, "pad_w": 1, "stride_h": 2, "stride_w": 1}}
    assert pool.params == {"pooling_param": {"pool": "MAX", "kernel_h": 3, "kernel_w": 3, "stride_h": 2, "stride_w": 2, "pad_h": 1, "pad_w": 0}}
    assert [w.shape for w in conv.blobs] == [(4, 2, 3, 3), (4,)]


def test_in_place_layers_get_one_name_per_value_the_last_keeps_the_blobs(tmp_path):
    """After a forward pass in Caffe, blob "pool" holds what the last in-place layer wrote."""
    read = read_net(*hand_written(tmp_path))
    assert [(layer.name, layer.bottoms, layer.tops) for layer in read.layers] == [
        ("conv", ("data",), ("conv/inplace",)),
        ("relu", ("conv/inplace",), ("conv",)),
        ("pool", ("conv",), ("pool/inplace",)),
        ("scale", ("pool/inplace",), ("pool/inplace_2",)),
        ("again", ("pool/inplace_2",), ("pool",)),
    ]
    assert [t.blob for t in read.outputs] == ["pool"]


def test_input_shape_blocks_and_input_layers(tmp_path):
    text = 'input: "a" input_shape { dim: 1 dim: 3 } layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 2 dim: 3 } } }\n'
    text += 'layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" }'
    read = read_net(*hand_written(tmp_path, text))
    assert read.inputs == [Tensor("a", (1, 3)), Tensor("b", (2, 3))]
    assert read.shapes == {"a": (1, 3), "b": (2, 3)}


@pytest.mark.parametrize(
    "text, match",
    [
        ('input: "a" layer { name: "r" type: "ReLU" bottom: "a" top: "r" }', r"net-level inputs \['a'\] come with 0 shapes"),
        ('input: "a" input_dim: 1 layer { name: "r" type: "ReLU" bottom: "x" top: "r" }', "blob 'x' is read before"),
    ],
)
def test_bad_models_are_named(tmp_path, text, match):
    with pytest.raises(ConversionError, match=match):
        read_net(*hand_written(tmp_path, text))

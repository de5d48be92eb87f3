"""passes/opencv_fusion_guards.py: BatchNorms OpenCV would fuse wrongly get a Reshape before them."""

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.options import ConvertOptions
from mxnet2caffe.passes import opencv_fusion_guards

from harness import assert_converts_exactly, layer_types


def net_with(producer: Layer) -> Net:
    batch_norm = Layer("bn/normalized", "BatchNorm", ("up",), ("bn/normalized",))
    return Net("t", inputs=[Tensor("data", (1, 4, 5, 5))], layers=[producer, batch_norm],
               shapes={"data": (1, 4, 5, 5), "up": (1, 4, 10, 10)})


@pytest.mark.parametrize(
    "producer, guarded",
    [
        (Layer("up", "Deconvolution", ("data",), ("up",), {"convolution_param": {"group": 4}}), True),
        (Layer("up", "Deconvolution", ("data",), ("up",), {"convolution_param": {"group": 1}}), False),
        (Layer("up", "InnerProduct", ("data",), ("up",), {"inner_product_param": {"axis": 2}}), True),
        (Layer("up", "InnerProduct", ("data",), ("up",), {"inner_product_param": {"axis": 1}}), False),
        (Layer("up", "Convolution", ("data",), ("up",), {"convolution_param": {"group": 4}}), False),
    ],
)
def test_only_the_misfused_pairs_are_guarded(producer, guarded):
    net = opencv_fusion_guards.run(net_with(producer), ConvertOptions())
    if guarded:
        assert [(layer.type, layer.bottoms) for layer in net.layers] == [
            (producer.type, ("data",)), ("Reshape", ("up",)), ("BatchNorm", ("up/unfused",)),
        ]
        assert net.layers[1].params == {"reshape_param": {"shape": {"dim": [0]}, "num_axes": 1}}
        assert net.shapes["up/unfused"] == (1, 4, 10, 10) and "OpenCV would fuse" in net.notes[0]
    else:
        assert [layer.type for layer in net.layers] == [producer.type, "BatchNorm"] and not net.notes


@pytest.mark.parametrize("sample_type", ["nearest", "bilinear"])
def test_upsampling_then_batch_norm_matches_in_opencv(tmp_path, sample_type):
    """UpSampling's forms are grouped Deconvolutions; unguarded, OpenCV's error was 0.23."""
    data = mx.sym.Variable("data")
    if sample_type == "nearest":
        up = mx.sym.UpSampling(data, scale=2, sample_type="nearest", num_args=1, name="up")
    else:
        up = mx.sym.UpSampling(data, mx.sym.Variable("up_weight"), scale=2, sample_type="bilinear",
                               num_filter=4, num_args=2, name="up")
    sym = mx.sym.BatchNorm(up, fix_gamma=False, name="bn")
    summary = assert_converts_exactly(sym, {"data": (1, 4, 5, 5)}, tmp_path)
    assert layer_types(summary) == ["Input", "Deconvolution", "Reshape", "BatchNorm", "Scale"]


def test_fully_connected_on_3d_then_batch_norm_matches_in_opencv(tmp_path):
    """flatten=False on (N, 5, 7): BatchNorm over axis 1; unguarded, OpenCV gave 1e20 or NaN."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=10, flatten=False, name="fc")
    sym = mx.sym.BatchNorm(fc, fix_gamma=False, name="bn")
    summary = assert_converts_exactly(sym, {"data": (2, 5, 7)}, tmp_path)
    assert "Reshape" in layer_types(summary)


def test_fused_batch_norms_need_no_guard(tmp_path):
    up = mx.sym.UpSampling(mx.sym.Variable("data"), scale=2, sample_type="nearest", num_args=1, name="up")
    sym = mx.sym.BatchNorm(up, fix_gamma=False, name="bn")
    summary = assert_converts_exactly(
        sym, {"data": (1, 4, 5, 5)}, tmp_path, options=mxnet2caffe.ConvertOptions(fuse_bn=True)
    )
    assert layer_types(summary) == ["Input", "Deconvolution"]


@pytest.mark.parametrize(
    "power, reader, guarded",
    [
        ({"power": 0.5}, Layer("twice", "Power", ("up",), ("twice",), {"power_param": {"scale": 2.0}}), True),
        ({"power": 2.0, "scale": 3.0}, Layer("twice", "Scale", ("up",), ("twice",)), True),
        ({"power": 0.5}, Layer("twice", "Power", ("up",), ("twice",), {"power_param": {"power": 2.0}}), False),
        ({"scale": 3.0}, Layer("twice", "Power", ("up",), ("twice",), {"power_param": {"scale": 2.0}}), False),
    ],
)
def test_a_scaling_after_a_power_is_kept_apart(power, reader, guarded):
    net = Net("t", inputs=[Tensor("data", (1, 4, 5, 5))], shapes={"data": (1, 4, 5, 5), "up": (1, 4, 5, 5)},
              layers=[Layer("up", "Power", ("data",), ("up",), {"power_param": power}), reader])
    net = opencv_fusion_guards.run(net, ConvertOptions())
    assert [layer.type for layer in net.layers] == (["Power", "Reshape", reader.type] if guarded else ["Power", reader.type])


def test_a_guard_fits_a_blob_of_any_rank(tmp_path):
    """1 / x of a 1-d divisor broadcast onto a 4-d blob: the guard after the Power(-1) is on a 1-d
    helper blob whose shape the net does not record (a rank-4 Reshape aborted Caffe)."""
    sym = mx.sym.broadcast_div(mx.sym.Variable("lhs"), mx.sym.Variable("rhs"), name="result")
    inputs = {
        "lhs": np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32),
        "rhs": np.random.default_rng(1).uniform(0.5, 1.5, (5,)).astype(np.float32),
    }
    assert_converts_exactly(sym, {"lhs": (2, 3, 4, 5), "rhs": (5,)}, tmp_path, inputs=inputs)

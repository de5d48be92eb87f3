"""passes/nchw_input.py: an NHWC input that the graph transposes first becomes an NCHW Caffe input."""

import json

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.mxnet.symbol import parse_symbol
from mxnet2caffe.options import ConvertOptions
from mxnet2caffe.passes import nchw_input
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare

from harness import assert_opencv_lists_only_the_outputs, backend_forward, mxnet_forward, random_params, save_model

NHWC = (1, 12, 10, 3)
MEAN = np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 1, 1, 3)
STD = np.array([58.395, 57.12, 57.375], np.float32).reshape(1, 1, 1, 3)


def gluoncv_export(pad: int) -> mx.sym.Symbol:
    """What gluoncv's export_block(preprocess=True, layout='HWC') puts in front of a network."""
    x = mx.sym.broadcast_minus(mx.sym.Variable("data"), mx.sym.Variable("init_mean"), name="sub0")
    x = mx.sym.broadcast_div(x, mx.sym.Variable("init_scale"), name="div0")
    x = mx.sym.transpose(x, axes=(0, 3, 1, 2), name="transpose0")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(pad, pad), num_filter=6, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    return mx.sym.Activation(x, act_type="relu", name="relu0")


def saved(sym, directory):
    args, aux = random_params(sym, {"data": NHWC, "init_mean": (1, 1, 1, 3), "init_scale": (1, 1, 1, 3)})
    args.update(init_mean=mx.nd.array(MEAN), init_scale=mx.nd.array(STD))
    return save_model(sym, args, aux, directory)


def test_the_pass_relays_the_constants_and_records_the_layout():
    graph = parse_symbol(json.loads(gluoncv_export(1).tojson()), "test")
    graph.params = {"init_mean": MEAN, "init_scale": STD}
    graph = nchw_input.run(graph, ConvertOptions())
    assert graph.input_axes == {"data": (0, 3, 1, 2)}
    assert "transpose0" not in {node.name for node in graph.nodes}
    assert graph.params["init_mean_nchw"].shape == (1, 3, 1, 1)
    np.testing.assert_array_equal(graph.params["init_scale_nchw"].ravel(), STD.ravel())
    assert {graph.node(node_id).name for node_id in graph.relaid} == {"sub0", "div0"}
    assert "input 'data' is NCHW in the Caffe model" in graph.notes[0]


@pytest.mark.parametrize("pad", [0, 1])  # 0: the normalization folds into conv0 too
def test_gluoncv_preprocessing_converts_to_an_nchw_input(tmp_path, pad):
    sym = gluoncv_export(pad)
    symbol, params = saved(sym, tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": NHWC}, tmp_path / "nchw")
    assert summary.inputs == {"data": (1, 3, 12, 10)}
    assert_opencv_lists_only_the_outputs(summary)
    pixels = np.random.default_rng(0).uniform(0, 255, NHWC).astype(np.float32)
    (want,) = mxnet_forward(symbol, params, {"data": pixels})
    for backend in BACKENDS:
        (got,) = backend_forward(backend, summary.prototxt, summary.caffemodel,
                                 {"data": pixels.transpose(0, 3, 1, 2)}, ["relu0"])
        result = compare("relu0", got, want)
        assert result.within(1e-4), (backend, result.relative_error)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_verify_feeds_each_side_its_own_layout(tmp_path, backend):
    symbol, params = saved(gluoncv_export(1), tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": NHWC}, tmp_path / "nchw")
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend=backend)
    assert report.ok, report.format()
    # the NHWC-side ops are not compared (Caffe holds them as NCHW); the transpose's output is
    assert [row.mxnet_output for row in report.rows] == ["transpose0_output", "conv0_output", "bn0_output", "relu0_output"]


def test_other_transposes_are_left_alone():
    sym = mx.sym.transpose(mx.sym.Variable("data"), axes=(0, 2, 1, 3), name="t")
    graph = nchw_input.run(parse_symbol(json.loads(sym.tojson()), "test"), ConvertOptions())
    assert not graph.input_axes and [node.name for node in graph.nodes] == ["data", "t"]

"""verify on a model converted to take raw pixels (--mean/--std/--swap-rgb): MXNet is fed the
normalized input, as the prototxt's annotations say, also on files converted earlier."""

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe.verify.backends import BACKENDS

from harness import random_params, save_model

SHAPE = (1, 3, 12, 12)
# ImageNet statistics on a 0..255 scale, as gluoncv models expect
OPTIONS = mxnet2caffe.ConvertOptions(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), swap_rgb=True)


def model(pad):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(pad, pad), num_filter=6, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    return mx.sym.FullyConnected(x, num_hidden=4, name="fc1")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("pad", [0, 1])  # 0: folded into conv0; 1: one Scale layer stays
def test_verify_feeds_mxnet_the_normalized_pixels(tmp_path, backend, pad):
    sym = model(pad)
    symbol, params = save_model(sym, *random_params(sym, {"data": SHAPE}), tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": SHAPE}, tmp_path / "raw", OPTIONS)
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend=backend)
    assert report.ok, report.format()
    assert [row.mxnet_output for row in report.rows] == ["conv0_output", "bn0_output", "relu0_output", "fc1_output"]

    # the control: without the input line, MXNet gets the raw pixels and verify must fail
    stripped = tmp_path / "stripped.prototxt"
    text = summary.prototxt.read_text()
    stripped.write_text("\n".join(line for line in text.splitlines() if not line.startswith("# mxnet2caffe-input")))
    report = mxnet2caffe.verify(symbol, params, stripped, summary.caffemodel, backend=backend)
    assert not report.ok and report.first_failure.mxnet_output == "conv0_output"

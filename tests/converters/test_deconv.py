import logging
import os
import sys

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.verify.inputs import random_inputs

from harness import (
    assert_converts_exactly,
    assert_rejected,
    layer_types,
    mxnet_forward,
    random_params,
    run,
    save_model,
)

DATA = {"data": (2, 4, 5, 7)}  # odd sizes: the rows MXNet's pad and adj keep differ per axis
CROPPED = ["Deconvolution", "Pooling", "Crop"]  # Caffe's larger output, a size reference, the cut


def _deconvolution(num_filter=6, **attrs):
    return mx.sym.Deconvolution(mx.sym.Variable("data"), num_filter=num_filter, name="deconv", **attrs)


@pytest.mark.parametrize(
    "attrs, layers",
    [
        # the pose heads' upsampler
        (dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1)), ["Deconvolution"]),
        (dict(kernel=(1, 1)), ["Deconvolution"]),
        (dict(kernel=(2, 3), stride=(2, 1), pad=(0, 1), no_bias=False), ["Deconvolution"]),
        # adj <= pad: a pad smaller by adj, then a Crop from row adj
        (dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 1), no_bias=False), CROPPED),
        (dict(kernel=(5, 5), stride=(3, 3), pad=(2, 2), adj=(2, 1)), CROPPED),
        # adj > pad: zero taps appended to the kernel, MXNet's extra rows hold the bias alone
        (dict(kernel=(3, 3), stride=(2, 2), pad=(0, 0), adj=(1, 1), no_bias=False), ["Deconvolution"]),
        (dict(kernel=(3, 3), stride=(3, 3), pad=(1, 0), adj=(2, 1), no_bias=False), ["Deconvolution"]),
        (dict(kernel=(3, 3), stride=(3, 2), pad=(2, 0), adj=(1, 1), no_bias=False), CROPPED),  # one axis each way
        # dilation: zeros between the taps
        (dict(kernel=(3, 3), stride=(1, 1), pad=(1, 1), dilate=(2, 2), no_bias=False), ["Deconvolution"]),
        (dict(kernel=(3, 3), stride=(2, 2), dilate=(2, 2), adj=(1, 1), no_bias=False), ["Deconvolution"]),
        (dict(kernel=(3, 2), stride=(2, 2), dilate=(2, 3), pad=(2, 1), adj=(1, 0), num_group=2), CROPPED),
        # groups, depthwise
        (dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2, no_bias=False), ["Deconvolution"]),
        (dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_group=4, num_filter=4), ["Deconvolution"]),
    ],
)
def test_deconvolution(tmp_path, attrs, layers):
    attrs = {"no_bias": True, **attrs}
    sym = _deconvolution(**attrs)
    summary = assert_converts_exactly(sym, DATA, tmp_path)
    assert layer_types(summary) == ["Input"] + layers
    (shape,) = sym.infer_shape(**DATA)[1]
    assert summary.outputs == {"deconv": shape}


# target_shape makes MXNet derive pad and adj (as its reference kernel computes them); the
# derived values, worked out by hand: surplus = full - target, pad = ceil(surplus / 2), adj = surplus % 2
TARGET_SHAPES = [
    (dict(kernel=(4, 4), stride=(2, 2), target_shape=(10, 14)), dict(pad=(1, 1), adj=(0, 0)), ["Deconvolution"]),
    (dict(kernel=(4, 4), stride=(2, 2), target_shape=(9, 13), no_bias=False), dict(pad=(2, 2), adj=(1, 1)), CROPPED),
    (dict(kernel=(4, 4), stride=(2, 2), pad=(3, 3), adj=(1, 1), target_shape=(9, 14)), dict(pad=(2, 1), adj=(1, 0)), CROPPED),
    (dict(kernel=(3, 3), stride=(3, 2), target_shape=(13, 12), num_group=2), dict(pad=(1, 2), adj=(0, 1)), CROPPED),
    (dict(kernel=(3, 3), stride=(2, 2), dilate=(2, 2), target_shape=(12, 16)), dict(pad=(1, 1), adj=(1, 1)), CROPPED),
    # the given pad and adj give the target size too, but other rows: target_shape wins
    (dict(kernel=(3, 3), stride=(3, 3), pad=(2, 2), adj=(2, 2), target_shape=(13, 19)), dict(pad=(1, 1), adj=(0, 0)), ["Deconvolution"]),
]


def _without_target(attrs, derived):
    kept = {key: value for key, value in attrs.items() if key not in ("target_shape", "pad", "adj")}
    return _deconvolution(**kept, **derived)


@pytest.mark.parametrize("attrs, derived, layers", TARGET_SHAPES)
def test_deconvolution_target_shape(tmp_path, attrs, derived, layers):
    """MXNet runs the same node with the derived pad and adj: pip MXNet's oneDNN kernel cannot run
    target_shape itself (see the two tests below)."""
    sym = _deconvolution(**attrs)
    summary = assert_converts_exactly(sym, DATA, tmp_path, reference=_without_target(attrs, derived))
    assert layer_types(summary) == ["Input"] + layers
    assert summary.outputs == {"deconv": (2, 6) + attrs["target_shape"]}


# run in a fresh process: MXNet reads MXNET_MKLDNN_ENABLED once
_REFERENCE_KERNEL_FORWARD = """
import sys
import numpy as np
from mxnet2caffe.verify.backends import mxnet_executor
symbol, params, inputs, output = sys.argv[1:]
_, executor = mxnet_executor(symbol, params, dict(np.load(inputs)), internals=False)
np.save(output, executor.forward(is_train=False)[0].asnumpy())
"""


def _reference_kernel_forward(symbol_path, params_path, inputs_path, output_path):
    env = {**os.environ, "MXNET_MKLDNN_ENABLED": "0"}
    run(sys.executable, "-c", _REFERENCE_KERNEL_FORWARD, symbol_path, params_path, inputs_path, output_path, env=env)
    return np.load(output_path)


@pytest.mark.parametrize("attrs, derived, layers", TARGET_SHAPES)
def test_mxnet_reference_kernel_derives_pad_and_adj_from_target_shape(tmp_path, attrs, derived, layers):
    sym = _deconvolution(**attrs)
    args, aux = random_params(sym, DATA)
    np.savez(tmp_path / "inputs.npz", **random_inputs(DATA))
    outputs = []
    for name, graph in (("target", sym), ("derived", _without_target(attrs, derived))):
        symbol_path, params_path = save_model(graph, args, aux, tmp_path, name)
        outputs.append(_reference_kernel_forward(symbol_path, params_path, tmp_path / "inputs.npz", tmp_path / f"{name}.npy"))
    target, explicit = outputs
    assert target.shape == explicit.shape == (2, 6) + attrs["target_shape"]
    assert np.abs(target - explicit).max() <= 1e-6 * np.abs(explicit).max()


def test_mxnet_onednn_kernel_fails_on_target_shape_alone(tmp_path):
    sym = _deconvolution(kernel=(4, 4), stride=(2, 2), target_shape=(10, 14))
    args, aux = random_params(sym, DATA)
    symbol_path, params_path = save_model(sym, args, aux, tmp_path)
    with pytest.raises(mx.base.MXNetError, match="could not create a descriptor"):
        mxnet_forward(symbol_path, params_path, random_inputs(DATA))


def test_target_shape_overriding_given_pad_is_logged(tmp_path, caplog):
    attrs, derived, _ = TARGET_SHAPES[-1]
    with caplog.at_level(logging.WARNING, logger="mxnet2caffe"):
        assert_converts_exactly(_deconvolution(**attrs), DATA, tmp_path, reference=_without_target(attrs, derived))
    assert "target_shape (13, 19) sets pad (1, 1) and adj (0, 0), not the pad (2, 2) and adj (2, 2) given" in caplog.text


def test_cropped_deconvolution_feeds_the_next_layer(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.Deconvolution(data, kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=5, name="up")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=3, name="conv")
    summary = assert_converts_exactly(x, {"data": (1, 4, 4, 6)}, tmp_path)
    assert summary.outputs == {"conv": (1, 3, 8, 12)}


@pytest.mark.parametrize("fuse_bn", [False, True])
def test_pose_head(tmp_path, fuse_bn):
    """gluoncv's SimplePose head: 3 x (Deconvolution 4x4 stride 2 pad 1 + BatchNorm + ReLU), then a
    1x1 Convolution to the joint heatmaps."""
    x = mx.sym.Variable("data")
    for index in range(3):
        x = mx.sym.Deconvolution(
            x, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=16, no_bias=True, name=f"deconv{index}"
        )
        x = mx.sym.BatchNorm(x, fix_gamma=False, name=f"bn{index}")
        x = mx.sym.Activation(x, act_type="relu", name=f"relu{index}")
    heatmaps = mx.sym.Convolution(x, kernel=(1, 1), num_filter=17, name="heatmaps")
    options = mxnet2caffe.ConvertOptions(fuse_bn=fuse_bn)
    summary = assert_converts_exactly(heatmaps, {"data": (1, 32, 4, 3)}, tmp_path, options=options)
    assert summary.outputs == {"heatmaps": (1, 17, 32, 24)}
    per_stage = ["Deconvolution", "ReLU"] if fuse_bn else ["Deconvolution", "BatchNorm", "Scale", "ReLU"]
    assert layer_types(summary) == ["Input"] + per_stage * 3 + ["Convolution"]


@pytest.mark.parametrize(
    "attrs, shape, match",
    [
        (dict(kernel=(3, 3), stride=(2, 2), adj=(2, 2)), (1, 4, 5, 5), r"adj \(2, 2\) must be smaller than stride \(2, 2\)"),
        (dict(kernel=(3, 3), target_shape=(6, 5)), (1, 4, 5, 5), r"adj \(1, 0\) must be smaller than stride \(1, 1\)"),
        (dict(kernel=(3, 3), stride=(2, 2), target_shape=(20, 9)), (1, 4, 5, 5), r"target_shape \(20, 9\) is larger than the full output"),
        (dict(kernel=(3, 3), stride=(2, 2), target_shape=(0, 9)), (1, 4, 5, 5), r"target_shape \(0, 9\) must give a positive"),
        (dict(kernel=(3,), stride=(2,)), (1, 4, 5), "only 2-d deconvolution on NCHW input"),
        (dict(kernel=(3, 3), num_group=3), (1, 4, 5, 5), "4 input channels / 4 filters do not divide into 3 groups"),
        (dict(kernel=(3, 3), pad=(2, 2)), (1, 4, 1, 1), "output would be empty"),
        (dict(kernel=(3, 3), layout="NHWC"), (1, 5, 5, 4), "layout NHWC is not supported"),
    ],
)
def test_deconvolution_rejected(tmp_path, attrs, shape, match):
    assert_rejected(_deconvolution(num_filter=4, **attrs), {"data": shape}, tmp_path, match)

"""Models whose Caffe form takes raw camera pixels: --mean/--std/--swap-rgb, and the input
normalization insightface and gluoncv graphs carry themselves, folded into the first
convolution where that is exact and one layer at most otherwise.

With the options, the MXNet model is fed what its users feed it, the normalized pixels
(x[channels swapped] - mean) / std, and the Caffe model the raw pixels x: the comparison is
written out here, in real MXNet, Caffe and OpenCV DNN, 1e-4 relative max error."""

import sys

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.profiles import STOCK_LAYER_TYPES
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare

from harness import (
    assert_converts_exactly,
    assert_opencv_lists_only_the_outputs,
    backend_forward,
    layer_types,
    mxnet_forward,
    random_params,
    run,
    save_model,
)

TOLERANCE = 1e-4
SHAPE = (2, 3, 16, 16)
MEAN = (123.675, 116.28, 103.53)  # ImageNet's, in the model's (RGB) order
STD = (58.395, 57.12, 57.375)


def raw_pixels(shape=SHAPE, seed: int = 0) -> np.ndarray:
    """What a camera gives: 0..255 per channel, in the camera's channel order."""
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def normalized(raw: np.ndarray, options: mxnet2caffe.ConvertOptions) -> np.ndarray:
    """What the MXNet model is fed: (x[channels swapped] - mean) / std in its channel order."""
    x = raw[:, ::-1] if options.swap_rgb else raw
    mean = np.reshape(options.mean or (0.0,), (1, -1, 1, 1))
    std = np.reshape(options.std or (1.0,), (1, -1, 1, 1))
    return ((x - mean) / std).astype(np.float32)


def assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options, shape=SHAPE):
    """The Caffe model fed raw pixels gives, in every runtime, what MXNet gives fed the
    normalized pixels."""
    assert set(layer_types(summary)) <= STOCK_LAYER_TYPES
    assert_opencv_lists_only_the_outputs(summary)
    raw = raw_pixels(shape)
    expected = mxnet_forward(symbol_path, params_path, {"data": normalized(raw, options)})
    names = list(summary.outputs)
    assert len(names) == len(expected)
    for runtime in BACKENDS:
        actual = backend_forward(runtime, summary.prototxt, summary.caffemodel, {"data": raw}, names)
        for name, want, got in zip(names, expected, actual):
            result = compare(name, got, want)
            assert got.shape == want.shape, (runtime, name)
            assert result.within(TOLERANCE), f"{runtime}: {name}: relative max error {result.relative_error:.3g}"


def classifier(first: str) -> mx.sym.Symbol:
    """A small classifier; its first layer is a 3x3 convolution without or with padding, or a
    pooling (not a convolution: the preprocessing cannot go into weights)."""
    data = mx.sym.Variable("data")
    if first == "pooling":
        x = mx.sym.Pooling(data, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="pool0")
    else:
        x = mx.sym.Convolution(data, kernel=(3, 3), pad=(int(first[-1]),) * 2, num_filter=8, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv1")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool1")
    return mx.sym.FullyConnected(x, num_hidden=10, name="fc")


def convert_both_ways(sym, directory, options, shape=SHAPE, params=None):
    """(summary with the options, summary without, symbol file, params file); `params` are
    (args, aux), random by default."""
    args, aux = params or random_params(sym, {"data": shape})
    symbol_path, params_path = save_model(sym, args, aux, directory)
    with_options = mxnet2caffe.convert(symbol_path, params_path, {"data": shape}, directory / "raw", options)
    plain = mxnet2caffe.convert(symbol_path, params_path, {"data": shape}, directory / "plain")
    return with_options, plain, symbol_path, params_path


# first layer -> swap_rgb -> the layers the Caffe model has beyond the model's own, right after Input
EXTRA_LAYERS = {
    ("conv-pad0", False): [],  # folded into the convolution: exact without padding
    ("conv-pad0", True): [],
    ("conv-pad1", False): ["Scale"],  # the shift cannot fold over padding: one layer stays
    ("conv-pad1", True): ["Scale"],  # the swap still goes into the weights
    ("pooling", False): ["Scale"],
    ("pooling", True): ["Scale", "Slice", "Concat"],
}


@pytest.mark.parametrize("first, swap_rgb", list(EXTRA_LAYERS), ids=[f"{f}-swap{s}" for f, s in EXTRA_LAYERS])
def test_mean_std_swap_options(tmp_path, first, swap_rgb):
    options = mxnet2caffe.ConvertOptions(mean=MEAN, std=STD, swap_rgb=swap_rgb)
    summary, plain, symbol_path, params_path = convert_both_ways(classifier(first), tmp_path, options)
    assert layer_types(summary) == ["Input"] + EXTRA_LAYERS[first, swap_rgb] + layer_types(plain)[1:]
    assert list(summary.inputs) == ["data"]
    assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options)


def test_one_value_for_every_channel_and_a_swap_alone(tmp_path):
    for options in (mxnet2caffe.ConvertOptions(mean=(127.5,), std=(128.0,)), mxnet2caffe.ConvertOptions(swap_rgb=True)):
        summary, plain, symbol_path, params_path = convert_both_ways(classifier("conv-pad1"), tmp_path, options)
        extra = ["Scale"] if options.mean else []  # a swap alone goes into the weights
        assert layer_types(summary) == ["Input"] + extra + layer_types(plain)[1:]
        assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options)


def test_command_line_scale_is_one_over_std(tmp_path):
    sym = classifier("conv-pad0")
    args, aux = random_params(sym, {"data": SHAPE})
    symbol_path, params_path = save_model(sym, args, aux, tmp_path)
    scale = ",".join(str(1 / s) for s in STD)
    output = run(
        sys.executable, "-m", "mxnet2caffe", "convert", symbol_path, params_path, "--input-shape", "2,3,16,16",
        "--mean", ",".join(map(str, MEAN)), "--scale", scale, "--swap-rgb", "-o", tmp_path / "cli",
    )
    assert "input 'data' takes raw pixels" in output and "folded" in output
    summary = mxnet2caffe.ConversionSummary(
        prototxt=tmp_path / "cli.prototxt", caffemodel=tmp_path / "cli.caffemodel", inputs={"data": SHAPE},
        outputs={"fc": (2, 10)}, layer_count=0,
    )
    options = mxnet2caffe.ConvertOptions(mean=MEAN, std=STD, swap_rgb=True)  # what the flags mean
    assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options)


def insightface_stem(pad: int) -> mx.sym.Symbol:
    """insightface's input: (x - 127.5) * 0.0078125, then conv (no bias) -> BN -> PReLU ..."""
    data = mx.sym.Variable("data")
    x = mx.sym._internal._minus_scalar(data, scalar=127.5, name="minusscalar0")
    x = mx.sym._internal._mul_scalar(x, scalar=0.0078125, name="mulscalar0")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(pad, pad), num_filter=8, no_bias=True, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="bn0")
    x = mx.sym.LeakyReLU(x, act_type="prelu", name="relu0")
    x = mx.sym.Convolution(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=8, no_bias=True, name="conv1")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="bn1")
    return mx.sym.LeakyReLU(x, act_type="prelu", name="relu1")


@pytest.mark.parametrize("pad, normalization", [(1, ["Power"]), (0, [])], ids=["pad1-one-layer", "pad0-folded"])
def test_insightface_normalization(tmp_path, pad, normalization):
    """The two scalar ops become one Power layer (a shift cannot fold over padding) or none."""
    summary = assert_converts_exactly(insightface_stem(pad), {"data": SHAPE}, tmp_path, inputs={"data": raw_pixels()})
    types = layer_types(summary)
    assert types[: 2 + len(normalization)] == ["Input", *normalization, "Convolution"]
    assert types.count("Power") == len(normalization)


def test_insightface_with_a_camera_of_the_other_channel_order(tmp_path):
    """--swap-rgb on top of the graph's own normalization: the swap goes into conv0's weights."""
    options = mxnet2caffe.ConvertOptions(swap_rgb=True)
    summary, plain, symbol_path, params_path = convert_both_ways(insightface_stem(1), tmp_path, options)
    assert layer_types(summary) == layer_types(plain)
    assert layer_types(summary)[:3] == ["Input", "Power", "Convolution"]
    assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options)


def gluoncv_stem(pad: int) -> mx.sym.Symbol:
    """gluoncv's exported preprocessing: broadcast_sub of a constant mean, broadcast_div by a
    constant std, both (1, 3, 1, 1) arrays in the params file."""
    data = mx.sym.Variable("data")
    mean = mx.sym.Variable("init_mean", shape=(1, 3, 1, 1))
    std = mx.sym.Variable("init_std", shape=(1, 3, 1, 1))
    x = mx.sym.broadcast_div(mx.sym.broadcast_sub(data, mean, name="sub0"), std, name="div0")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(pad, pad), num_filter=8, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    return mx.sym.Activation(x, act_type="relu", name="relu0")


def gluoncv_params(sym):
    args, aux = random_params(sym, {"data": SHAPE})
    args["init_mean"] = mx.nd.array(np.reshape(MEAN, (1, 3, 1, 1)))
    args["init_std"] = mx.nd.array(np.reshape(STD, (1, 3, 1, 1)))
    return args, aux


@pytest.mark.parametrize("pad, normalization", [(1, ["Scale"]), (0, [])], ids=["pad1-one-layer", "pad0-folded"])
def test_gluoncv_normalization(tmp_path, pad, normalization):
    sym = gluoncv_stem(pad)
    args, aux = gluoncv_params(sym)
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, args=args, aux=aux, inputs={"data": raw_pixels()})
    assert layer_types(summary)[: 2 + len(normalization)] == ["Input", *normalization, "Convolution"]


@pytest.mark.parametrize("pad, normalization", [(1, ["Scale"]), (0, [])], ids=["pad1-one-layer", "pad0-folded"])
def test_gluoncv_with_a_camera_of_the_other_channel_order(tmp_path, pad, normalization):
    """The swap moves past the graph's per-channel mean and std (their values reversed) into
    conv0's weights; then they fold or merge as without the swap."""
    sym = gluoncv_stem(pad)
    options = mxnet2caffe.ConvertOptions(swap_rgb=True)
    summary, plain, symbol_path, params_path = convert_both_ways(sym, tmp_path, options, params=gluoncv_params(sym))
    assert layer_types(summary) == layer_types(plain) == ["Input", *normalization, "Convolution", "BatchNorm", "Scale", "ReLU"]
    assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options)


@pytest.mark.slow
def test_gluon_resnet_takes_raw_pixels(tmp_path):
    """A whole model zoo network (first convolution 7x7 with padding 3): one Scale layer for
    the mean and std, the swap in the first convolution's weights."""
    from test_gluon_zoo import export_symbol

    shape = (1, 3, 224, 224)
    options = mxnet2caffe.ConvertOptions(mean=MEAN, std=STD, swap_rgb=True)
    summary, plain, symbol_path, params_path = convert_both_ways(export_symbol("resnet18_v1", 224, tmp_path), tmp_path, options, shape)
    assert layer_types(summary) == ["Input", "Scale"] + layer_types(plain)[1:]
    assert_raw_pixels_give_mxnet_outputs(summary, symbol_path, params_path, options, shape)

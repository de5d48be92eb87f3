"""L2Normalization / InstanceNorm / LRN: real MXNet against OpenCV DNN and Caffe, relative max
error <= 1e-4 (harness.TOLERANCE) on every output. The stock forms sum squares in another order
than MXNet and add one float rounding (a Power for 1/sqrt), which this tolerance covers."""

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe

from harness import TOLERANCE, assert_converts_exactly, assert_rejected, layer_types

assert TOLERANCE == 1e-4


def shifted_inputs(shape, scale: float, offset: float, seed: int = 5):
    """Inputs with a non-zero mean per sample and channel (so centering matters) and a spread
    `scale` (small: the variance is of the order of eps, so eps matters)."""
    rng = np.random.default_rng(seed)
    channel_offsets = rng.normal(offset, 1.0, (1, shape[1]) + (1,) * (len(shape) - 2))
    return {"data": (rng.standard_normal(shape) * scale + channel_offsets).astype(np.float32)}


@pytest.mark.parametrize("mode", ["instance", "channel", "spatial"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 5, 7), (2, 4, 3, 5, 2), (1, 6, 3, 3)])
@pytest.mark.parametrize("eps", [1e-10, 0.5])
def test_l2_normalization(tmp_path, mode, shape, eps):
    sym = mx.sym.L2Normalization(mx.sym.Variable("data"), mode=mode, eps=eps, name="l2")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert summary.outputs == {"l2": shape}


@pytest.mark.parametrize("shape", [(2, 6), (3, 1)])
def test_l2_normalization_of_vectors(tmp_path, shape):
    """A face embedding (N, D): the default mode, instance, normalizes each row."""
    sym = mx.sym.L2Normalization(mx.sym.Variable("data"), name="l2")
    assert_converts_exactly(sym, {"data": shape}, tmp_path)


def test_l2_normalization_eps_counts(tmp_path):
    """Inputs of norm ~1e-2 with eps 1e-3: a form that dropped or misplaced eps is off by ~5%."""
    sym = mx.sym.L2Normalization(mx.sym.Variable("data"), mode="spatial", eps=1e-3, name="l2")
    shape = (2, 3, 4, 4)
    assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=shifted_inputs(shape, 2e-3, 0.0))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (2, 4, 9), (2, 3, 2, 3, 2), (1, 3, 1, 1)])
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.1])
@pytest.mark.parametrize("spread", [1.0, 0.05])
def test_instance_norm(tmp_path, shape, eps, spread):
    """Offsets of ~3 per channel; a spread of 0.05 makes the variance (~2.5e-3) comparable to
    eps, where Caffe's MVN (sqrt(var) + eps) would be visibly wrong."""
    sym = mx.sym.InstanceNorm(mx.sym.Variable("data"), eps=eps, name="instance_norm")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=shifted_inputs(shape, spread, 3.0))
    assert "Scale" in layer_types(summary)


def test_instance_norm_default_eps(tmp_path):
    """MXNet's default eps is 1e-3."""
    sym = mx.sym.InstanceNorm(mx.sym.Variable("data"), name="instance_norm")
    shape = (2, 3, 4, 5)
    assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=shifted_inputs(shape, 0.03, 1.0))


@pytest.mark.parametrize("nsize", [1, 3, 5])
@pytest.mark.parametrize(
    "alpha, beta, knorm",
    [(1e-4, 0.75, 2.0), (0.5, 0.75, 2.0), (0.5, 0.5, 1.0), (2.0, 0.9, 0.5), (1.0, 0.75, 3.0)],
)
def test_lrn(tmp_path, nsize, alpha, beta, knorm):
    """Large alpha so the sum term matters; knorm != 1, which OpenCV's reading of Caffe's LRN
    ignores, must still come out right."""
    sym = mx.sym.LRN(mx.sym.Variable("data"), nsize=nsize, alpha=alpha, beta=beta, knorm=knorm, name="lrn")
    shape = (2, 7, 5, 6)
    assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs=shifted_inputs(shape, 2.0, 0.0))


def test_lrn_defaults_in_alexnet(tmp_path):
    """AlexNet-era: Convolution, ReLU, LRN (MXNet defaults alpha 1e-4, beta 0.75, knorm 2), Pooling."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=8, name="conv1")
    x = mx.sym.Activation(x, act_type="relu", name="relu1")
    x = mx.sym.LRN(x, nsize=5, name="norm1")
    x = mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max", name="pool1")
    summary = assert_converts_exactly(x, {"data": (2, 3, 13, 13)}, tmp_path)
    assert summary.outputs == {"pool1": (2, 8, 5, 5)}


def mobileface_tail(data: mx.sym.Symbol) -> mx.sym.Symbol:
    """MobileFaceNet's embedding tail: 1x1 conv + BN + PReLU, a global depthwise conv (7x7 over a
    7x7 map), BN, FullyConnected, BN and an L2Normalization of the embedding."""
    x = mx.sym.Convolution(data, kernel=(1, 1), num_filter=16, no_bias=True, name="conv_6sep")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="conv_6sep_bn")
    x = mx.sym.LeakyReLU(x, act_type="prelu", name="conv_6sep_relu")
    x = mx.sym.Convolution(x, kernel=(7, 7), num_filter=16, num_group=16, no_bias=True, name="conv_6dw7_7")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="conv_6dw7_7_bn")
    x = mx.sym.FullyConnected(x, num_hidden=12, name="pre_fc1")
    x = mx.sym.BatchNorm(x, fix_gamma=True, eps=2e-5, name="fc1")
    return mx.sym.L2Normalization(x, mode="instance", name="fc1_l2")


@pytest.mark.parametrize("fuse_bn", [False, True])
def test_mobileface_tail(tmp_path, fuse_bn):
    """With --fuse-bn the last BatchNorm folds into the FullyConnected, so the L2Normalization's
    Scale directly follows an InnerProduct (OpenCV DNN fuses some Scales into their producer)."""
    sym = mobileface_tail(mx.sym.Variable("data"))
    options = mxnet2caffe.ConvertOptions(fuse_bn=fuse_bn)
    summary = assert_converts_exactly(sym, {"data": (2, 8, 7, 7)}, tmp_path, options=options)
    assert summary.outputs == {"fc1_l2": (2, 12)}
    assert ("BatchNorm" in layer_types(summary)) != fuse_bn


@pytest.mark.parametrize(
    "normalize",
    [
        lambda x: mx.sym.L2Normalization(x, mode="instance", name="norm"),
        lambda x: mx.sym.L2Normalization(x, mode="channel", name="norm"),
        lambda x: mx.sym.L2Normalization(x, mode="spatial", name="norm"),
        lambda x: mx.sym.InstanceNorm(x, eps=1e-5, name="norm"),
    ],
    ids=["l2_instance", "l2_channel", "l2_spatial", "instance_norm"],
)
def test_normalization_after_convolution(tmp_path, normalize):
    """Right after a Convolution, where OpenCV DNN tries to fuse what follows into it."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=5, name="conv")
    summary = assert_converts_exactly(normalize(x), {"data": (2, 3, 7, 6)}, tmp_path)
    assert summary.outputs == {"norm": (2, 5, 5, 4)}


@pytest.mark.parametrize(
    "sym, shape, message",
    [
        (mx.sym.L2Normalization(mx.sym.Variable("data"), mode="channel"), (2, 6), "at least 3 axes"),
        (mx.sym.InstanceNorm(mx.sym.Variable("data")), (2, 6), "at least 3 axes"),
        (mx.sym.LRN(mx.sym.Variable("data"), nsize=4), (2, 7, 5, 5), "nsize=4"),
        (mx.sym.LRN(mx.sym.Variable("data"), nsize=3), (2, 7, 5), "only 4-d input"),
        (mx.sym.LRN(mx.sym.Variable("data"), nsize=3, knorm=0.0), (2, 7, 5, 5), "knorm=0.0"),
    ],
)
def test_rejected(tmp_path, sym, shape, message):
    assert_rejected(sym, {"data": shape}, tmp_path, message)

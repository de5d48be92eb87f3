"""tile / repeat / Embedding: real MXNet against OpenCV DNN and Caffe, relative max error
<= 1e-4 (harness.TOLERANCE) on every output; copies are exact, so any error is a wrong layout."""

import mxnet as mx
import numpy as np
import pytest

from harness import assert_converts_exactly, assert_rejected, layer_types


@pytest.mark.parametrize(
    "shape, reps",
    [
        ((2, 3, 5, 7), (1, 1, 2, 3)),
        ((2, 1, 5, 7), (1, 4, 1, 1)),  # GNAP: a one-channel map over every channel
        ((2, 1, 5, 7), (1, 64, 1, 1)),
        ((2, 3, 5, 7), (2, 1, 1, 1)),  # the batch axis
        ((2, 3, 5, 7), (3,)),  # fewer reps than axes: they apply to the last axes
        ((2, 3), (2, 1, 3)),  # more reps than axes: the input gets leading axes
        ((3, 5), (2, 2, 3)),
        ((2, 3, 5, 7), (1, 1, 1, 1)),
        ((2, 3, 5, 7), ()),
    ],
)
def test_tile(tmp_path, shape, reps):
    sym = mx.sym.tile(mx.sym.Variable("data"), reps=reps, name="tiled")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert "Tile" not in layer_types(summary)  # OpenCV DNN 4.x cannot read Caffe's Tile


@pytest.mark.parametrize(
    "shape, repeats, axis",
    [
        ((2, 3, 5, 7), 2, 1),
        ((2, 3, 5, 7), 3, 2),
        ((2, 3, 5, 7), 3, -1),
        ((2, 3, 5, 7), 2, 0),
        ((2, 3, 5), 4, -2),
        ((2, 3, 5, 7), 1, 3),
    ],
)
def test_repeat(tmp_path, shape, repeats, axis):
    sym = mx.sym.repeat(mx.sym.Variable("data"), repeats=repeats, axis=axis, name="repeated")
    assert_converts_exactly(sym, {"data": shape}, tmp_path)


def test_repeat_without_axis_repeats_the_flattened_input(tmp_path):
    """MXNet's result is 1-d (2*3*5*3,); OpenCV DNN hands 1-d outputs back as (n, 1), so a
    Reshape to (1, n) after the repeat lets both runtimes be compared."""
    sym = mx.sym.repeat(mx.sym.Variable("data"), repeats=3, name="repeated")
    sym = mx.sym.reshape(sym, shape=(1, -1), name="as_2d")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 5)}, tmp_path)
    assert summary.outputs == {"as_2d": (1, 90)}


@pytest.mark.parametrize("shape", [(2, 5), (7,), (2, 3, 4)])
def test_embedding(tmp_path, shape):
    """Integer indices, some outside [0, input_dim) to check MXNet's clipping to the first and
    last rows; random weights; every output row must be its table row to within 1e-4."""
    rows, width = 11, 6
    sym = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=rows, output_dim=width, name="embed")
    indices = np.random.default_rng(3).integers(-3, rows + 3, shape).astype(np.float32)
    assert indices.min() < 0 and indices.max() >= rows
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs={"data": indices})
    assert summary.outputs == {"embed": shape + (width,)}
    assert "Embed" not in layer_types(summary)  # OpenCV DNN 4.x cannot create Caffe's Embed


@pytest.mark.parametrize(
    "sym, message",
    [
        (mx.sym.tile(mx.sym.Variable("data"), reps=(1, 0)), r"reps \(1, 0\)"),
        (mx.sym.repeat(mx.sym.Variable("data"), repeats=0, axis=1), "repeats=0"),
        (mx.sym.repeat(mx.sym.Variable("data"), repeats=2, axis=4), "'axis' 4 is out of range"),
        (
            mx.sym.Embedding(mx.sym.Variable("data"), input_dim=4, output_dim=2, dtype="float16"),
            "dtype float16",
        ),
    ],
)
def test_rejected(tmp_path, sym, message):
    assert_rejected(sym, {"data": (2, 3, 5, 7)}, tmp_path, message)


def gnap_head(data: mx.sym.Symbol, channels: int, embedding: int) -> mx.sym.Symbol:
    """insightface's GNAP head (fc_type 'GNAP') on a conv's features: the per-position L2 norm
    over the channels (sum of squares with keepdims, sqrt), its mean over everything (shape (1,))
    divided by it, that tiled over the channels and multiplied in, global average pooling, BN,
    the embedding FullyConnected (fewer units than channels) and its BN."""
    body = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=channels, no_bias=True, name="conv")
    body = mx.sym.BatchNorm(body, fix_gamma=True, eps=2e-5, name="bn6f")
    spatial_norm = mx.sym.sum(body * body, axis=1, keepdims=True, name="spatial_norm")
    spatial_sqrt = mx.sym.sqrt(spatial_norm, name="spatial_sqrt")
    spatial_mean = mx.sym.mean(spatial_sqrt, name="spatial_mean")
    inverse = mx.sym.broadcast_div(spatial_mean, spatial_sqrt, name="spatial_div_inverse")
    attention = mx.sym.tile(inverse, reps=(1, channels, 1, 1), name="spatial_attention_inverse")
    body = body * attention
    fc1 = mx.sym.Pooling(body, kernel=(7, 7), global_pool=True, pool_type="avg", name="gnap_pool")
    fc1 = mx.sym.BatchNorm(fc1, fix_gamma=True, eps=2e-5, name="bn6w")
    fc1 = mx.sym.FullyConnected(fc1, num_hidden=embedding, name="pre_fc1")
    return mx.sym.BatchNorm(fc1, fix_gamma=True, eps=2e-5, name="fc1")


@pytest.mark.parametrize("channels", [16, 512])
def test_gnap_head(tmp_path, channels):
    """512 channels as MobileFaceNet has: the tile is a Concat of 512 copies. sqrt and the
    division are other converters' (unary, elementwise); the whole head is held to 1e-4."""
    sym = gnap_head(mx.sym.Variable("data"), channels, embedding=10)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 7, 7)}, tmp_path)
    assert summary.outputs == {"fc1": (2, 10)}

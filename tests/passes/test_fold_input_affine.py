"""fold_input_affine on hand-built nets: which layers remain, how the convolution weights change
(checked against the formula in numpy), and, run in real Caffe and OpenCV on raw pixels, that
the net computes what it computed before the pass."""

import copy

import numpy as np
import pytest
from small_nets import assert_same_outputs, conv, net_of, pooling, power, random_weight, raw_pixels, scale

from mxnet2caffe import ConvertOptions
from mxnet2caffe.caffe.net import Layer
from mxnet2caffe.passes import fold_input_affine

SHAPE = (2, 3, 7, 7)
# insightface: (x - 127.5) * 0.0078125 = 0.0078125 x - 0.99609375
INSIGHTFACE = [power("minus", "data", shift=-127.5), power("times", "minus", scale=0.0078125)]
# gluoncv: (x - mean) / std per channel, as two Scale layers (a bias-only one, a scale-only one)
MEAN, STD = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
GLUONCV = [scale("sub", "data", [1, 1, 1], -MEAN), scale("div", "sub", 1 / STD)]


def types(net):
    return [layer.type for layer in net.layers]


def fold(layers, shape=SHAPE):
    """(the net as it was, the net after the pass)."""
    net = net_of(shape, layers)
    before = copy.deepcopy(net)
    return before, fold_input_affine.run(net, ConvertOptions())


def assert_computes_the_same(before, after, directory, shape=SHAPE):
    raw = {"data": raw_pixels(shape)}
    assert_same_outputs(before, raw, after, raw, directory)


def test_insightface_normalization_folds_into_a_convolution_without_padding(tmp_path):
    weight, bias = random_weight((4, 3, 3, 3), 1), random_weight((4,), 2)
    before, after = fold(INSIGHTFACE + [conv("conv", "times", weight, bias)])
    assert types(after) == ["Convolution"]
    (folded,) = after.layers
    assert folded.bottoms == ("data",)
    w = weight.astype(np.float64)
    np.testing.assert_allclose(folded.blobs[0], w * 0.0078125, rtol=1e-7)
    np.testing.assert_allclose(folded.blobs[1], bias + w.sum(axis=(1, 2, 3)) * -0.99609375, rtol=1e-6)
    # the folded-away values have no blob any more; the convolution's output keeps its own
    assert after.names.as_dict() == {"conv_output": "conv"}
    assert after.notes == [
        "folded 2 per-channel affine layer(s) on input 'data' ('minus', 'times') into the weights of Convolution 'conv'"
    ]
    assert_computes_the_same(before, after, tmp_path)


def test_with_padding_the_shift_cannot_fold_and_two_layers_become_one_power(tmp_path):
    weight = random_weight((4, 3, 3, 3), 1)
    before, after = fold(INSIGHTFACE + [conv("conv", "times", weight, pad=1)])
    assert types(after) == ["Power", "Convolution"]
    merged, convolution = after.layers
    assert (merged.name, merged.bottoms, merged.tops) == ("times", ("data",), ("times",))
    assert merged.params["power_param"] == {"scale": 0.0078125, "shift": -0.99609375}
    assert convolution.blobs[0] is weight
    assert after.names.as_dict() == {"times_output": "times", "conv_output": "conv"}
    assert after.notes[-1] == "merged 2 per-channel affine layer(s) on input 'data' ('minus', 'times') into one Power layer 'times'"
    assert_computes_the_same(before, after, tmp_path)


def test_per_channel_chain_with_padding_becomes_one_scale_with_bias(tmp_path):
    before, after = fold(GLUONCV + [conv("conv", "div", random_weight((4, 3, 3, 3), 1), pad=1)])
    assert types(after) == ["Scale", "Convolution"]
    merged = after.layers[0]
    assert merged.bottoms == ("data",) and merged.params["scale_param"] == {"axis": 1, "num_axes": 1, "bias_term": True}
    np.testing.assert_allclose(merged.blobs[0], 1 / STD, rtol=1e-7)
    np.testing.assert_allclose(merged.blobs[1], -MEAN / STD, rtol=1e-6)
    assert_computes_the_same(before, after, tmp_path)


def test_per_channel_chain_folds_without_padding(tmp_path):
    weight, bias = random_weight((4, 3, 3, 3), 1), random_weight((4,), 2)
    before, after = fold(GLUONCV + [conv("conv", "div", weight, bias)])
    assert types(after) == ["Convolution"]
    w = weight.astype(np.float64)
    s = 1 / STD
    t = -MEAN.astype(np.float32).astype(np.float64) * s  # the Scale layers hold float32 values
    np.testing.assert_allclose(after.layers[0].blobs[0], w * s[None, :, None, None], rtol=1e-6)
    np.testing.assert_allclose(after.layers[0].blobs[1], bias + np.einsum("ochw,c->o", w, t), rtol=1e-5)
    assert_computes_the_same(before, after, tmp_path)


def test_a_pure_scale_folds_even_with_padding(tmp_path):
    """Without a shift, padded zeros of raw pixels are padded zeros of scaled ones."""
    weight = random_weight((4, 3, 3, 3), 1)
    before, after = fold([scale("s", "data", [0.5, 2.0, -1.0]), power("p", "s", scale=0.25), conv("conv", "p", weight, pad=1)])
    assert types(after) == ["Convolution"]
    np.testing.assert_allclose(after.layers[0].blobs[0], weight * np.float32([0.125, 0.5, -0.25])[None, :, None, None])
    np.testing.assert_array_equal(after.layers[0].blobs[1], np.zeros(4, np.float32))  # a bias of its own now
    assert after.layers[0].params["convolution_param"]["bias_term"] is True
    assert_computes_the_same(before, after, tmp_path)


def test_grouped_convolution_scales_each_group_by_its_own_channels(tmp_path):
    """6 outputs in 2 groups over 4 channels: group g's input channel c is channel 2g + c."""
    shape = (2, 4, 6, 6)
    weight, bias = random_weight((6, 2, 3, 3), 1), random_weight((6,), 2)
    s, t = np.float32([1.0, 2.0, 3.0, 4.0]), np.float32([0.5, -1.0, 1.5, -2.0])
    before, after = fold([scale("norm", "data", s, t), conv("conv", "norm", weight, bias, group=2)], shape)
    assert types(after) == ["Convolution"]
    folded_weight, folded_bias = after.layers[0].blobs
    for o in range(6):
        channels = [2 * (o // 3), 2 * (o // 3) + 1]
        np.testing.assert_allclose(folded_weight[o], weight[o] * s[channels][:, None, None], rtol=1e-6)
        want = bias[o] + np.einsum("chw,c->", weight[o].astype(np.float64), t[channels])
        np.testing.assert_allclose(folded_bias[o], want, rtol=1e-5)
    assert_computes_the_same(before, after, tmp_path, shape)


def test_every_reading_convolution_gets_the_fold(tmp_path):
    first, second = random_weight((4, 3, 3, 3), 1), random_weight((2, 3, 1, 1), 2)
    before, after = fold(INSIGHTFACE + [conv("a", "times", first), conv("b", "times", second)])
    assert types(after) == ["Convolution", "Convolution"]
    assert [layer.bottoms for layer in after.layers] == [("data",), ("data",)]
    assert_computes_the_same(before, after, tmp_path)


def test_a_reader_that_is_not_a_convolution_keeps_one_layer(tmp_path):
    before, after = fold(INSIGHTFACE + [conv("conv", "times", random_weight((4, 3, 3, 3), 1)), pooling("pool", "times")])
    assert types(after) == ["Power", "Convolution", "Pooling"]
    assert_computes_the_same(before, after, tmp_path)


def test_a_chain_of_one_that_cannot_fold_stays_as_it_is():
    layers = [power("times", "data", scale=0.5, shift=1.0), conv("conv", "times", random_weight((4, 3, 3, 3), 1), pad=1)]
    net = net_of(SHAPE, layers)
    fold_input_affine.run(net, ConvertOptions())
    assert net.layers == layers and net.notes == []


def test_a_link_read_by_another_layer_too_ends_the_chain():
    """minus's value is read by times and pool: the chain is minus alone, which stays."""
    layers = INSIGHTFACE + [conv("conv", "times", random_weight((4, 3, 3, 3), 1)), pooling("pool", "minus")]
    net = net_of(SHAPE, layers)
    fold_input_affine.run(net, ConvertOptions())
    assert net.layers == layers and net.notes == []


def test_a_chain_ending_in_a_net_output_is_merged_under_the_output_name(tmp_path):
    before, after = fold(INSIGHTFACE)
    assert types(after) == ["Power"] and [t.blob for t in after.outputs] == ["times"]
    assert_computes_the_same(before, after, tmp_path)


@pytest.mark.parametrize(
    "not_affine",
    [
        power("squared", "data", shift=-127.5, exponent=2.0),
        Layer("rows", "Scale", ("data",), ("rows",), {"scale_param": {"axis": 1, "num_axes": 2}}, (np.ones((3, 7), np.float32),)),
    ],
    ids=["power-2", "scale-over-two-axes"],
)
def test_layers_that_are_not_per_channel_affine_maps_are_left_alone(not_affine):
    layers = [not_affine, power("times", not_affine.tops[0], scale=0.5), conv("conv", "times", random_weight((4, 3, 3, 3), 1))]
    net = net_of(SHAPE, layers)
    fold_input_affine.run(net, ConvertOptions())
    assert net.layers == layers


@pytest.mark.parametrize(
    "first, second",
    [((1e30, 0.0), (1e30, 0.0)), ((np.inf, 0.0), (0.0, 1.0))],
    ids=["product-overflows-float32", "inf-times-zero"],
)
def test_links_whose_composition_is_not_finite_stay_separate(recwarn, first, second):
    """Composed, the scales would overflow float32 or make inf * 0 = nan where the separate
    layers do not: the chain stops before that link, and numpy warns of nothing."""
    layers = [power("first", "data", scale=first[0], shift=first[1]),
              power("second", "first", scale=second[0], shift=second[1]),
              conv("conv", "second", random_weight((4, 3, 3, 3), 1), pad=1)]
    net = net_of(SHAPE, layers)
    fold_input_affine.run(net, ConvertOptions())
    assert net.layers == layers and net.notes == []
    assert not [warning for warning in recwarn if issubclass(warning.category, RuntimeWarning)]

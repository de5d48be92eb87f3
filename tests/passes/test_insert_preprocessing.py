"""insert_preprocessing on hand-built nets: which layers it adds, which weights it changes, and,
run in real Caffe and OpenCV, that the net fed raw pixels computes what the original net
computes fed (x[channels swapped] - mean) / std."""

import copy

import numpy as np
import pytest
from small_nets import assert_same_outputs, conv, net_of, pooling, power, random_weight, raw_pixels, scale

from mxnet2caffe import ConversionError, ConvertOptions
from mxnet2caffe.passes import insert_preprocessing

SHAPE = (2, 3, 6, 6)
MEAN = (10.0, 20.0, 30.0)  # in the MXNet model's channel order
STD = (2.0, 4.0, 8.0)


def normalized(raw: np.ndarray, mean, std, swap: bool) -> np.ndarray:
    """What the MXNet model is fed, per the documented semantics of the options."""
    x = raw[:, ::-1] if swap else raw
    channels = (1, -1, 1, 1)
    return ((x - np.reshape(mean, channels)) / np.reshape(std, channels)).astype(np.float32)


def types(net):
    return [layer.type for layer in net.layers]


def convert_raw(net, options):
    """(the net as it was, the net after the pass)."""
    before = copy.deepcopy(net)
    return before, insert_preprocessing.run(net, options)


def test_affine_goes_in_a_scale_layer_and_the_swap_into_the_weights(tmp_path):
    weight, bias = random_weight((4, 3, 3, 3), 1), random_weight((4,), 2)
    before, after = convert_raw(net_of(SHAPE, [conv("conv", "data", weight, bias, pad=1)]), ConvertOptions(mean=MEAN, std=STD, swap_rgb=True))
    assert types(after) == ["Scale", "Convolution"]
    normalize, convolution = after.layers
    assert normalize.bottoms == ("data",) and convolution.bottoms == normalize.tops
    assert [t.blob for t in after.inputs] == ["data"]  # users feed the input by name
    # the affine runs on the raw channels: raw channel c is the model's channel 2 - c
    np.testing.assert_array_equal(normalize.blobs[0], np.float32([1 / 8, 1 / 4, 1 / 2]))
    np.testing.assert_array_equal(normalize.blobs[1], np.float32([-30 / 8, -20 / 4, -10 / 2]))
    np.testing.assert_array_equal(convolution.blobs[0], weight[:, ::-1])
    np.testing.assert_array_equal(convolution.blobs[1], bias)
    assert after.notes == [
        "input 'data' takes raw pixels: Scale layer 'data/normalized' computes (x - mean) / std; "
        "channel order swapped in the weights of 'conv'"
    ]
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": normalized(raw, MEAN, STD, swap=True)}, after, {"data": raw}, tmp_path)


def _every_blob_is_read_or_an_output(net) -> bool:
    read = {bottom for layer in net.layers for bottom in layer.bottoms}
    outputs = {t.blob for t in net.outputs}
    return all(top in read or top in outputs for layer in net.layers for top in layer.tops)


@pytest.mark.parametrize(
    "readers",
    [
        lambda: [pooling("pool", "data")],  # not a convolution
        lambda: [conv("dw", "data", random_weight((3, 1, 3, 3), 3), pad=1, group=3)],  # groups
        lambda: [conv("conv", "data", random_weight((4, 3, 1, 1), 4)), pooling("pool", "data")],  # a mix
    ],
    ids=["pooling", "depthwise", "conv-and-pooling"],
)
def test_swap_by_slice_and_concat_when_the_weights_cannot_take_it(tmp_path, readers):
    layers = readers()
    weights = [layer.blobs for layer in layers]
    before, after = convert_raw(net_of(SHAPE, layers), ConvertOptions(mean=MEAN, std=STD, swap_rgb=True))
    assert types(after)[:3] == ["Scale", "Slice", "Concat"]
    normalize, split, swap = after.layers[:3]
    assert split.bottoms == normalize.tops and len(split.tops) == 3
    assert swap.bottoms == tuple(reversed(split.tops))
    assert [layer.bottoms for layer in after.layers[3:]] == [swap.tops] * len(layers)
    assert [layer.blobs for layer in after.layers[3:]] == weights  # untouched
    assert _every_blob_is_read_or_an_output(after)  # OpenCV would list a dangling blob as an output
    assert after.notes[-1].endswith("channel order swapped by Slice + Concat")
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": normalized(raw, MEAN, STD, swap=True)}, after, {"data": raw}, tmp_path)


def test_swap_alone_adds_no_layer_before_a_convolution(tmp_path):
    weight = random_weight((4, 3, 3, 3), 5)
    before, after = convert_raw(net_of(SHAPE, [conv("conv", "data", weight, pad=1)]), ConvertOptions(swap_rgb=True))
    assert types(after) == ["Convolution"] and after.layers[0].bottoms == ("data",)
    np.testing.assert_array_equal(after.layers[0].blobs[0], weight[:, ::-1])
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": raw[:, ::-1].copy()}, after, {"data": raw}, tmp_path)


def test_swap_alone_before_pooling(tmp_path):
    before, after = convert_raw(net_of(SHAPE, [pooling("pool", "data")]), ConvertOptions(swap_rgb=True))
    assert types(after) == ["Slice", "Concat", "Pooling"] and after.layers[0].bottoms == ("data",)
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": raw[:, ::-1].copy()}, after, {"data": raw}, tmp_path)


def test_swap_moves_past_per_channel_affine_layers_into_the_weights(tmp_path):
    """A graph's own normalization (per-channel Scale, scalar Power) commutes with the swap once
    its per-channel values are reversed: the swap lands in the convolution."""
    weight = random_weight((4, 3, 3, 3), 6)
    layers = [scale("norm", "data", [1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]), power("half", "norm", scale=0.5), conv("conv", "half", weight, pad=1)]
    before, after = convert_raw(net_of(SHAPE, layers), ConvertOptions(swap_rgb=True))
    assert types(after) == ["Scale", "Power", "Convolution"]
    np.testing.assert_array_equal(after.layers[0].blobs[0], np.float32([3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(after.layers[0].blobs[1], np.float32([-3.0, -2.0, -1.0]))
    np.testing.assert_array_equal(after.layers[2].blobs[0], weight[:, ::-1])
    assert after.notes == [
        "input 'data' takes raw pixels: channel order swapped after the per-channel layer(s) 'norm', 'half'; "
        "channel order swapped in the weights of 'conv'"
    ]
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": raw[:, ::-1].copy()}, after, {"data": raw}, tmp_path)


def test_swap_stays_before_a_per_channel_layer_whose_value_is_an_output(tmp_path):
    """The output 'norm' must be computed on swapped channels: the swap cannot move past it."""
    before, after = convert_raw(net_of(SHAPE, [scale("norm", "data", [1.0, 2.0, 3.0])]), ConvertOptions(swap_rgb=True))
    assert types(after) == ["Slice", "Concat", "Scale"]
    np.testing.assert_array_equal(after.layers[2].blobs[0], np.float32([1.0, 2.0, 3.0]))
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": raw[:, ::-1].copy()}, after, {"data": raw}, tmp_path)


def test_one_mean_value_stands_for_every_channel(tmp_path):
    before, after = convert_raw(net_of(SHAPE, [pooling("pool", "data")]), ConvertOptions(mean=(127.5,), std=(128.0,)))
    assert types(after) == ["Scale", "Pooling"]
    np.testing.assert_array_equal(after.layers[0].blobs[0], np.float32([1 / 128] * 3))
    np.testing.assert_array_equal(after.layers[0].blobs[1], np.float32([-127.5 / 128] * 3))
    raw = raw_pixels(SHAPE)
    assert_same_outputs(before, {"data": normalized(raw, 127.5, 128.0, swap=False)}, after, {"data": raw}, tmp_path)


def test_without_options_the_net_is_unchanged():
    net = net_of(SHAPE, [pooling("pool", "data")])
    layers = list(net.layers)
    assert insert_preprocessing.run(net, ConvertOptions()).layers == layers
    assert net.notes == []


@pytest.mark.parametrize(
    "net, options, message",
    [
        (lambda: net_of(SHAPE, [], inputs=("a", "b")), ConvertOptions(mean=(1.0,)), "exactly one input; this one has 2: 'a', 'b'"),
        (lambda: net_of((2, 3), []), ConvertOptions(std=(2.0,)), "need an N,C,H,W input; 'data' has shape (2, 3)"),
        (lambda: net_of(SHAPE, []), ConvertOptions(mean=(1.0, 2.0)), "--mean has 2 values but the input 'data' has 3 channels"),
        (lambda: net_of(SHAPE, []), ConvertOptions(std=(1.0, 2.0, 3.0, 4.0)), "--std has 4 values"),
        (lambda: net_of((1, 1, 4, 4), []), ConvertOptions(swap_rgb=True), "--swap-rgb needs 3 channels; the input 'data' has 1"),
    ],
)
def test_bad_requests_are_clear_errors(net, options, message):
    with pytest.raises(ConversionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        insert_preprocessing.run(net(), options)

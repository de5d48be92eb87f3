"""Net pass: the Caffe model takes raw pixels (--mean, --std, --swap-rgb).

The MXNet model is fed (x[channels swapped] - mean) / std, per channel in its own channel
order. Swapping only relabels channels, so the affine map runs first, on the raw channels
(mean and std taken in the raw order), and the channels are swapped after it:

- affine: one Scale layer right after the input (axis 1, weights 1/std, bias -mean/std); the
  input keeps its name, users feed it by name. fold_input_affine, the next pass, folds it
  into the convolutions after it where that is exact.
- swap: it commutes with per-channel affine layers (their weights reversed), so it moves past
  those the graph has on its input (insightface's scalar ops, gluoncv's mean and std), which
  fold_input_affine then folds together with the Scale. Where it lands, when every reader is a
  Convolution of one group, the reversal goes into the input-channel axis of their weights
  (exact with padding too: padded zeros stay zeros in any order); else a stock Slice into the
  3 channels and a Concat of them in reverse order.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import _native
from ..caffe.net import InputTransform, Layer, Net, Tensor
from ..errors import ConversionError
from ..naming import helper_name
from ..options import ConvertOptions
from .fold_input_affine import channel_affine

_FLAGS = "--mean/--std/--swap-rgb"


def _the_input(net: Net) -> Tensor:
    if len(net.inputs) != 1:
        names = ", ".join(f"'{tensor.blob}'" for tensor in net.inputs)
        raise ConversionError(f"{_FLAGS} need a model with exactly one input; this one has {len(net.inputs)}: {names}")
    tensor = net.inputs[0]
    if len(tensor.shape) != 4:
        raise ConversionError(f"{_FLAGS} need an N,C,H,W input; '{tensor.blob}' has shape {tensor.shape}")
    return tensor


def _per_channel(flag: str, values: Optional[Tuple[float, ...]], default: float, tensor: Tensor) -> np.ndarray:
    """One float64 value per channel, in the MXNet model's channel order."""
    channels = tensor.shape[1]
    if values is None:
        return np.full(channels, default)
    if len(values) not in (1, channels):
        raise ConversionError(
            f"--{flag} has {len(values)} values but the input '{tensor.blob}' has {channels} channels: "
            f"give 1 or {channels}"
        )
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (channels,)).copy()


def _insert_affine(net: Net, tensor: Tensor, scale: np.ndarray, shift: np.ndarray) -> str:
    """A Scale layer y = scale * x + shift on the input; every former reader reads y instead.
    Returns y's blob."""
    readers = net.consumers(tensor.blob)
    top = net.fresh_name(helper_name(tensor.blob, "normalized"))
    weights = (scale.astype(np.float32), shift.astype(np.float32))
    params = {"scale_param": {"axis": 1, "num_axes": 1, "bias_term": True}}
    net.insert(0, [Layer(top, "Scale", (tensor.blob,), (top,), params, weights)])
    net.shapes[top] = tensor.shape
    net.reroute(readers, tensor.blob, top)
    return top


def _past_channel_affines(net: Net, blob: str) -> Tuple[str, List[str]]:
    """The blob after the per-channel affine layers that follow `blob` one by one (each the only
    reader of the blob before it, none a net output), and their names. Their weights are
    reversed so that they compute on the unswapped channels what they computed on the swapped."""
    channels = net.shapes[blob][1]
    passed: List[str] = []
    while True:
        readers = net.consumers(blob)
        if len(readers) != 1 or channel_affine(readers[0], channels) is None or net.is_output(readers[0].tops[0]):
            return blob, passed
        link = readers[0]
        reversed_blobs = tuple(_native.reverse_axis(weights, 0) for weights in link.blobs)
        net.replace([link], [dataclasses.replace(link, blobs=reversed_blobs)])
        passed.append(link.name)
        blob = link.tops[0]


def _takes_reversed_weights(layer: Layer, blob: str) -> bool:
    """A Convolution of one group reading only `blob`: its input channels are its weights' axis 1."""
    param = layer.params.get("convolution_param", {})
    return layer.type == "Convolution" and layer.bottoms == (blob,) and param.get("group", 1) == 1 and bool(layer.blobs)


def _reverse_in_weights(net: Net, readers: Sequence[Layer]) -> None:
    for layer in readers:
        weights = _native.reverse_axis(layer.blobs[0], 1)
        net.replace([layer], [dataclasses.replace(layer, blobs=(weights,) + layer.blobs[1:])])


def _insert_reversal(net: Net, blob: str, readers: Sequence[Layer]) -> None:
    """Slice `blob` into its channels, Concat them in reverse order; the readers read that.
    Every Slice top feeds the Concat: no blob dangles (OpenCV would list it as an output)."""
    n, channels, height, width = net.shapes[blob]
    parts = []
    for channel in range(channels):
        part = net.fresh_name(helper_name(blob, f"channel{channel}"))
        net.shapes[part] = (n, 1, height, width)
        parts.append(part)
    swapped = net.fresh_name(helper_name(blob, "swapped"))
    net.shapes[swapped] = (n, channels, height, width)
    slice_param = {"slice_param": {"axis": 1, "slice_point": list(range(1, channels))}}
    layers = [
        Layer(parts[0], "Slice", (blob,), tuple(parts), slice_param),
        Layer(swapped, "Concat", tuple(reversed(parts)), (swapped,), {"concat_param": {"axis": 1}}),
    ]
    producer = net.producer(blob)
    net.insert(0 if producer is None else net.index(producer) + 1, layers)
    net.reroute(readers, blob, swapped)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _swap_channels(net: Net, blob: str) -> List[str]:
    """Reverses the channels of `blob` for its readers, as late and as cheaply as exact; says how."""
    blob, passed = _past_channel_affines(net, blob)
    done = [f"channel order swapped after the per-channel layer(s) {_quoted(passed)}"] if passed else []
    readers = net.consumers(blob)
    if all(_takes_reversed_weights(layer, blob) for layer in readers):
        _reverse_in_weights(net, readers)
        done.append(f"channel order swapped in the weights of {_quoted([layer.name for layer in readers])}")
    else:
        _insert_reversal(net, blob, readers)
        done.append("channel order swapped by Slice + Concat")
    return done


def run(net: Net, options: ConvertOptions) -> Net:
    if not options.preprocessing:
        return net
    tensor = _the_input(net)
    channels = tensor.shape[1]
    if options.swap_rgb and channels != 3:
        raise ConversionError(f"--swap-rgb needs 3 channels; the input '{tensor.blob}' has {channels}")
    mean = _per_channel("mean", options.mean, 0.0, tensor)
    std = _per_channel("std", options.std, 1.0, tensor)
    layout = net.input_transforms.get(tensor.blob, InputTransform())  # an NHWC input's, say
    net.input_transforms[tensor.blob] = dataclasses.replace(
        layout, mean=tuple(mean), std=tuple(std), swap_rgb=options.swap_rgb
    )
    done: List[str] = []
    blob = tensor.blob
    if options.mean is not None or options.std is not None:
        if options.swap_rgb:  # raw channel c holds the model's channel C-1-c
            mean, std = mean[::-1], std[::-1]
        blob = _insert_affine(net, tensor, 1.0 / std, -mean / std)
        done.append(f"Scale layer '{blob}' computes (x - mean) / std")
    if options.swap_rgb:
        done += _swap_channels(net, blob)
    net.notes.append(f"input '{tensor.blob}' takes raw pixels: " + "; ".join(done))
    return net

"""Net pass: a zero padding (a depthwise 1x1 Convolution of ones with pad and no bias, as the Pad
converter emits it) merged into the one layer that reads it, where that layer's own padding
computes the same values:

- a Convolution pads with zeros too: the pads add up (any stride, dilation or group);
- an AVE Pooling with pad 0: Caffe's divisor with pad p over the input is its divisor with pad 0
  over the zero-padded input (a window is clipped at size + p in one, at size + 2p in the other:
  the same window), and the zeros add nothing to the sums;
- a MAX Pooling with pad 0: Caffe's max skips its padding while the padded blob holds real
  zeros, so only a blob that is never negative (a ReLU's output) folds.
A Pooling folds only where its output size stays the same and the pad stays below the kernel
(Caffe refuses it otherwise). Caffe drops a last window that would start in its padding, so at
the same size every window of the folded layer still holds an input element (in the rounded-down
form too: its last window ends inside the padded input and the pad is below the kernel).

Not folded: a padding that is a net output or read by several layers; asymmetric padding (the
Pad converter's Crop form), non-zero constants, Deconvolution (whose pad crops). The padded blob
leaves the NameMap (a pass computed it away), as fuse_batch_norm's blobs do.

Run it before pooling_rounding, which reads the pad of each rounded-down Pooling.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from ..caffe.net import Layer, Net
from ..caffe.sizes import pooling_output_size
from ..options import ConvertOptions

# Convolution parameters a zero padding may set, and the values it must have then
_PAD_FREE_KEYS = {"kernel_h": 1, "kernel_w": 1, "stride_h": 1, "stride_w": 1, "bias_term": False, "axis": 1}
_PADDING_KEYS = ("pad", "pad_h", "pad_w")


def _conv_pads(param: Mapping[str, Any]) -> Tuple[int, int]:
    """(pad_h, pad_w) of a ConvolutionParameter: `pad` (one value or one per axis) or pad_h/pad_w."""
    if "pad" in param:
        pads = list(param["pad"]) or [0]
        return int(pads[0]), int(pads[-1])
    return int(param.get("pad_h", 0)), int(param.get("pad_w", 0))


def zero_padding(layer: Layer) -> Optional[Tuple[int, int]]:
    """(pad_h, pad_w) if `layer` does nothing but frame its input with zeros, else None."""
    param = layer.params.get("convolution_param", {})
    if layer.type != "Convolution" or len(layer.bottoms) != 1 or len(layer.tops) != 1 or len(layer.params) != 1:
        return None
    channels = param.get("num_output")
    known = {"num_output", "group", "dilation", *_PAD_FREE_KEYS, *_PADDING_KEYS}
    if set(param) - known or param.get("group", 1) != channels or param.get("bias_term", True):
        return None
    if any(param.get(key, value) != value for key, value in _PAD_FREE_KEYS.items()):
        return None
    if len(set(param.get("dilation", [1])) - {1}) or len(layer.blobs) != 1:
        return None
    weights = layer.blobs[0]
    if weights.shape != (channels, 1, 1, 1) or not np.all(weights == 1):
        return None
    pads = _conv_pads(param)
    return pads if any(pads) else None


def _pool_geometry(param: Mapping[str, Any], axis: str) -> Tuple[int, int, int]:
    """(kernel, stride, pad) of a PoolingParameter along axis 'h' or 'w'."""
    kernel = param.get(f"kernel_{axis}", param.get("kernel_size", 0))
    stride = param.get(f"stride_{axis}", param.get("stride", 1))
    return int(kernel), int(stride), int(param.get(f"pad_{axis}", param.get("pad", 0)))


def _never_negative(net: Net, blob: str) -> bool:
    producer = net.producer(blob)
    return (
        producer is not None
        and producer.type == "ReLU"
        and producer.params.get("relu_param", {}).get("negative_slope", 0) == 0
    )


def _folded_pooling(net: Net, padding: Layer, pooling: Layer, pads: Tuple[int, int]) -> Optional[Dict[str, Any]]:
    """The Pooling's parameters with the padding folded in, or None where that changes a value."""
    param = pooling.params.get("pooling_param", {})
    method = param.get("pool", "MAX")
    shape = net.shapes.get(padding.bottoms[0])
    if method not in ("MAX", "AVE") or param.get("global_pooling", False) or shape is None or len(shape) != 4:
        return None
    if method == "MAX" and not _never_negative(net, padding.bottoms[0]):
        return None
    # rounded down (ceil_mode: false), both forms give (size + 2 * pad - kernel) // stride + 1
    rounds_up = param.get("ceil_mode", True)
    for axis, size, pad in zip("hw", shape[2:], pads):
        kernel, stride, own_pad = _pool_geometry(param, axis)
        if own_pad or pad >= kernel:
            return None
        padded_count = pooling_output_size(size + 2 * pad, kernel, stride, 0)
        if rounds_up and pooling_output_size(size, kernel, stride, pad) != padded_count:
            return None
    folded = {key: value for key, value in param.items() if key != "pad"}
    folded.update(pad_h=pads[0], pad_w=pads[1])
    return {**pooling.params, "pooling_param": folded}


def _folded_params(net: Net, padding: Layer, reader: Layer, pads: Tuple[int, int]) -> Optional[Dict[str, Any]]:
    if reader.type == "Convolution":
        param = reader.params.get("convolution_param", {})
        own = _conv_pads(param)
        folded = {key: value for key, value in param.items() if key != "pad"}
        folded.update(pad_h=own[0] + pads[0], pad_w=own[1] + pads[1])
        return {**reader.params, "convolution_param": folded}
    if reader.type == "Pooling":
        return _folded_pooling(net, padding, reader, pads)
    return None


def _fold(net: Net, layer: Layer) -> bool:
    """Folds `layer` into its reader if it is a zero padding that folds exactly."""
    pads = zero_padding(layer)
    if pads is None or net.is_output(layer.tops[0]):
        return False
    readers = net.consumers(layer.tops[0])
    if len(readers) != 1 or readers[0].bottoms != layer.tops:
        return False
    params = _folded_params(net, layer, readers[0], pads)
    if params is None:
        return False
    net.replace([layer, readers[0]], [dataclasses.replace(readers[0], bottoms=layer.bottoms, params=params)])
    return True


def run(net: Net, options: ConvertOptions) -> Net:
    folded = 0
    position = 0
    while position < len(net.layers):
        # the merged layer takes the padding's place; it may be a padding that folds again
        if _fold(net, net.layers[position]):
            folded += 1
        else:
            position += 1
    if folded:
        net.notes.append(f"folded {folded} zero padding(s) into the Convolution or Pooling reading them")
    return net

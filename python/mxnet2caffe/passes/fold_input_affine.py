"""Net pass: per-channel affine layers on a net input become one layer at most, none where exact.

From each input, the chain of per-channel affine layers (Power with power 1, y = shift +
scale * x; a one-bottom Scale with weights over axis 1 alone, with or without bias), each
link's output read only by the next link and not a net output, is composed in float64 into
y = s[c] * x + t[c]. Input normalization looks like this: --mean/--std's Scale layer,
insightface's _minus_scalar + _mul_scalar, gluoncv's broadcast_sub + broadcast_div by
constants.

- When every reader of the chain's end is a Convolution and folding is exact, the chain goes
  into their weights: W'[o, c] = W[o, c] * s[c], b'[o] = b[o] + sum over c, kh, kw of
  W[o, c, kh, kw] * t[c]. Exact when the convolution has no padding, or when t is 0 (the
  padded zeros of raw pixels are the padded zeros of normalized ones only without a shift).
- Otherwise a chain of several layers becomes one: Power when s and t are one value for every
  channel, else Scale with bias. A chain of one layer that cannot be folded stays.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..caffe.net import Layer, Net
from ..options import ConvertOptions


@dataclass(frozen=True, eq=False)
class _Chain:
    layers: Tuple[Layer, ...]
    scale: np.ndarray  # s[c], float64
    shift: np.ndarray  # t[c], float64

    @property
    def start(self) -> str:
        return self.layers[0].bottoms[0]

    @property
    def end(self) -> str:
        return self.layers[-1].tops[0]


def channel_affine(layer: Layer, channels: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(scale, shift), one float64 value per channel, if `layer` computes scale[c] * x + shift[c]
    from its one bottom of `channels` channels (axis 1); None for any other layer."""
    if len(layer.bottoms) != 1 or len(layer.tops) != 1 or layer.bottoms == layer.tops:
        return None
    if layer.type == "Power":
        param = layer.params.get("power_param", {})
        if param.get("power", 1.0) != 1.0:
            return None
        return np.full(channels, float(param.get("scale", 1.0))), np.full(channels, float(param.get("shift", 0.0)))
    if layer.type == "Scale":
        param = layer.params.get("scale_param", {})
        bias = bool(param.get("bias_term", False))
        if param.get("axis", 1) != 1 or param.get("num_axes", 1) != 1 or len(layer.blobs) != 1 + bias:
            return None
        if any(blob.shape != (channels,) for blob in layer.blobs):
            return None
        shift = layer.blobs[1].astype(np.float64) if bias else np.zeros(channels)
        return layer.blobs[0].astype(np.float64), shift
    return None


def _chain_from(net: Net, first: Layer, channels: int) -> Optional[_Chain]:
    links: List[Layer] = []
    scale, shift = np.ones(channels), np.zeros(channels)
    layer = first
    while True:
        affine = channel_affine(layer, channels)
        if affine is None:
            break
        link_scale, link_shift = affine
        with np.errstate(over="ignore", invalid="ignore"):  # what is not finite is refused just below
            composed = link_scale * scale, link_scale * shift + link_shift
            finite = all(np.all(np.isfinite(values.astype(np.float32))) for values in composed)
        if not finite:
            break  # one layer would overflow float32 (or make inf * 0) where the separate ones do not
        scale, shift = composed
        links.append(layer)
        readers = net.consumers(layer.tops[0])
        if net.is_output(layer.tops[0]) or len(readers) != 1:
            break
        layer = readers[0]
    return _Chain(tuple(links), scale, shift) if links else None


def _chains(net: Net) -> List[_Chain]:
    chains = []
    for tensor in net.inputs:
        if len(tensor.shape) < 2:  # no channel axis
            continue
        for first in net.consumers(tensor.blob):
            chain = _chain_from(net, first, tensor.shape[1])
            if chain is not None:
                chains.append(chain)
    return chains


def _pads(param: Mapping[str, Any]) -> Tuple[int, ...]:
    if "pad_h" in param or "pad_w" in param:
        return int(param.get("pad_h", 0)), int(param.get("pad_w", 0))
    return tuple(int(pad) for pad in param.get("pad", [0]))


def _folds_exactly(layer: Layer, blob: str, chain: _Chain) -> bool:
    if layer.type != "Convolution" or layer.bottoms != (blob,) or not layer.blobs:
        return False
    return not any(_pads(layer.params.get("convolution_param", {}))) or not np.any(chain.shift)


def _folded(conv: Layer, chain: _Chain) -> Layer:
    """The convolution reading the chain's start, computing what it computed on its end."""
    param = conv.params.get("convolution_param", {})
    group = int(param.get("group", 1))
    weight = conv.blobs[0].astype(np.float64)
    outputs, per_group = weight.shape[:2]
    # input channel c of output o's group g is channel g * per_group + c of the blob read
    channel = (np.arange(outputs) // (outputs // group))[:, None] * per_group + np.arange(per_group)[None, :]
    spatial = (slice(None), slice(None)) + (np.newaxis,) * (weight.ndim - 2)
    bias = conv.blobs[1].astype(np.float64) if len(conv.blobs) > 1 else np.zeros(outputs)
    bias = bias + (weight * chain.shift[channel][spatial]).reshape(outputs, -1).sum(axis=1)
    weight = weight * chain.scale[channel][spatial]
    params: Dict[str, Any] = {**conv.params, "convolution_param": {**param, "bias_term": True}}
    return dataclasses.replace(
        conv,
        bottoms=(chain.start,),
        params=params,
        blobs=(weight.astype(np.float32), bias.astype(np.float32)),
    )


def _merged(chain: _Chain) -> Layer:
    """One layer computing the whole chain, with the last link's name and top."""
    last = chain.layers[-1]
    scale, shift = chain.scale, chain.shift
    if np.all(scale == scale[0]) and np.all(shift == shift[0]):
        power = {"power_param": {"scale": float(scale[0]), "shift": float(shift[0])}}
        return Layer(last.name, "Power", (chain.start,), last.tops, power)
    params = {"scale_param": {"axis": 1, "num_axes": 1, "bias_term": True}}
    blobs = (scale.astype(np.float32), shift.astype(np.float32))
    return Layer(last.name, "Scale", (chain.start,), last.tops, params, blobs)


def _describe(chain: _Chain) -> str:
    return f"{len(chain.layers)} per-channel affine layer(s) on input '{chain.start}' (" + ", ".join(
        f"'{layer.name}'" for layer in chain.layers
    ) + ")"


def run(net: Net, options: ConvertOptions) -> Net:
    del options  # no choice here: folding is exact or not done
    for chain in _chains(net):
        readers = net.consumers(chain.end)
        if readers and not net.is_output(chain.end) and all(_folds_exactly(r, chain.end, chain) for r in readers):
            for conv in readers:
                net.replace([conv], [_folded(conv, chain)])
            for link in chain.layers:
                net.remove(link)
            names = ", ".join(f"'{conv.name}'" for conv in readers)
            net.notes.append(f"folded {_describe(chain)} into the weights of Convolution {names}")
        elif len(chain.layers) > 1:
            merged = _merged(chain)
            net.replace(list(chain.layers), [merged])
            net.notes.append(f"merged {_describe(chain)} into one {merged.type} layer '{merged.name}'")
    return net

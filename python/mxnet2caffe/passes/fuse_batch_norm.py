"""Net pass (--fuse-bn): BatchNorm + Scale, as the BatchNorm converter emits them, folded into the
Convolution, InnerProduct or Deconvolution before them.

At inference the pair is one affine map per channel, y = x * a + c with a = gamma / sqrt(var + eps)
and c = beta - mean * a, and the producer's weights absorb it: W'[o] = W[o] * a[o] and
b'[o] = b[o] * a[o] + c[o] (a producer without a bias gains one).

The three layers fuse only where nothing else sees the two values in between: the producer's
output is read by the BatchNorm alone and the BatchNorm's by the Scale alone, and neither is a net
output. The fused layer takes the Scale's name and top, so the layers after it are untouched; the
two blobs in between no longer exist and leave the NameMap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

import numpy as np

from .. import _native
from ..caffe.net import Layer, Net
from ..options import ConvertOptions

# producer type -> the LayerParameter field holding its bias_term (and axis, group)
_PARAM_FIELDS = {
    "Convolution": "convolution_param",
    "Deconvolution": "convolution_param",
    "InnerProduct": "inner_product_param",
}
# BatchNormParameter's default in Caffe's caffe.proto (a layer we did not write may omit eps)
_CAFFE_BN_EPS = 1e-5
_LEFT_LISTED = 10  # at most this many unfused BatchNorm layers are named in the note


@dataclass(frozen=True)
class _Fusable:
    producer: Layer
    batch_norm: Layer
    scale: Layer


def _param(layer: Layer, field: str) -> Mapping[str, Any]:
    return layer.params.get(field, {})


def _sole_reader(net: Net, blob: str) -> Optional[Layer]:
    """The only layer reading `blob`, if one alone does and `blob` is no net output."""
    readers = net.consumers(blob)
    return readers[0] if len(readers) == 1 and not net.is_output(blob) else None


def _one_in_one_out(layer: Layer) -> bool:
    return len(layer.bottoms) == 1 and len(layer.tops) == 1


def _outputs_channels_on_axis_1(net: Net, producer: Layer) -> bool:
    """Whether axis 1 of the producer's output, the one BatchNorm normalizes, is its output unit:
    a convolution's `axis` says so; an InnerProduct's output keeps the axes before its `axis` and
    puts the units last, so only a 2-d output (N, units) has them on axis 1."""
    if producer.type == "InnerProduct":
        return len(net.shapes.get(producer.tops[0], ())) == 2
    return _param(producer, "convolution_param").get("axis", 1) == 1


def _is_per_channel(scale: Layer) -> bool:
    param = _param(scale, "scale_param")
    return len(scale.bottoms) == 1 and param.get("axis", 1) == 1 and param.get("num_axes", 1) == 1


def _find(net: Net, batch_norm: Layer) -> Optional[_Fusable]:
    if not _one_in_one_out(batch_norm):
        return None
    # Caffe's TEST phase normalizes with the stored statistics unless told not to
    if _param(batch_norm, "batch_norm_param").get("use_global_stats", True) is False:
        return None
    producer = net.producer(batch_norm.bottoms[0])
    if producer is None or producer.type not in _PARAM_FIELDS or not _one_in_one_out(producer):
        return None
    if _sole_reader(net, producer.tops[0]) is not batch_norm or not _outputs_channels_on_axis_1(net, producer):
        return None
    scale = _sole_reader(net, batch_norm.tops[0])
    if scale is None or scale.type != "Scale" or not _is_per_channel(scale):
        return None
    return _Fusable(producer, batch_norm, scale)


def _channels(blob: np.ndarray) -> np.ndarray:
    return np.asarray(blob, np.float64).ravel()


def _fused_layer(fusable: _Fusable) -> Layer:
    """The producer with Scale(BatchNorm(.)) folded in, computed in float64 by the native kernel
    (cpp/weights.hpp: a = gamma / sqrt(var / factor + eps), c = beta - mean / factor * a, Caffe
    taking a factor of 0 as 0; W'[o] = W[o] * a[o], b'[o] = b[o] * a[o] + c[o]) and rounded to float32."""
    producer, batch_norm, scale = fusable.producer, fusable.batch_norm, fusable.scale
    field = _PARAM_FIELDS[producer.type]
    mean, var, factor = (_channels(blob) for blob in batch_norm.blobs[:3])
    gamma = _channels(scale.blobs[0])
    has_beta = _param(scale, "scale_param").get("bias_term", False)
    beta = _channels(scale.blobs[1]) if has_beta else np.zeros_like(gamma)
    has_bias = _param(producer, field).get("bias_term", True)
    bias = _channels(producer.blobs[1]) if has_bias else np.zeros_like(gamma)
    transposed = producer.type == "Deconvolution"  # weights (I, O/g, kh, kw)
    groups = _param(producer, "convolution_param").get("group", 1) if transposed else 1
    weights, folded_bias = _native.fold_batch_norm(
        np.asarray(producer.blobs[0]),
        bias,
        mean,
        var,
        float(factor[0]),
        _param(batch_norm, "batch_norm_param").get("eps", _CAFFE_BN_EPS),
        gamma,
        beta,
        groups,
        transposed,
    )
    params = {**producer.params, field: {**_param(producer, field), "bias_term": True}}
    return Layer(scale.name, producer.type, producer.bottoms, scale.tops, params, (weights, folded_bias))


def run(net: Net, options: ConvertOptions) -> Net:
    if not options.fuse_bn:
        return net
    batch_norms = [layer for layer in net.layers if layer.type == "BatchNorm"]
    found = [(layer, _find(net, layer)) for layer in batch_norms]
    fused: Counter[str] = Counter()
    for _, fusable in found:
        if fusable is not None:
            net.replace([fusable.producer, fusable.batch_norm, fusable.scale], [_fused_layer(fusable)])
            fused[fusable.producer.type] += 1
    if fused:
        into = "/".join(sorted(fused))
        net.notes.append(f"fused {sum(fused.values())} BatchNorm layer(s) into the {into} before them")
    left: List[str] = [layer.name for layer, fusable in found if fusable is None]
    if left:
        more = f" and {len(left) - _LEFT_LISTED} more" if len(left) > _LEFT_LISTED else ""
        net.notes.append(
            f"left {len(left)} BatchNorm layer(s) unfused (no Convolution/InnerProduct/Deconvolution output "
            f"read by them alone, or no Scale alone after them): {', '.join(left[:_LEFT_LISTED])}{more}"
        )
    return net

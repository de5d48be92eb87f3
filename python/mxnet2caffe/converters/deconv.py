"""Deconvolution -> Caffe Deconvolution, with a Crop where MXNet's `adj` needs one.

Along each spatial axis MXNet's output is rows [pad, pad + out) of the full transposed
convolution, full = (in - 1) * stride + dilate * (kernel - 1) + 1 rows, extended by zeros at its
end; the bias is added everywhere and out = full - 2 * pad + adj. Caffe's Deconvolution has the
same weight layout, (C_in, num_filter / group, kh, kw), but no adj: it gives rows [pad, full - pad).
The stock form, exact because a zero weight adds exactly nothing:
- dilation becomes part of the kernel: dilate - 1 zero taps between the taps (OpenCV DNN ignores
  a Deconvolution's `dilation` and computes a smaller output);
- adj <= pad: the pad is lowered by adj, so Caffe's output starts adj rows earlier and ends adj
  rows later, and a Crop starting at row adj cuts MXNet's rows out of it;
- adj > pad: adj zero taps appended to the kernel add adj rows at the end of the full output,
  rows no input reaches, so they hold the bias alone, as MXNet's do.
`target_shape` makes MXNet pick pad and adj itself (pad rounded up, adj the odd remainder), as
its reference kernel and documentation say. Pip MXNet 1.9's oneDNN CPU kernel disagrees: it keeps
the pad and adj attributes, so it fails unless they give the target size and otherwise computes
other rows; the conversion follows target_shape and logs a warning where the two differ.

OpenCV DNN 4.x folds a BatchNorm that directly follows a grouped Deconvolution wrongly (Caffe is
exact); --fuse-bn folds it correctly first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..caffe.forms import crop, size_reference
from ..caffe.net import Layer, Tensor
from ..errors import shortened
from .context import Converted, NodeContext
from .conv import read_conv_attrs, window_values
from .registry import converter

log = logging.getLogger(__name__)

Pair = Tuple[int, ...]  # (height, width)


def deconvolution_param(
    num_output: int, kernel: Pair, stride: Pair, pad: Pair, group: int, bias_term: bool
) -> Dict[str, Mapping[str, Any]]:
    """A Caffe Deconvolution layer's parameters (UpSampling's forms share them)."""
    params = {
        "num_output": num_output,
        "bias_term": bias_term,
        "kernel_h": kernel[0],
        "kernel_w": kernel[1],
        "stride_h": stride[0],
        "stride_w": stride[1],
        "pad_h": pad[0],
        "pad_w": pad[1],
        "group": group,
    }
    return {"convolution_param": params}


def _dilated_size(kernel: int, dilate: int) -> int:
    return dilate * (kernel - 1) + 1


@dataclass(frozen=True)
class _Axis:
    """How Caffe computes MXNet's output along one axis, with the dilated kernel's size."""

    out: int  # MXNet's output size
    caffe_pad: int
    zero_taps: int  # zero weights appended to the kernel
    cut: int  # rows Caffe computes before MXNet's first: the Crop's offset, and its size surplus


def _plan_axis(size: int, kernel: int, stride: int, pad: int, adj: int) -> _Axis:
    out = (size - 1) * stride + kernel - 2 * pad + adj
    if adj <= pad:
        return _Axis(out, caffe_pad=pad - adj, zero_taps=0, cut=adj)
    return _Axis(out, caffe_pad=pad, zero_taps=adj, cut=0)


def _pad_and_adj(ctx: NodeContext, size: Pair, kernel: Pair, stride: Pair) -> Tuple[Pair, Pair]:
    """MXNet's pad and adj (kernel dilated): the attributes, or what target_shape makes of them."""
    pad = window_values(ctx, "pad", ctx.spatial_attr("pad", (0, 0)), 0)
    adj = window_values(ctx, "adj", ctx.spatial_attr("adj", (0, 0)), 0)
    target = ctx.attrs.int_tuple("target_shape", None)  # MXNet reads "None" as not given
    if not any(target):  # MXNet ignores an empty or all-zero target_shape
        return pad, adj
    if len(target) != 2 or min(target) <= 0:
        raise ctx.error(f"target_shape {target} must give a positive (height, width)")
    surplus = [(length - 1) * step + window - want for length, step, window, want in zip(size, stride, kernel, target)]
    if min(surplus) < 0:
        raise ctx.error(f"target_shape {target} is larger than the full output for input {size}")
    target_pad, target_adj = tuple((rows + 1) // 2 for rows in surplus), tuple(rows % 2 for rows in surplus)
    if (pad, adj) != (target_pad, target_adj) and (any(pad) or any(adj)):
        log.warning(
            "node '%s' (Deconvolution): target_shape %s sets pad %s and adj %s, not the pad %s and adj %s "
            "given; converted as target_shape says (MXNet's oneDNN CPU kernel would use the given ones)",
            shortened(ctx.name), target, target_pad, target_adj, pad, adj,
        )
    return target_pad, target_adj


def _caffe_weights(weights: np.ndarray, dilate: Pair, axes: Sequence[_Axis]) -> np.ndarray:
    """The kernel with dilate - 1 zeros between taps and each axis' zero taps appended."""
    inputs, outputs, height, width = weights.shape
    dilated = (_dilated_size(height, dilate[0]), _dilated_size(width, dilate[1]))
    shape = (inputs, outputs, dilated[0] + axes[0].zero_taps, dilated[1] + axes[1].zero_taps)
    kernel = np.zeros(shape, dtype=np.float32)
    kernel[:, :, : dilated[0] : dilate[0], : dilated[1] : dilate[1]] = weights
    return kernel


@converter("Deconvolution")
def convert_deconvolution(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    attrs = read_conv_attrs(ctx, data, "deconvolution", no_bias_default=True)  # unlike Convolution's default
    kernel, stride, dilate = attrs.kernel, attrs.stride, attrs.dilate
    num_filter, group, no_bias = attrs.num_filter, attrs.group, attrs.no_bias
    n, channels, height, width = data.shape
    dilated = tuple(_dilated_size(k, d) for k, d in zip(kernel, dilate))
    pad, adj = _pad_and_adj(ctx, (height, width), dilated, stride)
    if any(a >= s for a, s in zip(adj, stride)):
        raise ctx.error(f"adj {adj} must be smaller than stride {stride}, as MXNet requires")
    axes = [_plan_axis(*args) for args in zip((height, width), dilated, stride, pad, adj)]
    if min(axis.out for axis in axes) <= 0:
        raise ctx.error(f"output would be empty for input {data.shape} (pad {pad}, adj {adj})")
    blobs = [_caffe_weights(ctx.param(1, (channels, num_filter // group) + kernel), dilate, axes)]
    if not no_bias:
        blobs.append(ctx.param(2, (num_filter,)))
    caffe_kernel = tuple(size + axis.zero_taps for size, axis in zip(dilated, axes))
    caffe_pad = tuple(axis.caffe_pad for axis in axes)
    params = deconvolution_param(num_filter, caffe_kernel, stride, caffe_pad, group, not no_bias)
    out = Tensor(ctx.output_blob(), (n, num_filter, axes[0].out, axes[1].out))
    cuts = (axes[0].cut, axes[1].cut)
    if not any(cuts):
        return ctx.single("Deconvolution", [data.blob], out.shape, params, blobs)
    larger = ctx.layer_name("uncropped")
    reference = ctx.layer_name("size")
    layers: List[Layer] = [
        ctx.layer("Deconvolution", [data.blob], [larger], params, blobs, suffix="uncropped"),
        size_reference(reference, larger, cuts),
        crop(out.blob, larger, reference, offsets=cuts),
    ]
    return Converted(layers=tuple(layers), outputs=(out,))

"""UpSampling -> Caffe Deconvolution (grouped), with Concat or Eltwise for several inputs.

- nearest: each output pixel is one input pixel. A Deconvolution with one group per channel,
  kernel = stride = scale and weights of 1 writes every input pixel into its scale x scale
  block, times 1: exact. With several inputs MXNet brings each to the first one's size times
  `scale` (input i by its own factor) and concatenates them on channels or sums them.
- bilinear: MXNet itself runs a Deconvolution with the weight input (C, 1, k, k),
  k = 2 * scale - scale % 2, stride scale, pad ceil((scale - 1) / 2), one group per channel and
  no bias; the same layer in Caffe.

Both forms are grouped Deconvolutions, and OpenCV DNN 4.x folds a BatchNorm that directly follows
a grouped Deconvolution wrongly (a BatchNorm right after an UpSampling: relative error 0.2-0.8 in
OpenCV, Caffe exact). A converter cannot see what follows its node; --fuse-bn folds such a
BatchNorm correctly before OpenCV sees it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

from ..caffe.net import Layer, Tensor
from .context import Converted, NodeContext
from .deconv import deconvolution_param
from .registry import converter

# multi_input_mode -> the Caffe layer joining the upsampled inputs
_MODES: Dict[str, Tuple[str, Mapping[str, Mapping[str, Any]]]] = {
    "concat": ("Concat", {"concat_param": {"axis": 1}}),
    "sum": ("Eltwise", {"eltwise_param": {"operation": "SUM"}}),
}


def _nearest_layer(ctx: NodeContext, tensor: Tensor, factor: int, top: str, suffix: str) -> Layer:
    channels = tensor.shape[1]
    params = deconvolution_param(channels, (factor, factor), (factor, factor), (0, 0), channels, bias_term=False)
    ones = np.ones((channels, 1, factor, factor), dtype=np.float32)
    return ctx.layer("Deconvolution", [tensor.blob], [top], params, [ones], suffix=suffix)


def _factor(ctx: NodeContext, index: int, tensor: Tensor, size: Tuple[int, int]) -> int:
    """The factor input `index` is upsampled by to reach `size`, as MXNet derives it."""
    height, width = tensor.shape[2:]
    factor = size[0] // height
    if size[0] % height or (width * factor, height * factor) != (size[1], size[0]):
        raise ctx.error(
            f"input {index} of size {(height, width)} is not an integer factor, the same for height "
            f"and width, of the output size {size} (MXNet fails to run this)"
        )
    return factor


def _nearest(ctx: NodeContext, scale: int, mode: str, num_args: int) -> Converted:
    if num_args != ctx.num_inputs:
        raise ctx.error(f"num_args {num_args} does not match the {ctx.num_inputs} inputs")
    if mode not in _MODES:
        raise ctx.error(f"multi_input_mode '{mode}' is not supported, only concat and sum")
    tensors = [ctx.input(index) for index in range(num_args)]
    if any(len(tensor.shape) != 4 for tensor in tensors):
        raise ctx.error(f"only NCHW input is supported (inputs {[tensor.shape for tensor in tensors]})")
    first = tensors[0].shape
    size = (first[2] * scale, first[3] * scale)
    if mode == "sum" and len({tensor.shape[:2] for tensor in tensors}) != 1:
        shapes = [tensor.shape for tensor in tensors]
        raise ctx.error(f"multi_input_mode 'sum' needs inputs of equal batch and channels: {shapes}")
    factors = [_factor(ctx, index, tensor, size) for index, tensor in enumerate(tensors)]
    channels = sum(tensor.shape[1] for tensor in tensors) if mode == "concat" else first[1]
    out = Tensor(ctx.output_blob(), (first[0], channels) + size)
    ctx.check_size(out.shape)  # before the upsampling weights, which grow with the scale
    if num_args == 1:
        if scale == 1:
            return ctx.alias(tensors[0])
        return Converted(layers=(_nearest_layer(ctx, tensors[0], scale, out.blob, ""),), outputs=(out,))
    layers: List[Layer] = []
    bottoms = []
    for index, (tensor, factor) in enumerate(zip(tensors, factors)):
        if factor == 1:  # already at the output size
            bottoms.append(tensor.blob)
            continue
        suffix = f"up{index}"
        layers.append(_nearest_layer(ctx, tensor, factor, ctx.layer_name(suffix), suffix))
        bottoms.append(layers[-1].tops[0])
    type_, params = _MODES[mode]
    layers.append(ctx.layer(type_, bottoms, [out.blob], params))
    return Converted(layers=tuple(layers), outputs=(out,))


def _bilinear(ctx: NodeContext, scale: int, num_filter: int) -> Converted:
    data = ctx.input(0)
    if len(data.shape) != 4:
        raise ctx.error(f"only NCHW input is supported (input {data.shape})")
    n, channels, height, width = data.shape
    if num_filter != channels:
        raise ctx.error(
            f"bilinear num_filter {num_filter} must equal the {channels} input channels "
            "(MXNet's output keeps the channels; other values fail in MXNet)"
        )
    kernel = 2 * scale - scale % 2
    pad = -(-(scale - 1) // 2)
    weights = ctx.param(1, (channels, 1, kernel, kernel))
    params = deconvolution_param(channels, (kernel, kernel), (scale, scale), (pad, pad), channels, bias_term=False)
    return ctx.single("Deconvolution", [data.blob], (n, channels, height * scale, width * scale), params, [weights])


@converter("UpSampling")
def convert_upsampling(ctx: NodeContext) -> Converted:
    scale = ctx.attrs.int("scale")
    num_args = ctx.attrs.int("num_args")  # bilinear takes data and weight whatever it says
    sample_type = ctx.attrs.str("sample_type")
    mode = ctx.attrs.str("multi_input_mode", "concat")  # MXNet reads it for nearest only
    num_filter = ctx.attrs.int("num_filter", 0)  # MXNet reads it for bilinear only
    ctx.attrs.str("workspace", None)  # memory hint for MXNet's own kernel
    if scale < 1:
        raise ctx.error(f"scale {scale} must be at least 1")
    if sample_type == "nearest":
        return _nearest(ctx, scale, mode, num_args)
    if sample_type == "bilinear":
        return _bilinear(ctx, scale, num_filter)
    raise ctx.error(f"sample_type '{sample_type}' is not supported, only nearest and bilinear")

"""Convolution -> Caffe Convolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple, Union

from ..caffe.net import Shape, Tensor
from ..errors import listed
from .context import Converted, NodeContext
from .registry import converter


@dataclass(frozen=True)
class ConvAttrs:
    """What Convolution and Deconvolution share of their attributes (pad is each one's own)."""

    kernel: Tuple[int, ...]
    stride: Tuple[int, ...]
    dilate: Tuple[int, ...]
    num_filter: int
    group: int
    no_bias: bool


# Caffe stores window sizes, strides, pads and dilations as uint32 and computes with int
_CAFFE_INT_MAX = 2**31 - 1


def window_values(ctx: NodeContext, key: str, values: Tuple[int, ...], minimum: int) -> Tuple[int, ...]:
    """`values` of a window attribute (kernel, stride, pad, dilate), each between `minimum`
    and what Caffe can hold: 0 strides divide by zero, huge ones overflow Caffe's fields."""
    if any(not minimum <= value <= _CAFFE_INT_MAX for value in values):
        raise ctx.error(f"attribute '{key}' {listed(values)}: every value must be in {minimum}..{_CAFFE_INT_MAX}")
    return values


def read_conv_attrs(ctx: NodeContext, data: Tensor, what: str, no_bias_default: bool) -> ConvAttrs:
    """The shared attributes, checked: 2-d, NCHW, channels and filters divide into the groups.
    `what` names the operation in messages."""
    kernel = window_values(ctx, "kernel", ctx.attrs.int_tuple("kernel"), 1)
    if len(kernel) != 2 or len(data.shape) != 4:
        raise ctx.error(
            f"only 2-d {what} on NCHW input is supported (attribute 'kernel' {listed(kernel)}, "
            f"input {listed(data.shape)})"
        )
    layout = ctx.attrs.str("layout", None)
    if layout not in (None, "NCHW"):
        raise ctx.error(f"layout {layout} is not supported, only NCHW")
    ctx.attrs.str("workspace", None)  # memory hints for MXNet's own kernels
    ctx.attrs.str("cudnn_tune", None)
    ctx.attrs.str("cudnn_off", None)
    attrs = ConvAttrs(
        kernel=kernel,
        stride=window_values(ctx, "stride", ctx.spatial_attr("stride", (1, 1)), 1),
        dilate=window_values(ctx, "dilate", ctx.spatial_attr("dilate", (1, 1)), 1),
        num_filter=ctx.attrs.int("num_filter", minimum=1),
        group=ctx.attrs.int("num_group", 1, minimum=1),
        no_bias=ctx.attrs.bool("no_bias", no_bias_default),
    )
    channels, filters, group = data.shape[1], attrs.num_filter, attrs.group
    if channels % group or filters % group:
        raise ctx.error(f"{channels} input channels / {filters} filters do not divide into {group} groups")
    return attrs


def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@converter("Convolution", "Convolution_v1")
def convert_convolution(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    attrs = read_conv_attrs(ctx, data, "convolution", no_bias_default=False)
    kernel, stride, dilate = attrs.kernel, attrs.stride, attrs.dilate
    num_filter, group, no_bias = attrs.num_filter, attrs.group, attrs.no_bias
    pad = window_values(ctx, "pad", ctx.spatial_attr("pad", (0, 0)), 0)
    n, channels, height, width = data.shape
    blobs = [ctx.param(1, (num_filter, channels // group) + kernel)]
    if not no_bias:
        blobs.append(ctx.param(2, (num_filter,)))
    out: Shape = (
        n,
        num_filter,
        conv_output_size(height, kernel[0], stride[0], pad[0], dilate[0]),
        conv_output_size(width, kernel[1], stride[1], pad[1], dilate[1]),
    )
    if min(out[2:]) <= 0:
        raise ctx.error(f"output would be empty for input {data.shape}")
    params: Dict[str, Union[int, List[int]]] = {
        "num_output": num_filter,
        "bias_term": not no_bias,
        "kernel_h": kernel[0],
        "kernel_w": kernel[1],
        "stride_h": stride[0],
        "stride_w": stride[1],
        "pad_h": pad[0],
        "pad_w": pad[1],
        "group": group,
    }
    if dilate != (1, 1):
        # Caffe has no dilation_h/w: a repeated field holds one value or one per axis
        params["dilation"] = list(dilate) if dilate[0] != dilate[1] else [dilate[0]]
    return ctx.single("Convolution", [data.blob], out, {"convolution_param": params}, blobs)

"""Pooling, Pooling_v1, _contrib_AdaptiveAvgPooling2D -> Caffe Pooling, made exact.

Caffe's Pooling always rounds its output size up and divides an average by the window
clipped at size + pad. MXNet differs in three ways, each repaired with stock layers:
- 'valid' rounds down: the Pooling layer says `ceil_mode: false` where Caffe's size would
  differ, and the pooling_rounding pass gives that the form of the target profile;
- other divisors (count_include_pad=False, sum, Pooling_v1's constant kernel area): the
  ratio of the two divisors depends only on the output position, so a Scale layer with a
  constant per-position map (axis 2, 2 axes) turns Caffe's average into MXNet's value;
- Pooling_v1 pads with zeros, and its max sees them: a depthwise 1x1 Convolution of ones
  pads explicitly and Caffe pools that with pad 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..caffe.net import Tensor
from ..caffe.sizes import pooling_output_size
from .context import Converted, NodeContext
from .registry import converter


@dataclass(frozen=True)
class _Axis:
    """Where the windows of one spatial axis lie: window i covers
    [i * stride - pad, i * stride - pad + kernel) of an input of `size`."""

    size: int
    kernel: int
    stride: int
    pad: int

    def starts(self, count: int) -> np.ndarray:
        return np.arange(count) * self.stride - self.pad

    def floor_count(self) -> int:
        return (self.size + 2 * self.pad - self.kernel) // self.stride + 1

    def ceil_count(self) -> int:
        return -(-(self.size + 2 * self.pad - self.kernel) // self.stride) + 1

    def caffe_count(self) -> int:
        return pooling_output_size(self.size, self.kernel, self.stride, self.pad)

    def padded(self) -> _Axis:
        return _Axis(self.size + 2 * self.pad, self.kernel, self.stride, 0)


def _window_divisors(axis: _Axis, count: int) -> np.ndarray:
    """Caffe's AVE divisor (and MXNet's with count_include_pad): padding counts, but
    not past size + pad."""
    starts = axis.starts(count)
    return np.minimum(starts + axis.kernel, axis.size + axis.pad) - starts


def _inside_counts(axis: _Axis, count: int) -> np.ndarray:
    """MXNet's divisor with count_include_pad=False: only input elements count."""
    starts = axis.starts(count)
    return np.minimum(starts + axis.kernel, axis.size) - np.maximum(starts, 0)


@dataclass(frozen=True)
class _Pooling:
    """What one MXNet pooling node computes, in Caffe terms."""

    method: str  # Caffe's MAX or AVE
    divisor: str  # MXNet's divisor of a window sum: window, inside, kernel or one
    global_pool: bool
    full: bool  # MXNet rounds the output size up
    zero_pad: bool  # Pooling_v1: padding is zeros that max pooling sees


_METHODS = {"max": ("MAX", "window"), "avg": ("AVE", "window"), "sum": ("AVE", "one")}


@dataclass(frozen=True)
class _Stage:
    """One layer of the chain from the input to the node's output."""

    type: str
    suffix: str
    params: Mapping[str, Mapping[str, Any]]
    blobs: Tuple[np.ndarray, ...] = ()


def _count_include_pad(ctx: NodeContext) -> bool:
    """MXNet keeps this optional: absent or 'None' (unset) means True."""
    return ctx.attrs.bool("count_include_pad", True)


def _read_pooling(ctx: NodeContext, legacy: bool) -> _Pooling:
    pool_type = ctx.attrs.str("pool_type", "max")
    convention = ctx.attrs.str("pooling_convention", "valid")
    global_pool = ctx.attrs.bool("global_pool", False)
    include_pad = legacy or _count_include_pad(ctx)  # Pooling_v1 has no such attribute
    if not legacy:
        layout = ctx.attrs.str("layout", "None")
        if layout not in ("None", "NCHW"):
            raise ctx.error(f"layout {layout} is not supported, only NCHW")
        p_value = ctx.attrs.int("p_value", None)
        ctx.attrs.str("cudnn_off", None)  # choice of MXNet's own kernel
        if pool_type == "lp":
            raise ctx.error(f"pool_type 'lp' (p_value {p_value}) has no Caffe layer")
    if convention not in ("valid", "full"):
        raise ctx.error(
            f"pooling_convention '{convention}' is not supported (MXNet runs it only for 1-d "
            "max pooling); use 'valid' or 'full'"
        )
    if pool_type not in _METHODS:
        raise ctx.error(f"pool_type '{pool_type}' is not supported, only max, avg and sum")
    method, divisor = _METHODS[pool_type]
    if legacy and pool_type == "avg":
        divisor = "kernel"  # Pooling_v1 always divides by the full kernel area
    elif pool_type == "avg" and not include_pad:
        divisor = "inside"
    return _Pooling(method, divisor, global_pool, convention == "full", legacy)


def _read_axes(ctx: NodeContext, pooling: _Pooling, spatial: Tuple[int, int]) -> Tuple[_Axis, _Axis]:
    kernel = ctx.attrs.int_tuple("kernel", ())
    stride = ctx.spatial_attr("stride", (1, 1))
    pad = ctx.spatial_attr("pad", (0, 0))
    if pooling.global_pool:  # MXNet ignores kernel, stride and pad then
        return _Axis(spatial[0], spatial[0], 1, 0), _Axis(spatial[1], spatial[1], 1, 0)
    if len(kernel) != 2:
        raise ctx.error(f"only 2-d pooling is supported (kernel {kernel})")
    axes = (_Axis(spatial[0], kernel[0], stride[0], pad[0]), _Axis(spatial[1], kernel[1], stride[1], pad[1]))
    for axis in axes:
        if axis.kernel > axis.size + 2 * axis.pad:
            raise ctx.error(f"kernel {kernel} is larger than the padded input {spatial} (pad {pad})")
        if not pooling.zero_pad and axis.pad >= axis.kernel:
            # MXNet's oneDNN pooling refuses this, and Caffe's Pooling too
            raise ctx.error(f"pad {pad} must be smaller than kernel {kernel}")
    return axes


def _mxnet_count(ctx: NodeContext, pooling: _Pooling, axis: _Axis) -> int:
    """MXNet's output size; refuses a last window that lies wholly outside the input,
    where MXNet writes -3.4e38 (max) or 0 (avg) and Caffe drops it or divides by 0."""
    if not pooling.full:
        return axis.floor_count()
    count = axis.ceil_count()
    window = axis.padded() if pooling.zero_pad else axis
    if window.starts(count)[-1] >= window.size:
        raise ctx.error(
            f"pooling_convention 'full' with kernel {axis.kernel}, stride {axis.stride}, pad "
            f"{axis.pad} on size {axis.size} puts the last window wholly outside the input; "
            "its MXNet value (-3.4e38 or 0) has no Caffe equivalent"
        )
    return count


def _mxnet_divisors(pooling: _Pooling, axis: _Axis, count: int) -> np.ndarray:
    if pooling.divisor == "window":
        return _window_divisors(axis, count)
    if pooling.divisor == "inside":
        return _inside_counts(axis, count)
    if pooling.divisor == "kernel":
        return np.full(count, axis.kernel)
    return np.ones(count, dtype=np.int64)


def _correction(
    pooling: _Pooling, axes: Sequence[_Axis], caffe_axes: Sequence[_Axis], counts: Sequence[int]
) -> Optional[np.ndarray]:
    """MXNet value / Caffe AVE value per output position, or None if it is 1 everywhere.

    Both divisors are products of one factor per axis, so the map is an outer product."""
    if pooling.method != "AVE":
        return None
    ratios = [
        _window_divisors(caffe_axis, count) / _mxnet_divisors(pooling, axis, count)
        for axis, caffe_axis, count in zip(axes, caffe_axes, counts)
    ]
    correction = np.outer(ratios[0], ratios[1]).astype(np.float32)
    return None if np.all(correction == 1) else correction


def _zero_pad_stage(channels: int, axes: Sequence[_Axis]) -> _Stage:
    """x * 1 per channel with pad: the input framed by zeros, exactly."""
    params = {
        "num_output": channels,
        "bias_term": False,
        "kernel_h": 1,
        "kernel_w": 1,
        "pad_h": axes[0].pad,
        "pad_w": axes[1].pad,
        "group": channels,
    }
    ones = np.ones((channels, 1, 1, 1), dtype=np.float32)
    return _Stage("Convolution", "zero_pad", {"convolution_param": params}, (ones,))


def _pool_stage(pooling: _Pooling, caffe_axes: Sequence[_Axis], floor: bool) -> _Stage:
    """`floor`: MXNet rounds the output size down where Caffe would round up; `ceil_mode: false`
    says so, and the pooling_rounding pass turns it into the chosen profile's form."""
    params: Dict[str, Any] = {"pool": pooling.method}
    if pooling.global_pool:
        params["global_pooling"] = True
    else:
        params.update(
            kernel_h=caffe_axes[0].kernel,
            kernel_w=caffe_axes[1].kernel,
            stride_h=caffe_axes[0].stride,
            stride_w=caffe_axes[1].stride,
            pad_h=caffe_axes[0].pad,
            pad_w=caffe_axes[1].pad,
        )
    if floor:
        params["ceil_mode"] = False
    return _Stage("Pooling", "pool", {"pooling_param": params})


def _convert(ctx: NodeContext, pooling: _Pooling, axes: Sequence[_Axis]) -> Converted:
    data = ctx.input(0)
    counts = [_mxnet_count(ctx, pooling, axis) for axis in axes]
    padding = pooling.zero_pad and any(axis.pad for axis in axes)
    caffe_axes = [axis.padded() for axis in axes] if padding else list(axes)
    caffe_counts = [axis.caffe_count() for axis in caffe_axes]
    stages = [_zero_pad_stage(data.shape[1], axes)] if padding else []
    stages.append(_pool_stage(pooling, caffe_axes, floor=caffe_counts != counts))
    correction = _correction(pooling, axes, caffe_axes, counts)
    if correction is not None:
        stages.append(_Stage("Scale", "divisor", {"scale_param": {"axis": 2, "num_axes": 2}}, (correction,)))
    steps = [(stage.suffix, stage.type, stage.params) for stage in stages]
    layers = ctx.chain(data.blob, steps, [stage.blobs for stage in stages])
    out = Tensor(ctx.output_blob(), tuple(data.shape[:2]) + tuple(counts))
    # the pooling_rounding pass reads the shape of the pooling layer's input
    padded = {layers[0].tops[0]: tuple(data.shape[:2]) + tuple(axis.size for axis in caffe_axes)} if padding else {}
    return Converted(layers=tuple(layers), outputs=(out,), helper_shapes=padded)


def _spatial(ctx: NodeContext) -> Tuple[int, int]:
    shape = ctx.input(0).shape
    if len(shape) != 4:
        raise ctx.error(f"only 2-d pooling on NCHW input is supported (input {shape})")
    return shape[2], shape[3]


@converter("Pooling", "Pooling_v1")
def convert_pooling(ctx: NodeContext) -> Converted:
    pooling = _read_pooling(ctx, legacy=ctx.node.op == "Pooling_v1")
    return _convert(ctx, pooling, _read_axes(ctx, pooling, _spatial(ctx)))


@converter("_contrib_AdaptiveAvgPooling2D")
def convert_adaptive_avg_pooling(ctx: NodeContext) -> Converted:
    """Global average for output size 1; plain average pooling when the output size
    divides the input (then every adaptive bin is one kernel = stride window)."""
    spatial = _spatial(ctx)
    output_size = ctx.spatial_attr("output_size", (1, 1))
    if any(out <= 0 or size % out for size, out in zip(spatial, output_size)):
        raise ctx.error(
            f"output_size {output_size} does not divide the input size {spatial}: the adaptive "
            "bins then differ in size and overlap, which no Caffe pooling reproduces"
        )
    global_pool = output_size == (1, 1)
    pooling = _Pooling("AVE", "window", global_pool, full=False, zero_pad=False)
    axes = [_Axis(size, size // out, size // out, 0) for size, out in zip(spatial, output_size)]
    return _convert(ctx, pooling, axes)

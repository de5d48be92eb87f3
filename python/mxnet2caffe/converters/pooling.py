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

Caffe pools two axes; MXNet also pools one or three:
- 1-d pooling is 2-d pooling of the (N, C, 1, W) view;
- 3-d pooling is separable (a window's max, its sum and each of MXNet's divisors are products
  over the axes): a 2-d pooling over (H, W) of the (N, C*D, H, W) view, then one over D of the
  (N, C, D, H'*W') view, each with its own rounding and divisor correction.
lp pooling (p_value 1, 2 or 3) is MXNet's sum pooling of x^p followed by the p-th root: Power
layers around the sum; the cube root keeps the sign of the sum, as relu(s)^(1/3) - relu(-s)^(1/3)
(Caffe's Power of a negative base to 1/3 is NaN). Each Power rounds once more: within the rule.
pooling_convention 'same' is refused: MXNet 1.9.1 itself runs it only for 1-d max pooling with its
oneDNN kernels switched off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..caffe.net import Layer, Shape, Tensor
from ..caffe.sizes import pooling_output_size
from ..errors import listed
from .context import Converted, NodeContext, reshape_param
from .conv import window_values
from .pad import zero_pad_convolution
from .registry import converter
from .resize import separable_product


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


def _unit_axis(size: int) -> _Axis:
    """An axis pooled with windows of one element: every element is its own output."""
    return _Axis(size, 1, 1, 0)


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
    power: int = 1  # lp pooling: the p-th root of the window sum of x^p (1: no powers)


_METHODS = {"max": ("MAX", "window"), "avg": ("AVE", "window"), "sum": ("AVE", "one"), "lp": ("AVE", "one")}
_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
_LP_POWERS = (1, 2, 3)  # the p_value MXNet 1.9 computes


@dataclass(frozen=True)
class _Stage:
    """One layer of the chain from the input to the node's output, and its output shape."""

    type: str
    suffix: str
    params: Mapping[str, Mapping[str, Any]]
    shape: Shape
    blobs: Tuple[np.ndarray, ...] = ()


def _count_include_pad(ctx: NodeContext) -> bool:
    """MXNet keeps this optional: absent or 'None' (unset) means True."""
    return ctx.attrs.bool("count_include_pad", True)


def _read_pooling(ctx: NodeContext, legacy: bool, rank: int) -> _Pooling:
    pool_type = ctx.attrs.str("pool_type", "max")
    convention = ctx.attrs.str("pooling_convention", "valid")
    global_pool = ctx.attrs.bool("global_pool", False)
    include_pad = legacy or _count_include_pad(ctx)  # Pooling_v1 has no such attribute
    power = 1
    if not legacy:
        layout = ctx.attrs.str("layout", "None")
        if layout not in ("None", _LAYOUTS[rank]):
            raise ctx.error(f"layout {layout} is not supported, only {_LAYOUTS[rank]}")
        p_value = ctx.attrs.int("p_value", None)
        ctx.attrs.str("cudnn_off", None)  # choice of MXNet's own kernel
        if pool_type == "lp":
            if p_value is None:
                raise ctx.error("pool_type 'lp' needs p_value (MXNet 1.9 computes 1, 2 and 3)")
            if p_value not in _LP_POWERS:
                raise ctx.error(f"pool_type 'lp' with p_value {p_value}: MXNet 1.9 computes p_value 1, 2 and 3 only")
            power = p_value
    if convention == "same":
        raise ctx.error(
            "pooling_convention 'same' is not supported: MXNet 1.9.1 computes it only for 1-d max pooling "
            "with its oneDNN kernels switched off (MXNET_MKLDNN_ENABLED=0); use 'valid' or 'full'"
        )
    if convention not in ("valid", "full"):
        raise ctx.error(f"pooling_convention '{convention}' is not supported; use 'valid' or 'full'")
    known = [name for name in _METHODS if not (legacy and name == "lp")]  # Pooling_v1 has no lp
    if pool_type not in known:
        raise ctx.error(f"pool_type '{pool_type}' is not supported, only {', '.join(known)}")
    method, divisor = _METHODS[pool_type]
    if legacy and pool_type == "avg":
        divisor = "kernel"  # Pooling_v1 always divides by the full kernel area
    elif pool_type == "avg" and not include_pad:
        divisor = "inside"
    return _Pooling(method, divisor, global_pool, convention == "full", legacy, power)


def _read_axes(ctx: NodeContext, pooling: _Pooling, spatial: Tuple[int, ...]) -> Tuple[_Axis, ...]:
    rank = len(spatial)
    # "None" as kernel is not given: global pooling needs none, other pooling refuses it below
    kernel = ctx.attrs.int_tuple("kernel", None)
    stride = ctx.spatial_attr("stride", (1,) * rank, rank)
    pad = ctx.spatial_attr("pad", (0,) * rank, rank)
    if pooling.global_pool:  # MXNet ignores kernel, stride and pad then
        return tuple(_Axis(size, size, 1, 0) for size in spatial)
    window_values(ctx, "kernel", kernel, 1)
    window_values(ctx, "stride", stride, 1)
    window_values(ctx, "pad", pad, 0)
    if len(kernel) != rank:
        shape = listed(ctx.input(0).shape)
        raise ctx.error(f"kernel {listed(kernel)} does not match the {rank}-d pooling of input {shape}")
    axes = tuple(_Axis(*values) for values in zip(spatial, kernel, stride, pad))
    for axis in axes:
        if axis.kernel > axis.size + 2 * axis.pad:
            raise ctx.error(
                f"kernel {listed(kernel)} is larger than the padded input {listed(spatial)} (pad {listed(pad)})"
            )
        if not pooling.zero_pad and axis.pad >= axis.kernel:
            # MXNet's oneDNN pooling refuses this, and Caffe's Pooling too
            raise ctx.error(f"pad {listed(pad)} must be smaller than kernel {listed(kernel)}")
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
) -> List[np.ndarray]:
    """MXNet value / Caffe AVE value per output position (ones for MAX), as one factor per axis:
    both divisors are products of one factor per axis, so the map is their outer product."""
    if pooling.method != "AVE":
        return [np.ones(count, dtype=np.float32) for count in counts]
    return [
        (_window_divisors(caffe_axis, count) / _mxnet_divisors(pooling, axis, count)).astype(np.float32)
        for axis, caffe_axis, count in zip(axes, caffe_axes, counts)
    ]


def _pool_params(pooling: _Pooling, caffe_axes: Sequence[_Axis], floor: bool) -> Dict[str, Mapping[str, Any]]:
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
    return {"pooling_param": params}


def _plane(
    pooling: _Pooling, axes: Sequence[_Axis], counts: Sequence[int], view: Shape, tag: str
) -> Tuple[List[_Stage], float]:
    """Stages pooling the last two axes of the 4-d `view`, and a factor still to apply (lp pooling
    leaves a uniform divisor correction to its root's Power, which scales for free)."""
    n, channels = view[:2]
    out = (n, channels) + tuple(counts)
    padding = pooling.zero_pad and any(axis.pad for axis in axes)
    caffe_axes = [axis.padded() for axis in axes] if padding else list(axes)
    stages = []
    if padding:
        type_, params, blobs = zero_pad_convolution(channels, axes[0].pad, axes[1].pad)
        stages.append(_Stage(type_, "zero_pad" + tag, params, (n, channels) + tuple(a.size for a in caffe_axes), blobs))
    floor = [axis.caffe_count() for axis in caffe_axes] != list(counts)
    stages.append(_Stage("Pooling", "pool" + tag, _pool_params(pooling, caffe_axes, floor), out))
    rows, columns = _correction(pooling, axes, caffe_axes, counts)
    uniform = bool(np.all(rows == rows[0]) and np.all(columns == columns[0]))
    factor = float(rows[0] * columns[0])
    if uniform and (pooling.power > 1 or factor == 1):
        return stages, factor
    scale = {"scale_param": {"axis": 2, "num_axes": 2}}
    stages.append(_Stage("Scale", "divisor" + tag, scale, out, (np.outer(rows, columns),)))
    return stages, 1.0


def _reshape(suffix: str, shape: Shape) -> _Stage:
    return _Stage("Reshape", suffix, reshape_param(shape), shape)


def _spatial_stages(
    pooling: _Pooling, axes: Sequence[_Axis], counts: Sequence[int], n: int, channels: int
) -> Tuple[List[_Stage], float]:
    """The pooling of every spatial axis as 2-d poolings of 4-d views (see the module docstring)."""
    sizes = [axis.size for axis in axes]
    out = (n, channels) + tuple(counts)
    if len(axes) == 2:
        return _plane(pooling, axes, counts, (n, channels, *sizes), "")
    if len(axes) == 1:
        view = (n, channels, 1, sizes[0])
        stages, factor = _plane(pooling, (_unit_axis(1), axes[0]), (1, counts[0]), view, "")
        return [_reshape("plane", view)] + stages + [_reshape("pooled", out)], factor
    depth, height, width = axes
    if pooling.global_pool:
        view = (n, channels, depth.size, height.size * width.size)
        global_axes = (depth, _Axis(view[3], view[3], 1, 0))
        stages, factor = _plane(pooling, global_axes, (1, 1), view, "")
        return [_reshape("volume", view)] + stages + [_reshape("pooled", out)], factor
    planes = (n, channels * depth.size, height.size, width.size)
    plane_stages, plane_factor = _plane(pooling, (height, width), counts[1:], planes, "_hw")
    area = counts[1] * counts[2]
    columns = (n, channels, depth.size, area)
    depth_stages, depth_factor = _plane(pooling, (depth, _unit_axis(area)), (counts[0], area), columns, "_d")
    stages = [_reshape("planes", planes)] + plane_stages + [_reshape("columns", columns)] + depth_stages
    return stages + [_reshape("pooled", out)], plane_factor * depth_factor


def _power(suffix: str, shape: Shape, power: float, scale: float = 1.0) -> _Stage:
    return _Stage("Power", suffix, {"power_param": {"power": power, "scale": scale, "shift": 0.0}}, shape)


def _layers(ctx: NodeContext, stages: Sequence[_Stage]) -> Tuple[List[Layer], Dict[str, Shape]]:
    """The chain of `stages` from the node's input, and the shapes of its helper blobs (the
    pooling_rounding pass reads the shape of a Pooling layer's input)."""
    steps = [(stage.suffix, stage.type, stage.params) for stage in stages]
    layers = ctx.chain(ctx.input(0).blob, steps, [stage.blobs for stage in stages])
    return layers, {layer.tops[0]: stage.shape for layer, stage in zip(layers[:-1], stages[:-1])}


def _signed_cube_root(ctx: NodeContext, stages: List[_Stage], factor: float, out: Shape) -> Converted:
    """cbrt(factor * s) of the window sums s the `stages` end with, as relu(factor * s)^(1/3) -
    relu(-factor * s)^(1/3): the chain takes the positive part, a branch the negative one."""
    positive = [
        _Stage("ReLU", "positive", {}, out),
        _power("positive_root", out, 1.0 / 3.0, factor),
        _Stage("Eltwise", "", {"eltwise_param": {"operation": "SUM", "coeff": [1.0, -1.0]}}, out),
    ]
    layers, helpers = _layers(ctx, stages + positive)
    sums = layers[len(stages) - 1].tops[0]
    negated, negative, negative_root = (ctx.layer_name(suffix) for suffix in ("negated", "negative", "negative_root"))
    power = {"power_param": {"power": 1.0, "scale": -factor, "shift": 0.0}}
    root = {"power_param": {"power": 1.0 / 3.0, "scale": 1.0, "shift": 0.0}}
    branch = [
        ctx.layer("Power", [sums], [negated], power, suffix="negated"),
        ctx.layer("ReLU", [negated], [negative], suffix="negative"),
        ctx.layer("Power", [negative], [negative_root], root, suffix="negative_root"),
    ]
    difference = dataclasses.replace(layers[-1], bottoms=layers[-1].bottoms + (negative_root,))
    helpers.update({negated: out, negative: out, negative_root: out})
    return Converted(
        layers=tuple(layers[:-1] + branch + [difference]),
        outputs=(Tensor(ctx.output_blob(), out),),
        helper_shapes=helpers,
    )


def _convert(ctx: NodeContext, pooling: _Pooling, axes: Sequence[_Axis]) -> Converted:
    data = ctx.input(0)
    n, channels = data.shape[:2]
    counts = [_mxnet_count(ctx, pooling, axis) for axis in axes]
    out = (n, channels) + tuple(counts)
    ctx.check_size(out)  # before the divisor map of the output's size is made
    stages = [_power("power", data.shape, float(pooling.power))] if pooling.power > 1 else []
    try:
        spatial, factor = _spatial_stages(pooling, axes, counts, n, channels)
    except MemoryError:  # the divisor map has one float per output position
        raise ctx.error(f"not enough memory for the divisor map of the {listed(out)} output") from None
    stages += spatial
    if pooling.power == 3:
        return _signed_cube_root(ctx, stages, factor, out)
    if pooling.power == 2:
        stages.append(_power("root", out, 0.5, factor))
    layers, helpers = _layers(ctx, stages)
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), out),), helper_shapes=helpers)


def _spatial(ctx: NodeContext, ranks: Sequence[int]) -> Tuple[int, ...]:
    shape = ctx.input(0).shape
    if len(shape) - 2 not in ranks:
        supported = "/".join(f"{rank}-d" for rank in ranks)
        raise ctx.error(f"only {supported} pooling of (N, C, spatial...) input is supported (input {shape})")
    return tuple(shape[2:])


@converter("Pooling", "Pooling_v1")
def convert_pooling(ctx: NodeContext) -> Converted:
    legacy = ctx.node.op == "Pooling_v1"
    spatial = _spatial(ctx, (2,) if legacy else (1, 2, 3))
    pooling = _read_pooling(ctx, legacy, len(spatial))
    return _convert(ctx, pooling, _read_axes(ctx, pooling, spatial))


def adaptive_bins(size: int, out: int) -> np.ndarray:
    """(out, size) averaging weights of MXNet's adaptive bins: bin i is
    [floor(i * size / out), ceil((i + 1) * size / out)); bins may differ in size and overlap."""
    matrix = np.zeros((out, size), dtype=np.float64)
    for i in range(out):
        start, stop = i * size // out, -(-(i + 1) * size // out)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


@converter("_contrib_AdaptiveAvgPooling2D")
def convert_adaptive_avg_pooling(ctx: NodeContext) -> Converted:
    """Global average for output size 1; plain average pooling when the output size divides
    the input (every bin is then one kernel = stride window); otherwise the bins as averaging
    matrices, one per axis (resize.separable_product): exact up to the order of summation."""
    data = ctx.input(0)
    spatial = _spatial(ctx, (2,))
    output_size = ctx.spatial_attr("output_size", (1, 1))
    if min(output_size) <= 0:
        raise ctx.error(f"output_size {listed(output_size)} must be positive")
    ctx.check_size(data.shape[:2] + tuple(output_size))
    if any(size % out for size, out in zip(spatial, output_size)):
        for size, out in zip(spatial, output_size):
            ctx.check_size((out, size), "averaging matrix")
        rows, columns = (adaptive_bins(size, out) for size, out in zip(spatial, output_size))
        return separable_product(ctx, data, rows, columns)
    global_pool = output_size == (1, 1)
    pooling = _Pooling("AVE", "window", global_pool, full=False, zero_pad=False)
    axes = [_Axis(size, size // out, size // out, 0) for size, out in zip(spatial, output_size)]
    return _convert(ctx, pooling, axes)

"""sum, mean, max, min (and their *_axis names), norm -> Reshape + Pooling chains.

OpenCV DNN 4.x cannot create Caffe's Reduction layer (checked with 4.11), and Reduction only
reduces every axis from one on. Pooling reduces what its window covers, so each reduced axis is
brought into the window: a Reshape to (outer, 1, axis, inner) and an (axis x 1) window, or the
window over H and/or W directly on a 4-d blob. An average of averages over equal-sized groups
is the average, a max of maxes the max, so axes are reduced one after the other. A sum is the
average times the count (one more float rounding); min(x) = -max(-x) exactly; the L2 norm is
sqrt(count * mean(x^2)), the L1 norm count * mean(|x|).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..caffe.net import Shape, Tensor
from .context import Converted, NodeContext, Step, reshape_param
from .registry import converter


def _stages(shape: Shape, axes: Sequence[int]) -> List[Tuple[int, int]]:
    """[start, stop) of the axes each Pooling reduces, last first: one axis at a time, since
    Caffe and OpenCV DNN add up a window in one float32 running sum, which loses more the more it
    adds: the mean of a (2, 512, 7, 7) tensor came out 1.6e-5 off (relative) from one window,
    3.5e-6 from one per axis (MXNet's compensated sum: 5e-8). H and W of a 4-d blob go
    together, as global pooling does. Axes of size 1 need no stage."""
    reduced = [axis for axis in sorted(axes, reverse=True) if shape[axis] > 1]
    if len(shape) == 4 and 2 in reduced and 3 in reduced:
        return [(2, 4)] + [(axis, axis + 1) for axis in reduced if axis < 2]
    return [(axis, axis + 1) for axis in reduced]


def _pooling(pool: str, kernel: Tuple[int, int], input_hw: Tuple[int, int]) -> Dict[str, Mapping[str, Any]]:
    params: Dict[str, Any] = {"pool": pool}
    if kernel == input_hw:
        params["global_pooling"] = True
    else:
        params.update(kernel_h=kernel[0], kernel_w=kernel[1], stride_h=1, stride_w=1)
    return {"pooling_param": params}


def pooling_steps(shape: Shape, axes: Sequence[int], pool: str, suffix: str = "reduce") -> Tuple[List[Step], Shape]:
    """Steps reducing `axes` (non-negative) of a blob of `shape` by Pooling `pool` (MAX or AVE),
    and the shape of the last step's output (`shape` when there is no step). Step suffixes
    are `suffix` and the stage's number, so a converter can chain several reductions."""
    steps: List[Step] = []
    logical = list(shape)  # the shape with the stages done so far reduced to 1 (keepdims)
    blob_shape = tuple(shape)  # the shape the last step's blob has in Caffe
    for stage, (start, stop) in enumerate(_stages(tuple(shape), axes)):
        name = f"{suffix}{stage}"
        if len(shape) == 4 and blob_shape == tuple(logical) and start >= 2:
            # H and/or W of a 4-d blob: pool there, no Reshape
            kernel = (logical[2] if start == 2 else 1, logical[3] if stop == 4 else 1)
            steps.append((name, "Pooling", _pooling(pool, kernel, (logical[2], logical[3]))))
            logical[start:stop] = [1] * (stop - start)
            blob_shape = tuple(logical)
            continue
        outer, size, inner = (int(np.prod(part)) for part in (logical[:start], logical[start:stop], logical[stop:]))
        if blob_shape != (outer, 1, size, inner):
            steps.append((f"{name}_in", "Reshape", reshape_param((outer, 1, size, inner))))
        steps.append((name, "Pooling", _pooling(pool, (size, 1), (size, inner))))
        logical[start:stop] = [1] * (stop - start)
        blob_shape = (outer, 1, 1, inner)
    return steps, blob_shape


def reduced_count(shape: Shape, axes: Sequence[int]) -> int:
    """How many input values make one output value."""
    return int(np.prod([shape[axis] for axis in axes]))


def _reduced_axes(ctx: NodeContext, ndim: int, has_exclude: bool) -> Tuple[int, ...]:
    """The sorted non-negative axes MXNet reduces: every axis when `axis` is absent or ()
    (exclude or not, as MXNet does), else those named, or with `exclude` all the others."""
    axis = ctx.attrs.int_tuple("axis", None)
    exclude = ctx.attrs.bool("exclude", False) if has_exclude else False
    if not axis:
        return tuple(range(ndim))
    if any(not -ndim <= a < ndim for a in axis):
        raise ctx.error(f"attribute 'axis' {axis} is out of range for a {ndim}-d input")
    named = sorted(a % ndim for a in axis)
    if len(set(named)) != len(named):
        raise ctx.error(f"attribute 'axis' {axis} names an axis twice")
    return tuple(a for a in range(ndim) if a not in named) if exclude else tuple(named)


def _output_shape(shape: Shape, axes: Sequence[int], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if axis in axes else dim for axis, dim in enumerate(shape))
    kept = tuple(dim for axis, dim in enumerate(shape) if axis not in axes)
    return kept or (1,)  # MXNet's full reduction is (1,), not a scalar


# the steps after the pooling, given how many input values make one output value
Finish = Callable[[float], Sequence[Step]]


def _reduction(
    ctx: NodeContext, pool: str, before: Sequence[Step] = (), finish: Optional[Finish] = None, exclude: bool = True
) -> Converted:
    """`before` (element-wise), the pooling chain, `finish` (element-wise) and a Reshape to
    MXNet's output shape where the blob's shape differs. `exclude`: the op has that attribute."""
    data = ctx.input(0)
    axes = _reduced_axes(ctx, len(data.shape), exclude)
    out = _output_shape(data.shape, axes, ctx.attrs.bool("keepdims", False))
    pooling, pooled_shape = pooling_steps(data.shape, axes, pool)
    after = finish(float(reduced_count(data.shape, axes))) if finish else ()
    steps = list(before) + pooling + list(after)
    if not steps or pooled_shape != out:
        steps.append(("reshape", "Reshape", reshape_param(out)))
    return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), out),))


def power_step(suffix: str, **params: float) -> Step:
    """A Power layer's step: (shift + scale * x) ^ power."""
    return (suffix, "Power", {"power_param": params})


@converter("sum", "sum_axis")
def convert_sum(ctx: NodeContext) -> Converted:
    return _reduction(ctx, "AVE", finish=lambda count: [power_step("sum", scale=count)])


@converter("mean")
def convert_mean(ctx: NodeContext) -> Converted:
    return _reduction(ctx, "AVE")


@converter("max", "max_axis")
def convert_max(ctx: NodeContext) -> Converted:
    return _reduction(ctx, "MAX")


@converter("min", "min_axis")
def convert_min(ctx: NodeContext) -> Converted:
    negate = power_step("negated", scale=-1.0)
    return _reduction(ctx, "MAX", [negate], lambda count: [power_step("min", scale=-1.0)])


@converter("norm")
def convert_norm(ctx: NodeContext) -> Converted:
    """L2: sqrt(count * mean(x^2)); L1: count * mean(|x|). MXNet's norm has no `exclude`."""
    order = ctx.attrs.int("ord", 2)
    out_dtype = ctx.attrs.str("out_dtype", "None")
    if out_dtype not in ("None", "float32"):
        raise ctx.error(f"out_dtype {out_dtype} is not supported: Caffe computes in float32")
    if order == 2:
        squares = power_step("squares", power=2.0)
        return _reduction(
            ctx, "AVE", [squares], lambda count: [power_step("norm", power=0.5, scale=count)], exclude=False
        )
    if order == 1:
        magnitudes: Step = ("magnitudes", "AbsVal", {})
        return _reduction(ctx, "AVE", [magnitudes], lambda count: [power_step("norm", scale=count)], exclude=False)
    raise ctx.error(f"ord={order} is not supported: MXNet's norm has ord 1 and 2 only")

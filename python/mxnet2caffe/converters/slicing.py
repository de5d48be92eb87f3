"""slice_axis, slice (crop), slice_like, SliceChannel (split) -> Caffe Slice, with Pooling for
strides on the spatial axes, Concat for other strides and Crop for slice_like.

A Slice layer cuts its bottom along one axis at its slice points and gives every part as a top;
the parts a slice does not keep stay unconsumed (OpenCV lists a layer as an output only when none
of its tops is read; a Silence it would list). The kept part need not be the first top, so the
node's blob may be another top of a layer named after the first: OpenCV DNN's `forward(name)`
reaches only a layer's first top, so such a blob, where it is a head or compared by verify, needs
a copy layer named after it.

Checked in OpenCV 4.11 and BVLC Caffe: Slice on axis 0, 1, 2 and 3, with one or several slice
points, gives every part right in both. The batch axis is refused anyway unless the slice keeps
all of it: a deployed model takes its batch size from its input, and a slice fixed at conversion
would then cut a different batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..caffe.net import Layer, Shape, Tensor
from .context import Converted, NodeContext, reshape_param
from .registry import converter
from .shape import normalize_axis

# the spatial axes of a 4-d blob, which Caffe's Pooling strides over
_SPATIAL = (2, 3)


def _layer(
    type_: str, bottoms: Sequence[str], tops: Sequence[str], params: Optional[Mapping[str, Mapping[str, Any]]] = None
) -> Layer:
    """A layer named after its first top (OpenCV addresses a layer's outputs by its name)."""
    return Layer(tops[0], type_, tuple(bottoms), tuple(tops), dict(params or {}))


def _slice_layer(bottom: str, axis: int, points: Sequence[int], tops: Sequence[str]) -> Layer:
    return _layer("Slice", [bottom], tops, {"slice_param": {"axis": axis, "slice_point": list(points)}})


def _optional_int(ctx: NodeContext, key: str, text: str) -> Optional[int]:
    """One entry of an MXNet optional-int value: "None", "3" or Python 2's "3L"."""
    text = text.strip()
    if text == "None":
        return None
    try:
        return int(text[:-1] if text.endswith("L") else text)
    except ValueError:
        raise ctx.error(f"attribute '{key}': expected integers or None, got {text!r}") from None


def _optional_int_tuple(ctx: NodeContext, key: str, required: bool = True) -> Tuple[Optional[int], ...]:
    """A tuple attribute whose entries may be None, as slice's begin/end/step are: "(0, None)"."""
    if required:
        text = ctx.attrs.str(key)
    else:  # absent or "None" (as mx.sym.slice writes step=None): empty
        optional = ctx.attrs.str(key, None)
        text = optional if optional is not None else "()"
    inner = text.strip().strip("()[]")
    return tuple(_optional_int(ctx, key, part) for part in inner.split(",") if part.strip())


def slice_positions(length: int, begin: Optional[int], end: Optional[int], step: Optional[int]) -> range:
    """The positions `slice` keeps along one axis. MXNet's reference kernel clamps begin and end
    as Python does (checked on every begin/end/step combination up to length 7), so Python's
    slice semantics are MXNet's."""
    return range(length)[slice(begin, end, step)]


@dataclass(frozen=True)
class _Cut:
    """What to keep along one axis: a contiguous range, or every `step`-th position."""

    axis: int
    positions: range

    @property
    def contiguous(self) -> bool:
        return self.positions.step == 1 or len(self.positions) == 1

    @property
    def span(self) -> Tuple[int, int]:
        """The smallest contiguous range holding every position kept."""
        first, last = self.positions[0], self.positions[-1]
        return min(first, last), max(first, last) + 1


def _check_cuts(ctx: NodeContext, shape: Shape, cuts: Dict[int, range]) -> List[_Cut]:
    """The cuts that change their axis, checked: nothing empty, the batch axis whole."""
    kept = []
    for axis, positions in sorted(cuts.items()):
        if len(positions) == 0:
            raise ctx.error(f"the slice of axis {axis} (size {shape[axis]}) is empty: Caffe has no empty blobs")
        if positions == range(shape[axis]):
            continue
        if axis == 0:
            raise ctx.error(
                f"slicing the batch axis (axis 0, keeping {len(positions)} of {shape[0]}) is not supported: "
                "a deployed model takes its batch size from its input"
            )
        kept.append(_Cut(axis, positions))
    return kept


class _Plan:
    """Layers applied one after the other, one step per cut: each step's result gets a helper
    name but the last one's, which is the node's output blob."""

    def __init__(self, ctx: NodeContext, data: Tensor, steps: int) -> None:
        self.ctx = ctx
        self.blob = data.blob
        self.shape = list(data.shape)
        self.layers: List[Layer] = []
        self._steps_left = steps

    def _result(self, suffix: str) -> str:
        self._steps_left -= 1
        return self.ctx.output_blob() if self._steps_left == 0 else self.ctx.layer_name(suffix)

    def keep_range(self, axis: int, begin: int, end: int) -> None:
        """A Slice at begin and end (where they cut), keeping the part between them."""
        points = [point for point in (begin, end) if 0 < point < self.shape[axis]]
        kept = self._result(f"axis{axis}")
        tops = [kept if start == begin else self.ctx.layer_name(f"axis{axis}_from{start}") for start in [0] + points]
        self.layers.append(_slice_layer(self.blob, axis, points, tops))
        self.blob, self.shape[axis] = kept, end - begin

    def gather(self, axis: int, positions: Sequence[int]) -> None:
        """A Slice into single positions, and a Concat of the ones kept, in the order kept."""
        first, last = min(positions), max(positions) + 1
        points = [point for point in range(first, last + 1) if 0 < point < self.shape[axis]]
        starts = [0] + points
        tops = [self.ctx.layer_name(f"axis{axis}_at{start}") for start in starts]
        self.layers.append(_slice_layer(self.blob, axis, points, tops))
        kept = self._result(f"axis{axis}")
        picked = [tops[starts.index(position)] for position in positions]
        self.layers.append(_layer("Concat", picked, [kept], {"concat_param": {"axis": axis}}))
        self.blob, self.shape[axis] = kept, len(positions)

    def stride(self, strides: Tuple[int, int]) -> None:
        """MAX Pooling with a 1x1 window copies every strides-th row and column. Caffe's
        rounded-up size, ceil((size - 1) / stride) + 1, is the number kept because the range
        cut before it ends on a kept position."""
        kept = self._result("stride")
        params = {"pool": "MAX", "kernel_h": 1, "kernel_w": 1, "stride_h": strides[0], "stride_w": strides[1]}
        self.layers.append(_layer("Pooling", [self.blob], [kept], {"pooling_param": params}))
        for axis, stride in zip(_SPATIAL, strides):
            self.shape[axis] = (self.shape[axis] - 1) // stride + 1
        self.blob = kept


def select(ctx: NodeContext, data: Tensor, cuts: Dict[int, range]) -> Converted:
    """The node's output: `data` with only the positions `cuts[axis]` along each axis listed."""
    kept = _check_cuts(ctx, data.shape, cuts)
    if not kept:
        return ctx.alias(data)
    # a positive stride on the spatial axes of a 4-d blob is a cheap Pooling after a range;
    # any other stride (channels, a negative step) gathers single positions
    pooled = {
        cut.axis: cut.positions.step
        for cut in kept
        if not cut.contiguous and len(data.shape) == 4 and cut.axis in _SPATIAL and cut.positions.step > 1
    }
    ranges = [cut for cut in kept if (cut.contiguous or cut.axis in pooled) and cut.span != (0, data.shape[cut.axis])]
    gathers = [cut for cut in kept if not cut.contiguous and cut.axis not in pooled]
    plan = _Plan(ctx, data, steps=len(ranges) + len(gathers) + bool(pooled))
    for cut in ranges:
        plan.keep_range(cut.axis, *cut.span)
    for cut in gathers:
        plan.gather(cut.axis, list(cut.positions))
    if pooled:
        plan.stride((pooled.get(2, 1), pooled.get(3, 1)))
    return Converted(layers=tuple(plan.layers), outputs=(Tensor(plan.blob, tuple(plan.shape)),))


@converter("slice_axis")
def convert_slice_axis(ctx: NodeContext) -> Converted:
    """MXNet checks begin and end instead of clamping them (unlike slice): so does this."""
    data = ctx.input(0)
    axis = normalize_axis(ctx, ctx.attrs.int("axis"), len(data.shape))
    size = data.shape[axis]
    begin = ctx.attrs.int("begin")
    end = _optional_int(ctx, "end", ctx.attrs.str("end"))
    first = begin + size if begin < 0 else begin
    stop = size if end is None else end + size if end < 0 else end
    if not 0 <= first < stop <= size:
        raise ctx.error(f"begin {begin}, end {end} select nothing valid of axis {axis} (size {size})")
    return select(ctx, data, {axis: range(first, stop)})


@converter("slice", "crop")
def convert_slice(ctx: NodeContext) -> Converted:
    """begin/end/step per leading axis, None entries meaning the whole axis (or its end)."""
    data = ctx.input(0)
    begin = _optional_int_tuple(ctx, "begin")
    end = _optional_int_tuple(ctx, "end")
    step = _optional_int_tuple(ctx, "step", required=False)
    if len(begin) != len(end) or (step and len(step) != len(begin)):
        raise ctx.error(f"begin {begin}, end {end} and step {step} differ in length")
    if len(begin) > len(data.shape):
        raise ctx.error(f"begin {begin} has more entries than the input {data.shape} has axes")
    if 0 in step:
        raise ctx.error(f"step {step} has a 0")
    steps = step or (None,) * len(begin)
    cuts = {axis: slice_positions(data.shape[axis], *entry) for axis, entry in enumerate(zip(begin, end, steps))}
    return select(ctx, data, cuts)


def _shape_like(ctx: NodeContext) -> Tuple[Optional[Tensor], Shape]:
    """slice_like's second input: a blob, or a weight of which only the shape matters."""
    if ctx.is_weight(1):
        return None, tuple(ctx.param(1).shape)
    like = ctx.input(1)
    return like, like.shape


@converter("slice_like")
def convert_slice_like(ctx: NodeContext) -> Converted:
    """The leading part of `data` as large as `shape_like` along `axes` (all axes if none).

    Where `shape_like` has the output's size along every axis from the first one cut on, a Crop
    against it is one layer and reads it, so it is not left unconsumed (it may be computed for
    its shape only, and OpenCV would list an unread blob as an output)."""
    data = ctx.input(0)
    like, like_shape = _shape_like(ctx)
    ndim = len(data.shape)
    axes = ctx.attrs.int_tuple("axes", ())
    if not axes:
        if len(like_shape) != ndim:
            raise ctx.error(f"with no axes, shape_like {like_shape} must have the input's {ndim} axes")
        axes = tuple(range(ndim))
    cuts: Dict[int, range] = {}
    for axis in (normalize_axis(ctx, axis, ndim, "axes") for axis in axes):
        if axis >= len(like_shape) or like_shape[axis] > data.shape[axis]:
            raise ctx.error(f"shape_like {like_shape} is not within the input {data.shape} on axis {axis}")
        cuts[axis] = range(like_shape[axis])
    out = tuple(len(cuts[axis]) if axis in cuts else size for axis, size in enumerate(data.shape))
    kept = _check_cuts(ctx, data.shape, cuts)
    first = min((cut.axis for cut in kept), default=ndim - 1)
    if like is not None and len(like_shape) == ndim and like_shape[first:] == out[first:]:
        return ctx.single("Crop", [data.blob, like.blob], out, {"crop_param": {"axis": first, "offset": [0]}})
    return select(ctx, data, cuts)


@converter("SliceChannel", "split")
def convert_slice_channel(ctx: NodeContext) -> Converted:
    """`num_outputs` equal parts along `axis`: one Slice gives them all (parts nobody reads stay
    unconsumed). With `squeeze_axis`, each part (of size 1) is reshaped without the axis."""
    data = ctx.input(0)
    count = ctx.attrs.int("num_outputs")
    axis = normalize_axis(ctx, ctx.attrs.int("axis", 1), len(data.shape))
    squeeze = ctx.attrs.bool("squeeze_axis", False)
    size = data.shape[axis]
    if count < 1 or size % count:
        raise ctx.error(f"num_outputs {count} does not divide axis {axis} of the input {data.shape}")
    if squeeze and size != count:
        raise ctx.error(f"squeeze_axis needs num_outputs ({count}) equal to the size of axis {axis} ({size})")
    part = data.shape[:axis] + (size // count,) + data.shape[axis + 1 :]
    squeezed = data.shape[:axis] + data.shape[axis + 1 :]
    if count == 1:
        if not squeeze:
            return ctx.alias(data)
        return ctx.single("Reshape", [data.blob], squeezed, reshape_param(squeezed))
    if axis == 0:
        raise ctx.error(
            f"splitting the batch axis into {count} is not supported: a deployed model takes its batch "
            "size from its input"
        )
    outputs = [ctx.output_blob(index, count) for index in range(count)]
    parts = [ctx.layer_name(f"part{index}") for index in range(count)] if squeeze else outputs
    layers = [_slice_layer(data.blob, axis, [index * part[axis] for index in range(1, count)], parts)]
    if squeeze:
        layers += [_layer("Reshape", [blob], [out], reshape_param(squeezed)) for blob, out in zip(parts, outputs)]
    shape = squeezed if squeeze else part
    return Converted(layers=tuple(layers), outputs=tuple(Tensor(out, shape) for out in outputs))

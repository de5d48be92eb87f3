"""Pad -> stock Caffe layers, exactly (Caffe has no padding layer).

MXNet pads only the two spatial axes of an NCHW tensor (its own check refuses the batch and
channel axes), with a constant, the edge values or a reflection. Each mode becomes layers that
copy values and never round them:
- constant 0, the same on both sides of each axis: a depthwise 1x1 Convolution of ones with that
  pad (`zero_pad_convolution`), x * 1 framed by zeros. The fold_pad net pass merges it into a
  Convolution or Pooling that reads it alone, where that is exact.
- different widths before and after: that Convolution pads each axis by the larger width, and a
  Crop cuts the exact window out (caffe/forms.py: a cheap reference of the target size).
- constant c != 0: the zero-padded tensor, then a Scale with weights 1 and a bias of c on the
  border, 0 inside, over the two spatial axes: x * 1 + 0 and 0 * 1 + c are both exact.
- edge, reflect: a Slice cuts every row the border repeats into its own piece, a Concat lays
  the pieces out in the padded order (a piece may appear several times); then the same for the
  columns of the result.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np

from ..caffe.forms import crop, size_reference
from ..caffe.net import Layer, Shape, Tensor
from .context import Converted, NodeContext, reshape_param
from .registry import converter

# (before, after) widths of one axis
Widths = Tuple[int, int]
# (type, params, blobs) of a Caffe layer with weights
LayerForm = Tuple[str, Mapping[str, Mapping[str, Any]], Tuple[np.ndarray, ...]]


def zero_pad_convolution(channels: int, pad_h: int, pad_w: int) -> LayerForm:
    """x * 1 per channel with pad: the input framed by zeros, exactly."""
    params = {
        "num_output": channels,
        "bias_term": False,
        "kernel_h": 1,
        "kernel_w": 1,
        "pad_h": pad_h,
        "pad_w": pad_w,
        "group": channels,
    }
    return "Convolution", {"convolution_param": params}, (np.ones((channels, 1, 1, 1), dtype=np.float32),)


def source_indices(size: int, widths: Widths, mode: str) -> List[int]:
    """For each position of a padded axis, the input index whose value it holds (edge, reflect)."""
    before, after = widths
    positions = range(-before, size + after)
    if mode == "edge":
        return [min(max(i, 0), size - 1) for i in positions]
    return [-i if i < 0 else 2 * (size - 1) - i if i >= size else i for i in positions]  # reflect


def _runs(indices: Sequence[int]) -> List[Tuple[int, int]]:
    """`indices` as [start, stop) runs of consecutive input rows."""
    runs: List[Tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


class _Builder:
    """Layers of one Pad node; `last=True` makes a layer the node's own (its name, its output)."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.layers: List[Layer] = []

    def top(self, suffix: str, last: bool) -> str:
        return self.ctx.output_blob() if last else self.ctx.layer_name(suffix)

    def add(
        self,
        type_: str,
        bottoms: Sequence[str],
        suffix: str,
        last: bool,
        params: Mapping[str, Mapping[str, Any]],
        blobs: Sequence[np.ndarray] = (),
    ) -> str:
        top = self.top(suffix, last)
        self.layers.append(self.ctx.layer(type_, bottoms, [top], params, blobs, suffix="" if last else suffix))
        return top


def _copy_axis(build: _Builder, bottom: str, shape: Shape, axis: int, widths: Widths, mode: str, last: bool) -> str:
    """Edge or reflect padding of one axis: Slice into pieces, Concat in the padded order."""
    size = shape[axis]
    runs = _runs(source_indices(size, widths, mode))
    cuts = sorted({edge for run in runs for edge in run} - {0, size})
    name = "rows" if axis == 2 else "columns"
    pieces = [bottom]
    if cuts:
        pieces = [f"{build.ctx.layer_name(name)}_{i}" for i in range(len(cuts) + 1)]
        slice_param = {"slice_param": {"axis": axis, "slice_point": cuts}}
        build.layers.append(build.ctx.layer("Slice", [bottom], pieces, slice_param, suffix=name))
    starts = [0] + cuts
    bottoms = [pieces[starts.index(start)] for run in runs for start in starts if run[0] <= start < run[1]]
    return build.add("Concat", bottoms, f"{name}_padded", last, {"concat_param": {"axis": axis}})


def _border_mask(shape: Shape, widths: Sequence[Widths], value: float) -> np.ndarray:
    """`value` on the padded border of an (H, W) plane, 0 where the input lies."""
    mask = np.full(shape, value, dtype=np.float32)
    (top, bottom), (left, right) = widths
    mask[top : shape[0] - bottom, left : shape[1] - right] = 0
    return mask


def _constant(ctx: NodeContext, data: Tensor, widths: Sequence[Widths], value: float, out: Shape) -> Converted:
    build = _Builder(ctx)
    channels = data.shape[1]
    frame = [max(axis_widths) for axis_widths in widths]
    symmetric = all(before == after for before, after in widths)
    with_value = value != 0
    type_, params, blobs = zero_pad_convolution(channels, *frame)
    padded = build.add(type_, [data.blob], "zero_pad", symmetric and not with_value, params, blobs)
    if not symmetric:
        shrink = (2 * frame[0] - sum(widths[0]), 2 * frame[1] - sum(widths[1]))
        reference = size_reference(ctx.layer_name("size"), padded, shrink)
        offsets = [frame[0] - widths[0][0], frame[1] - widths[1][0]]
        cut = crop(build.top("cut", not with_value), padded, reference.tops[0], 2, offsets)
        build.layers += [reference, cut]
        padded = cut.tops[0]
    elif with_value:
        # OpenCV DNN fuses a Scale that follows a Convolution as if it were per channel; a
        # Reshape to the same shape in between keeps the two apart
        padded = build.add("Reshape", [padded], "unfused", False, reshape_param(out))
    if with_value:
        plane = out[2:]
        scale = {"scale_param": {"axis": 2, "num_axes": 2, "bias_term": True}}
        weights = (np.ones(plane, dtype=np.float32), _border_mask(plane, widths, value))
        build.add("Scale", [padded], "value", True, scale, weights)
    return Converted(layers=tuple(build.layers), outputs=(Tensor(ctx.output_blob(), out),))


def _copies(ctx: NodeContext, data: Tensor, widths: Sequence[Widths], mode: str, out: Shape) -> Converted:
    build = _Builder(ctx)
    bottom, shape = data.blob, data.shape
    axes = [axis for axis, axis_widths in zip((2, 3), widths) if any(axis_widths)]
    for axis in axes:
        axis_widths = widths[axis - 2]
        if mode == "reflect" and max(axis_widths) >= shape[axis]:
            raise ctx.error(
                f"reflect padding {axis_widths} of an axis of size {shape[axis]}: MXNet reflects only "
                "widths smaller than the size"
            )
        bottom = _copy_axis(build, bottom, shape, axis, axis_widths, mode, last=axis == axes[-1])
        shape = tuple(dim + sum(axis_widths) if index == axis else dim for index, dim in enumerate(shape))
    return Converted(layers=tuple(build.layers), outputs=(Tensor(ctx.output_blob(), out),))


@converter("Pad", "pad")
def convert_pad(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    mode = ctx.attrs.str("mode")
    pad_width = ctx.attrs.int_tuple("pad_width")
    value = ctx.attrs.float("constant_value", 0.0)  # MXNet ignores it unless mode is constant
    if mode not in ("constant", "edge", "reflect"):
        raise ctx.error(f"mode '{mode}' is not supported, only constant, edge and reflect")
    if len(data.shape) != 4:
        raise ctx.error(f"only 4-d (NCHW) input is supported, got {data.shape}")
    if len(pad_width) != 2 * len(data.shape):
        raise ctx.error(f"pad_width {pad_width} needs two widths per axis of the input {data.shape}")
    if any(pad_width[:4]):
        raise ctx.error(f"pad_width {pad_width} pads the batch or channel axis; MXNet pads only H and W")
    if min(pad_width) < 0:
        raise ctx.error(f"pad_width {pad_width} has a negative width")
    widths = [(pad_width[4], pad_width[5]), (pad_width[6], pad_width[7])]
    out = tuple(data.shape[:2]) + tuple(size + sum(w) for size, w in zip(data.shape[2:], widths))
    ctx.check_size(out)  # before the border mask of the output's plane
    if not any(pad_width):
        return ctx.alias(data)
    if mode == "constant":
        return _constant(ctx, data, widths, value, out)
    return _copies(ctx, data, widths, mode, out)

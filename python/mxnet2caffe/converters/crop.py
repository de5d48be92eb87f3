"""Crop (MXNet's legacy spatial crop) -> Caffe Crop from axis 2.

MXNet cuts input 0 to a height and width: input 1's (num_args 2; RetinaFace crops an upsampled
map to its lateral branch so) or `h_w` (num_args 1), starting at `offset` (y, x), or centred with
the offset rounded down. Caffe's Crop cuts its first bottom to the shape of its second from
`axis` on: input 1 itself, or for h_w a cheap blob of that size made from input 0.
"""

from __future__ import annotations

from typing import List, Tuple

from ..caffe.forms import crop, size_reference
from ..caffe.net import Layer, Shape, Tensor
from .context import Converted, NodeContext
from .registry import converter


def _pair(ctx: NodeContext, key: str) -> Tuple[int, int]:
    values = ctx.attrs.int_tuple(key, (0, 0))
    if len(values) != 2:
        raise ctx.error(f"attribute '{key}' {values} must be a (height, width) pair")
    return values[0], values[1]


def _spatial(ctx: NodeContext, tensor: Tensor, index: int) -> Tuple[int, int]:
    if len(tensor.shape) != 4:
        raise ctx.error(f"input {index} must be NCHW, its shape is {tensor.shape}")
    return tensor.shape[2], tensor.shape[3]


def _offsets(ctx: NodeContext, size: Tuple[int, int], cut: Tuple[int, int], center: bool) -> Tuple[int, int]:
    """MXNet's (y, x) start of the cut, checked as MXNet checks it."""
    room = (size[0] - cut[0], size[1] - cut[1])
    if min(room) < 0:
        raise ctx.error(f"crop size {cut} is larger than the input size {size}")
    offset = _pair(ctx, "offset")
    if center:  # MXNet ignores `offset` then
        return room[0] // 2, room[1] // 2
    if not all(0 <= start <= space for start, space in zip(offset, room)):
        raise ctx.error(
            f"offset {offset} does not fit: the crop {cut} of input size {size} can start at most at {room}"
        )
    return offset


@converter("Crop")
def convert_crop(ctx: NodeContext) -> Converted:
    num_args = ctx.attrs.int("num_args")
    h_w = _pair(ctx, "h_w")
    center = ctx.attrs.bool("center_crop", False)
    if num_args != ctx.num_inputs or num_args not in (1, 2):
        raise ctx.error(f"num_args {num_args} with {ctx.num_inputs} inputs: MXNet's Crop takes 1 (with h_w) or 2")
    data = ctx.input(0)
    size = _spatial(ctx, data, 0)
    if num_args == 2:  # h_w is ignored: input 1 gives the size
        reference = ctx.input(1)
        cut = _spatial(ctx, reference, 1)
    elif min(h_w) < 1:
        raise ctx.error(f"h_w {h_w} must give a positive crop size (num_args 1)")
    else:
        cut = h_w
    offsets = _offsets(ctx, size, cut, center)
    out: Shape = tuple(data.shape[:2]) + cut
    layers: List[Layer] = []
    if num_args == 1:
        if cut == size:
            return ctx.alias(data)
        reference = Tensor(ctx.layer_name("size"), out)
        layers.append(size_reference(reference.blob, data.blob, (size[0] - cut[0], size[1] - cut[1])))
    # with num_args 2 the Crop stays even when it cuts nothing: input 1 must stay read
    top = ctx.output_blob()
    layers.append(crop(top, data.blob, reference.blob, axis=2, offsets=offsets))
    return Converted(layers=tuple(layers), outputs=(Tensor(top, out),))

"""transpose, SwapAxis (swapaxes) -> Reshape where only axes of size 1 move, else Slice + Concat
for each swap of two neighbouring axis groups (copies: exact), or one native MXTranspose layer
with --transpose native.

The axes are seen as groups: axes of size 1 left out (they fix no memory order), neighbours that
stay neighbours in the same order merged. NCHW -> NHWC is then (N, C, HW) -> (N, HW, C), and
ShuffleNet's channel shuffle, (N, g, C/g, H, W) -> (N, C/g, g, H, W), is (N, g, C/g, HW) ->
(N, C/g, g, HW). A permutation of the groups is done as swaps (P, A, B, Q) -> (P, B, A, Q) of two
neighbouring groups A and B, P and Q what comes before and after them, each on a 4-d view of the
blob. Cutting B into its B positions gives parts (P, A, 1, Q), which side by side along axis 1
are (P, B*A, 1, Q): (P, B, A, Q) in memory. Cutting A into parts (P, 1, B, Q) and putting them
side by side along axis 3 gives (P, 1, B, A*Q), the same. The smaller of A and B is cut, so the
channel shuffle takes g parts and NCHW -> NHWC min(C, H*W); a swap of more than MAX_PARTS parts is
an error that points to the native layer.

The native layer takes the order as reshape_param { shape { dim } } (caffe_layers/README.md).
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

from ..caffe.native_layers import native_hint, native_type
from ..caffe.net import Layer, Shape, Tensor
from .context import Converted, NodeContext, reshape_param
from .registry import converter
from .shape import normalize_axis

SWITCH = "transpose"
# the most parts one Slice of a swap may cut: the heads of SSD on COCO (up to 486 channels to the
# last axis) and YOLO's (255) fit; more makes a prototxt of a thousand blobs per swap, and the
# copies slow (Caffe copies a part at a time: 0.04 ms native, 1.4 ms for SSD300's 84 x 38 x 38)
MAX_PARTS = 512

# (P, A, B, Q): a 4-d view of the blob whose axes A and B trade places
Swap = Tuple[int, int, int, int]


def axis_groups(shape: Shape, permutation: Sequence[int]) -> Tuple[List[int], List[int]]:
    """The permutation on groups of axes: the groups' sizes in input order, and the input group
    at each output position. Axes of size 1 belong to no group; a permutation that moves only
    them gives groups in input order."""
    kept = [axis for axis in range(len(shape)) if shape[axis] != 1]
    rank = {axis: index for index, axis in enumerate(kept)}
    runs: List[List[int]] = []  # in output order, each a run of consecutive kept input axes
    for axis in permutation:
        if shape[axis] == 1:
            continue
        if runs and runs[-1][-1] + 1 == rank[axis]:
            runs[-1].append(rank[axis])
        else:
            runs.append([rank[axis]])
    by_input = sorted(range(len(runs)), key=lambda run: runs[run][0])
    sizes = [math.prod(shape[kept[index]] for index in runs[run]) for run in by_input]
    return sizes, [by_input.index(run) for run in range(len(runs))]


def swaps(sizes: Sequence[int], order: Sequence[int]) -> List[Swap]:
    """Swaps of neighbouring groups that put the groups (of `sizes`, in input order) in `order`:
    each output position in turn gets its group, moved there past the groups before it."""
    current = list(range(len(sizes)))
    steps = []
    for position, group in enumerate(order):
        at = current.index(group)
        if at == position:
            continue

        def size(groups: Sequence[int]) -> int:
            return math.prod(sizes[g] for g in groups)

        steps.append((size(current[:position]), size(current[position:at]), sizes[group], size(current[at + 1 :])))
        current = current[:position] + [group] + current[position:at] + current[at + 1 :]
    return steps


def _swap_layers(ctx: NodeContext, blob: str, shape: Shape, swap: Swap, step: int) -> Tuple[List[Layer], Shape]:
    """(P, A, B, Q) -> (P, B, A, Q) from `blob` of `shape`: a Reshape to that view where `shape`
    is not it, a Slice of the smaller of A and B into single positions, a Concat of the parts;
    and the Concat's shape."""
    layers = []
    if tuple(shape) != swap:
        name = f"step{step}/view"
        layers.append(ctx.layer("Reshape", [blob], [ctx.layer_name(name)], reshape_param(swap), suffix=name))
        blob = layers[-1].tops[0]
    p, a, b, q = swap
    cut_axis, concat_axis, swapped_shape = (2, 1, (p, b * a, 1, q)) if b <= a else (1, 3, (p, 1, b, a * q))
    parts = [ctx.layer_name(f"step{step}/part{index}") for index in range(min(a, b))]
    slice_param = {"slice_param": {"axis": cut_axis, "slice_point": list(range(1, len(parts)))}}
    layers.append(ctx.layer("Slice", [blob], parts, slice_param, suffix=f"step{step}/part0"))
    swapped = ctx.layer_name(f"step{step}")
    layers.append(ctx.layer("Concat", parts, [swapped], {"concat_param": {"axis": concat_axis}}, suffix=f"step{step}"))
    return layers, swapped_shape


def _native_transpose(ctx: NodeContext, data: Tensor, permutation: Sequence[int], out: Shape) -> Converted:
    """One MXTranspose layer. OpenCV's Python binding reads a 3-d array (last axis up to 512 long)
    as an image with channels, so its custom layers cannot give a 3-d blob: a 3-d transpose runs
    on a 4-d view with a trailing axis of 1, between two Reshapes."""
    if len(out) != 3:
        return ctx.single(native_type(SWITCH), [data.blob], out, reshape_param(permutation))
    view = ctx.layer("Reshape", [data.blob], [ctx.layer_name("view")], reshape_param((*data.shape, 1)), suffix="view")
    moved = ctx.layer(
        native_type(SWITCH), view.tops, [ctx.layer_name("moved")], reshape_param((*permutation, 3)), suffix="moved"
    )
    back = ctx.layer("Reshape", moved.tops, [ctx.output_blob()], reshape_param(out))
    return Converted(layers=(view, moved, back), outputs=(Tensor(ctx.output_blob(), out),))


def transposed(ctx: NodeContext, what: str, permutation: Sequence[int]) -> Converted:
    """The node's output: its input with axis i of the output being axis permutation[i]."""
    data = ctx.input(0)
    out = tuple(data.shape[axis] for axis in permutation)
    steps = swaps(*axis_groups(data.shape, permutation))
    if not steps:  # only axes of size 1 move: the memory order stays
        return ctx.single("Reshape", [data.blob], out, reshape_param(out))
    if ctx.options.native(SWITCH):
        return _native_transpose(ctx, data, permutation, out)
    widest = max(min(a, b) for _, a, b, _ in steps)
    if widest > MAX_PARTS:
        raise ctx.error(
            f"{what} of {data.shape} to {out}: its stock form cuts {widest} parts in one Slice, more than "
            f"{MAX_PARTS}; {native_hint(SWITCH)}"
        )
    layers: List[Layer] = []
    blob, shape = data.blob, data.shape
    for step, swap in enumerate(steps):
        swap_layers, shape = _swap_layers(ctx, blob, shape, swap, step)
        layers += swap_layers
        blob = layers[-1].tops[0]
    layers.append(ctx.layer("Reshape", [blob], [ctx.output_blob()], reshape_param(out)))
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), out),))


@converter("transpose")
def convert_transpose(ctx: NodeContext) -> Converted:
    """`axes` is the output's axis order; empty reverses the axes. MXNet refuses negative axes,
    and it does not check for repeated ones (it then returns memory it never wrote): both are
    refused."""
    ndim = len(ctx.input(0).shape)
    axes = ctx.attrs.int_tuple("axes", ())
    if not axes:
        axes = tuple(reversed(range(ndim)))
    if sorted(axes) != list(range(ndim)):
        raise ctx.error(
            f"attribute 'axes' {axes} is not an order of the axes 0..{ndim - 1} of the {ndim}-d input, each once"
        )
    return transposed(ctx, f"transpose by {axes}", axes)


@converter("SwapAxis", "swapaxes")
def convert_swap_axis(ctx: NodeContext) -> Converted:
    """dim1 and dim2 (default 0, negative counting from the end) trade places."""
    ndim = len(ctx.input(0).shape)
    first = normalize_axis(ctx, ctx.attrs.int("dim1", 0), ndim, "dim1")
    second = normalize_axis(ctx, ctx.attrs.int("dim2", 0), ndim, "dim2")
    permutation = list(range(ndim))
    permutation[first], permutation[second] = second, first
    return transposed(ctx, f"swap of axes {first} and {second}", permutation)

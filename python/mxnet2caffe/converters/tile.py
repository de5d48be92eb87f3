"""tile, repeat -> Concat of one blob with itself; Embedding -> a one-hot product.

OpenCV DNN 4.x cannot read Caffe's Tile layer (it wants a `repeats` parameter Caffe's schema
does not have; checked with 4.11), so copies are made by Concat, which takes the same bottom
any number of times in Caffe and OpenCV alike:
- tile along an axis is k copies side by side: Concat on that axis;
- repeat along an axis interleaves them: the axis gets a size-1 axis after it (Reshape), the
  copies are concatenated on that one, and a Reshape merges the two, so element i of the axis
  becomes elements i*k .. i*k+k-1.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ..caffe.net import Layer, Shape, Tensor
from ..errors import listed
from .context import Converted, NodeContext, Step, reshape_param
from .registry import converter

# copies are bottoms of one Concat layer: one prototxt line each
_MAX_COPIES = 4096


def _check_copies(ctx: NodeContext, key: str, copies: int, out: Shape) -> None:
    """The output within the blob limit and `copies` within what a Concat of copies should hold,
    checked before any layer is made."""
    ctx.check_size(out)
    if copies > _MAX_COPIES:
        raise ctx.error(f"attribute '{key}': {copies} copies, more than the {_MAX_COPIES} one Concat layer takes here")


def _concat_copies(ctx: NodeContext, blob: str, copies: int, axis: int, suffix: str) -> Layer:
    return ctx.layer(
        "Concat", [blob] * copies, [ctx.layer_name(suffix)], {"concat_param": {"axis": axis}}, suffix=suffix
    )


def _reshape(ctx: NodeContext, blob: str, shape: Shape, suffix: str) -> Layer:
    return ctx.layer("Reshape", [blob], [ctx.layer_name(suffix)], reshape_param(shape), suffix=suffix)


def _as_node_output(ctx: NodeContext, data: Tensor, layers: List[Layer], shape: Shape) -> Converted:
    """The last layer becomes the node's own (named after it, writing its output blob); with
    no layer at all, a Reshape of the input is (a copy into that blob)."""
    if not layers:
        layers = [_reshape(ctx, data.blob, shape, "copy")]
    last = layers[-1]
    layers[-1] = ctx.layer(last.type, last.bottoms, [ctx.output_blob()], last.params, last.blobs)
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), shape),))


@converter("tile")
def convert_tile(ctx: NodeContext) -> Converted:
    """MXNet pads the shorter of `reps` and the input's shape with leading 1s."""
    data = ctx.input(0)
    reps = ctx.attrs.int_tuple("reps")
    if any(rep < 1 for rep in reps):
        raise ctx.error(f"reps {listed(reps)}: every repetition count must be at least 1")
    ndim = max(len(reps), len(data.shape))
    shape = (1,) * (ndim - len(data.shape)) + tuple(data.shape)
    reps = (1,) * (ndim - len(reps)) + tuple(reps)
    out = tuple(dim * rep for dim, rep in zip(shape, reps))
    _check_copies(ctx, "reps", max(reps), out)
    layers: List[Layer] = []
    blob = data.blob
    if shape != data.shape:
        layers.append(_reshape(ctx, blob, shape, "padded"))
        blob = layers[-1].tops[0]
    for axis, rep in enumerate(reps):
        if rep > 1:
            layers.append(_concat_copies(ctx, blob, rep, axis, f"tiled{axis}"))
            blob = layers[-1].tops[0]
    return _as_node_output(ctx, data, layers, out)


@converter("repeat")
def convert_repeat(ctx: NodeContext) -> Converted:
    """Without `axis`, MXNet repeats the elements of the flattened input (a 1-d output)."""
    data = ctx.input(0)
    repeats = ctx.attrs.int("repeats")
    axis = ctx.attrs.int("axis", None)
    if repeats < 1:
        raise ctx.error(f"repeats={repeats} must be at least 1")
    ndim = len(data.shape)
    if axis is None:
        shape: Shape = (int(np.prod(data.shape)),)
        axis = 0
    elif -ndim <= axis < ndim:
        shape = tuple(data.shape)
        axis %= ndim
    else:
        raise ctx.error(f"attribute 'axis' {axis} is out of range for a {ndim}-d input")
    out = shape[:axis] + (shape[axis] * repeats,) + shape[axis + 1 :]
    _check_copies(ctx, "repeats", repeats, out)
    if repeats == 1:
        return _as_node_output(ctx, data, [], out)
    spread = shape[: axis + 1] + (1,) + shape[axis + 1 :]
    layers = [_reshape(ctx, data.blob, spread, "spread")]
    layers.append(_concat_copies(ctx, layers[-1].tops[0], repeats, axis + 1, "repeated"))
    layers.append(_reshape(ctx, layers[-1].tops[0], out, "merged"))
    return _as_node_output(ctx, data, layers, out)


def _read_embedding_attrs(ctx: NodeContext) -> Tuple[int, int]:
    ctx.attrs.bool("sparse_grad", False)  # the gradient's storage: training only
    dtype = ctx.attrs.str("dtype", "float32")
    if dtype != "float32":
        raise ctx.error(f"dtype {dtype} is not supported: Caffe computes in float32")
    return ctx.attrs.int("input_dim"), ctx.attrs.int("output_dim")


@converter("Embedding")
def convert_embedding(ctx: NodeContext) -> Converted:
    """out[..., :] = weight[index]. Caffe's Embed layer is not in OpenCV DNN 4.x, so the rows are
    picked by a product with one-hot rows (InnerProduct): each output is one weight times 1 plus
    zeros, which is the weight exactly. The one-hot rows: the indices clipped to [0, rows - 1] as
    MXNet clips them (max(x, 0) = ReLU(x), min(x, r) = r - ReLU(r - x)), then column i is
    ReLU(1 - |x - i|), exactly 1 where x = i and 0 elsewhere.

    Exact for integer indices, which is what an embedding is fed; MXNet truncates a fractional
    index, where this form would blend two rows."""
    data = ctx.input(0)
    rows, width = _read_embedding_attrs(ctx)
    weight = ctx.param(1, (rows, width))
    out = tuple(data.shape) + (width,)
    flip = {"power_param": {"scale": -1.0, "shift": float(rows - 1)}}
    # (step, weights): x - i in column i is an InnerProduct with weights 1 and bias -i; the
    # picking InnerProduct's weights are (outputs, inputs), the table transposed
    chain: List[Tuple[Step, Tuple[np.ndarray, ...]]] = [
        (("indices", "Reshape", reshape_param((int(np.prod(data.shape)), 1))), ()),
        (("at_least_0", "ReLU", {}), ()),
        (("flipped", "Power", flip), ()),
        (("flipped_at_least_0", "ReLU", {}), ()),
        (("clipped", "Power", flip), ()),
        (
            ("offsets", "InnerProduct", {"inner_product_param": {"num_output": rows}}),
            (np.ones((rows, 1), np.float32), -np.arange(rows, dtype=np.float32)),
        ),
        (("distances", "AbsVal", {}), ()),
        (("closeness", "Power", {"power_param": {"scale": -1.0, "shift": 1.0}}), ()),
        (("one_hot", "ReLU", {}), ()),
        (
            ("picked", "InnerProduct", {"inner_product_param": {"num_output": width, "bias_term": False}}),
            (np.ascontiguousarray(weight.T),),
        ),
        (("rows", "Reshape", reshape_param(out)), ()),
    ]
    layers = ctx.chain(data.blob, [step for step, _ in chain], [blobs for _, blobs in chain])
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), out),))

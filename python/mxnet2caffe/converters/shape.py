"""Ops that move data without computing on it: Flatten, Reshape, expand_dims, squeeze, Concat,
and the inference identities where they are heads (passes/remove_identities.py removes the
others)."""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

from ..caffe.net import Shape
from ..errors import listed
from ..mxnet.ops import IDENTITY_OPS
from .context import Converted, NodeContext, reshape_param
from .registry import converter

# MXNet's Reshape `shape` and `target_shape` are tuples of int
_INT32 = (-(2**31), 2**31 - 1)


def normalize_axis(ctx: NodeContext, axis: int, ndim: int, key: str = "axis") -> int:
    """A possibly negative axis attribute as Caffe's non-negative axis."""
    if not -ndim <= axis < ndim:
        raise ctx.error(f"attribute '{key}' {axis} is out of range for a {ndim}-d input")
    return axis % ndim


@converter("Flatten", "flatten")
def convert_flatten(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    if len(data.shape) < 2:
        raise ctx.error(f"Caffe Flatten needs at least 2 axes, input is {data.shape}")
    out = (data.shape[0], math.prod(data.shape[1:]))
    return ctx.single("Flatten", [data.blob], out)


def _split_dims(source: int, left: int, right: int) -> Tuple[int, int]:
    """The two dims of MXNet's -4 code; one of them may be -1 (inferred)."""
    if left == -1 and right == -1:
        raise ValueError("-4 split dims cannot both be -1")
    if min(left, right) < -1 or 0 in (left, right):
        raise ValueError(f"-4 split dims {left}, {right} must be positive or -1")
    if left == -1:
        left = source // right
    if right == -1:
        right = source // left
    if left * right != source:
        raise ValueError(f"-4 split dims {left}, {right} do not divide dim {source}")
    return left, right


def reshape_shape(spec: Sequence[int], shape: Shape, reverse: bool = False) -> Shape:
    """The output shape of MXNet's Reshape `shape` attribute, special codes included.

    0 copies an input dim, -1 is inferred, -2 copies all remaining dims, -3 merges two
    dims, -4 splits one into the next two values; `reverse` matches codes right to left.
    Raises ValueError where MXNet fails.
    """
    codes = list(reversed(spec)) if reverse else list(spec)
    dims = list(reversed(shape)) if reverse else list(shape)
    out: List[int] = []
    src = 0  # the input dim the next code refers to
    inferred = -1
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (0, -3, -4) and src + (2 if code == -3 else 1) > len(dims):
            raise ValueError(f"code {code} refers past the input's {len(dims)} dims")
        if code == 0:
            out.append(dims[src])
            src += 1
        elif code == -1:
            if inferred >= 0:
                raise ValueError("only one dim can be -1")
            # MXNet fills in the dim at the code's index, not the output's: they differ
            # after -2/-4 and MXNet's shape is the one the model was trained with
            inferred = i
            out.append(1)
            src += 1
        elif code == -2:
            out.extend(dims[src:])
            src = len(dims)
        elif code == -3:
            out.append(dims[src] * dims[src + 1])
            src += 2
        elif code == -4:
            if i + 2 >= len(codes):
                raise ValueError("-4 must be followed by two dims")
            out.extend(_split_dims(dims[src], codes[i + 1], codes[i + 2]))
            src += 1
            i += 2
        elif code > 0:
            out.append(code)
            src += 1
        else:
            raise ValueError(f"unknown code {code}")
        i += 1
    if 0 <= inferred < len(out):  # past the end, MXNet's write is lost and the 1 stays
        out[inferred] = math.prod(shape) // math.prod(out)
    return tuple(reversed(out)) if reverse else tuple(out)


def legacy_target_shape(target: Shape, shape: Shape, keep_highest: bool) -> Shape:
    """The deprecated `target_shape` attribute: one 0 is inferred; `keep_highest` keeps
    the input's first dim in place of target[0]."""
    out = list(target)
    start = 1 if keep_highest else 0
    if keep_highest:
        out[0] = shape[0]
    zeros = [i for i in range(start, len(out)) if out[i] == 0]
    if len(zeros) == 1:
        out[zeros[0]] = 1
        out[zeros[0]] = math.prod(shape) // math.prod(out)
    return tuple(out)


def _reshape_output(ctx: NodeContext, shape: Shape) -> Shape:
    spec = ctx.attrs.int_tuple("shape", ())
    reverse = ctx.attrs.bool("reverse", False)
    target = ctx.attrs.int_tuple("target_shape", ())
    keep_highest = ctx.attrs.bool("keep_highest", False)
    if any(not _INT32[0] <= value <= _INT32[1] for value in spec + target):
        raise ctx.error(f"shape {listed(spec or target)}: MXNet's Reshape takes 32-bit dims (and refuses this)")
    try:
        if spec:
            return reshape_shape(spec, shape, reverse)
        if target:
            return legacy_target_shape(target, shape, keep_highest)
    except ValueError as error:
        raise ctx.error(f"shape {listed(spec or target)} on input {listed(shape)}: {error}") from None
    raise ctx.error("neither 'shape' nor 'target_shape' is given")


@converter("Reshape", "reshape")
def convert_reshape(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    out = _reshape_output(ctx, data.shape)
    if min(out, default=1) <= 0 or math.prod(out) != math.prod(data.shape):
        raise ctx.error(f"cannot reshape {listed(data.shape)} into {listed(out)}")
    # explicit dims: no special code left for Caffe to interpret
    return ctx.single("Reshape", [data.blob], out, reshape_param(out))


@converter("expand_dims")
def convert_expand_dims(ctx: NodeContext) -> Converted:
    """A new axis of size 1 before `axis` (negative counts from the end of the output): a Reshape."""
    data = ctx.input(0)
    ndim = len(data.shape)
    axis = ctx.attrs.int("axis")
    if not -ndim - 1 <= axis <= ndim:
        raise ctx.error(f"attribute 'axis' {axis} is out of range [{-ndim - 1}, {ndim}] for a {ndim}-d input")
    axis %= ndim + 1
    out = data.shape[:axis] + (1,) + data.shape[axis:]
    return ctx.single("Reshape", [data.blob], out, reshape_param(out))


@converter("squeeze")
def convert_squeeze(ctx: NodeContext) -> Converted:
    """The axes of size 1 dropped (those listed in `axis`, or all): a Reshape. As in MXNet, a
    blob with every axis dropped keeps one axis of size 1."""
    data = ctx.input(0)
    listed = [normalize_axis(ctx, axis, len(data.shape)) for axis in ctx.attrs.int_tuple("axis", None)]
    if len(set(listed)) != len(listed):
        raise ctx.error(f"attribute 'axis' {ctx.attrs.raw['axis']} repeats an axis")
    dropped = listed or [axis for axis, size in enumerate(data.shape) if size == 1]
    wide = [axis for axis in dropped if data.shape[axis] != 1]
    if wide:
        raise ctx.error(f"cannot squeeze axes {wide} of the input {data.shape}: their size is not 1")
    out = tuple(size for axis, size in enumerate(data.shape) if axis not in dropped) or (1,)
    if out == data.shape:
        return ctx.alias(data)
    return ctx.single("Reshape", [data.blob], out, reshape_param(out))


@converter(*sorted(IDENTITY_OPS))
def convert_identity(ctx: NodeContext) -> Converted:
    """An identity head: a copy (Power with its defaults, y = x) gives the output a blob named
    after the node. The regression outputs' attribute shapes only their gradient."""
    ctx.attrs.float("grad_scale", 1.0)
    data = ctx.input(0)
    return ctx.single("Power", [data.blob], data.shape)


@converter("Concat", "concat")
def convert_concat(ctx: NodeContext) -> Converted:
    inputs = [ctx.input(i) for i in range(ctx.attrs.int("num_args", minimum=1))]
    first = inputs[0].shape
    axis = normalize_axis(ctx, ctx.attrs.int("dim", 1), len(first), "dim")
    for tensor in inputs[1:]:
        shape = tensor.shape
        if len(shape) != len(first) or shape[:axis] + shape[axis + 1 :] != first[:axis] + first[axis + 1 :]:
            raise ctx.error(f"input shapes {[t.shape for t in inputs]} differ outside axis {axis}")
    out = first[:axis] + (sum(t.shape[axis] for t in inputs),) + first[axis + 1 :]
    return ctx.single("Concat", [t.blob for t in inputs], out, {"concat_param": {"axis": axis}})

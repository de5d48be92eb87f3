"""Element-wise arithmetic -> Caffe Eltwise, Scale and Power (or, when asked for, the native
MXBroadcast* layers); clip -> ReLU/Power/Eltwise.

A broadcast op with a constant operand (a variable whose value is in the params file, as
gluoncv's exported mean/std and insightface-style graphs have) is an affine map of the other
operand, y = scale * x + shift: one Scale layer holding the constant as weights, or one Power
layer for a single value."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..caffe.net import Layer, Shape, Tensor
from ..errors import NodeError
from .context import Converted, NodeContext, reshape_param
from .registry import converter


def _eltwise(ctx: NodeContext, tensors: Sequence[Tensor], operation: str, coeff: Sequence[float] = ()) -> Converted:
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ctx.error(f"inputs have different shapes {[t.shape for t in tensors]}")
    params: Dict[str, Any] = {"operation": operation}
    if coeff:
        params["coeff"] = list(coeff)
    return ctx.single("Eltwise", [t.blob for t in tensors], tensors[0].shape, {"eltwise_param": params})


def _operands(ctx: NodeContext) -> Tuple[Tensor, Tensor]:
    return ctx.input(0), ctx.input(1)


@converter("elemwise_add", "_add", "_plus", "_Plus")
def convert_add(ctx: NodeContext) -> Converted:
    return _eltwise(ctx, _operands(ctx), "SUM")


@converter("ElementWiseSum", "add_n")
def convert_add_n(ctx: NodeContext) -> Converted:
    return _eltwise(ctx, [ctx.input(i) for i in range(ctx.attrs.int("num_args"))], "SUM")


@converter("elemwise_sub", "_sub", "_minus", "_Minus")
def convert_subtract(ctx: NodeContext) -> Converted:
    return _eltwise(ctx, _operands(ctx), "SUM", (1.0, -1.0))


@converter("elemwise_mul", "_mul", "_Mul")
def convert_multiply(ctx: NodeContext) -> Converted:
    return _eltwise(ctx, _operands(ctx), "PROD")


def broadcast_shape(ctx: NodeContext, lhs: Shape, rhs: Shape) -> Shape:
    """MXNet's (numpy's) broadcast: shapes aligned on the right, 1 stretches."""
    ndim = max(len(lhs), len(rhs))
    lhs = (1,) * (ndim - len(lhs)) + tuple(lhs)
    rhs = (1,) * (ndim - len(rhs)) + tuple(rhs)
    if any(left != right and 1 not in (left, right) for left, right in zip(lhs, rhs)):
        raise ctx.error(f"shapes {lhs} and {rhs} do not broadcast")
    return tuple(right if left == 1 else left for left, right in zip(lhs, rhs))


# switch of ConvertOptions -> the native layer it emits
_NATIVE_TYPES = {
    "broadcast_mul": "MXBroadcastMul",
    "broadcast_add": "MXBroadcastAdd",
    "broadcast_sub": "MXBroadcastSub",
    "broadcast_div": "MXBroadcastDiv",
}


def _use_native(switch: str) -> str:
    return f"convert with --{switch.replace('_', '-')} native for the {_NATIVE_TYPES[switch]} layer"


def _unsupported_broadcast(ctx: NodeContext, switch: str, lhs: Tensor, rhs: Tensor, why: str) -> NodeError:
    return ctx.error(
        f"broadcasting {lhs.shape} with {rhs.shape} is not supported in stock Caffe: {why} ({_use_native(switch)})"
    )


def _broadcast_sum(ctx: NodeContext, switch: str, coeff: Sequence[float] = ()) -> Converted:
    lhs, rhs = _operands(ctx)
    if lhs.shape == rhs.shape:
        return _eltwise(ctx, (lhs, rhs), "SUM", coeff)
    if ctx.options.native(switch):
        return _native_broadcast(ctx, switch, lhs, rhs)
    # Caffe's broadcasting add is the Bias layer, which OpenCV DNN cannot read
    raise _unsupported_broadcast(ctx, switch, lhs, rhs, "stock layers only add tensors of equal shape")


@converter("broadcast_add", "broadcast_plus")
def convert_broadcast_add(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _add_constant)
    return _broadcast_sum(ctx, "broadcast_add")


@converter("broadcast_sub", "broadcast_minus")
def convert_broadcast_subtract(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _subtract_constant)
    return _broadcast_sum(ctx, "broadcast_sub", (1.0, -1.0))


def _divide(ctx: NodeContext, lhs: Tensor, rhs: Tensor) -> Converted:
    if not ctx.options.native("broadcast_div"):
        # Eltwise cannot divide, and 1/rhs by Power then a product rounds twice
        raise ctx.error(
            f"dividing {lhs.shape} by {rhs.shape}: stock Caffe layers cannot divide tensors exactly "
            f"({_use_native('broadcast_div')})"
        )
    return _native_broadcast(ctx, "broadcast_div", lhs, rhs)


@converter("broadcast_div")
def convert_broadcast_divide(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _divide_by_constant)
    return _divide(ctx, *_operands(ctx))


@converter("elemwise_div", "_div", "_Div")
def convert_divide(ctx: NodeContext) -> Converted:
    lhs, rhs = _operands(ctx)
    if lhs.shape != rhs.shape:
        raise ctx.error(f"inputs have different shapes {[lhs.shape, rhs.shape]}")
    return _divide(ctx, lhs, rhs)


def _padded(shape: Shape, ndim: int) -> Shape:
    """`shape` with leading 1s up to `ndim` axes: MXNet aligns broadcast shapes on the right."""
    return (1,) * (ndim - len(shape)) + tuple(shape)


def _non_unit_span(shape: Shape) -> Optional[Tuple[int, int]]:
    """[start, stop) from the first to the last axis of `shape` that is not 1; None if none is."""
    kept = [i for i, dim in enumerate(shape) if dim != 1]
    return (kept[0], kept[-1] + 1) if kept else None


def _scale_span(ctx: NodeContext, big: Tensor, small: Tensor) -> Tuple[int, Shape]:
    """Where `small` lines up with `big` for a two-bottom Caffe Scale.

    Caffe multiplies bottom[0] by bottom[1] when bottom[1]'s shape equals
    bottom[0].shape[axis:axis + k]: `small` must be 1 outside one contiguous span of
    axes and equal to `big` inside it. Returns (axis, the span's dims).
    """
    padded = _padded(small.shape, len(big.shape))
    span = _non_unit_span(padded)
    if span is None:
        raise _unsupported_broadcast(ctx, "broadcast_mul", big, small, "multiplying by a single value")
    start, stop = span
    if padded[start:stop] != big.shape[start:stop]:
        raise _unsupported_broadcast(
            ctx, "broadcast_mul", big, small, "the smaller operand must match one contiguous span of the other's axes"
        )
    return start, big.shape[start:stop]


@converter("broadcast_mul")
def convert_broadcast_multiply(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _multiply_by_constant)
    lhs, rhs = _operands(ctx)
    if lhs.shape == rhs.shape:
        return _eltwise(ctx, (lhs, rhs), "PROD")
    if ctx.options.native("broadcast_mul"):
        return _native_broadcast(ctx, "broadcast_mul", lhs, rhs)
    out = _full_shape(ctx, lhs, rhs)
    # a product commutes: the full-size operand goes first whatever the order
    big, small = (lhs, rhs) if lhs.shape == out else (rhs, lhs)
    axis, dims = _scale_span(ctx, big, small)
    factor = ctx.layer_name("reshape")
    return Converted(
        layers=(
            ctx.layer(
                "Reshape", [small.blob], [factor], reshape_param(dims), suffix="reshape"
            ),
            ctx.layer("Scale", [big.blob, factor], [ctx.output_blob()], {"scale_param": {"axis": axis}}),
        ),
        outputs=(Tensor(ctx.output_blob(), out),),
    )


def _full_shape(ctx: NodeContext, lhs: Tensor, rhs: Tensor) -> Shape:
    """The broadcast result's shape, which one operand must have: no Caffe layer stretches both."""
    out = broadcast_shape(ctx, lhs.shape, rhs.shape)
    if out not in (lhs.shape, rhs.shape):
        raise ctx.error(
            f"broadcasting {lhs.shape} with {rhs.shape} stretches both operands: the Caffe forms need one "
            f"of them to have the result's shape {out}"
        )
    return out


def _native_broadcast(ctx: NodeContext, switch: str, lhs: Tensor, rhs: Tensor) -> Converted:
    """One native layer computing lhs op rhs in MXNet's operand order (caffe_layers/): either
    operand may be the stretched one, but both need the same rank, so a lower-rank operand is
    reshaped first (MXNet aligns shapes on the right)."""
    out = _full_shape(ctx, lhs, rhs)
    layers: List[Layer] = []
    bottoms: List[str] = []
    for tensor in (lhs, rhs):
        if len(tensor.shape) < len(out):
            padded = _padded(tensor.shape, len(out))
            reshape = ctx.layer(
                "Reshape", [tensor.blob], [ctx.layer_name("reshape")], reshape_param(padded), suffix="reshape"
            )
            layers.append(reshape)
            bottoms.append(layers[-1].tops[0])
        else:
            bottoms.append(tensor.blob)
    layers.append(ctx.layer(_NATIVE_TYPES[switch], bottoms, [ctx.output_blob()]))
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), out),))


# y = scale * x + shift (shift None: no bias term), from the constant c and its operand index
Affine = Tuple[np.ndarray, Optional[np.ndarray]]
AffineOfConstant = Callable[[NodeContext, np.ndarray, int], Affine]


def _constant_operand(ctx: NodeContext) -> Optional[int]:
    """The index of the operand that is a constant, None when both are computed."""
    constants = [index for index in (0, 1) if ctx.is_weight(index)]
    if len(constants) == 2:
        raise ctx.error(
            f"both operands, '{ctx.weight_name(0)}' and '{ctx.weight_name(1)}', are constants: "
            "there is no input to compute from"
        )
    return constants[0] if constants else None


def _add_constant(ctx: NodeContext, constant: np.ndarray, index: int) -> Affine:
    return np.ones_like(constant), constant


def _subtract_constant(ctx: NodeContext, constant: np.ndarray, index: int) -> Affine:
    # c - x when the constant is the left operand, x - c when it is the right one
    return (-np.ones_like(constant), constant) if index == 0 else (np.ones_like(constant), -constant)


def _multiply_by_constant(ctx: NodeContext, constant: np.ndarray, index: int) -> Affine:
    return constant, None


def _divide_by_constant(ctx: NodeContext, constant: np.ndarray, index: int) -> Affine:
    name = ctx.weight_name(index)
    if index == 0:
        raise ctx.error(
            f"dividing the constant '{name}' by a tensor: stock Caffe layers cannot divide by a tensor exactly"
        )
    if np.any(constant == 0):
        raise ctx.error(f"the constant divisor '{name}' holds a 0: division by zero")
    return 1.0 / constant, None  # x * (1 / c): one more float32 rounding than x / c


def _constant_affine(ctx: NodeContext, index: int, affine_of: AffineOfConstant) -> Converted:
    """x op c (or c op x) for the constant at input `index`: one Power layer for a single value,
    else a Scale layer whose weights span the constant's axes that are not 1 (Scale's axis and
    num_axes), the constant tiled along any axis of size 1 inside that span; a Scale that is not
    per channel gets a Reshape before it (see below)."""
    data = ctx.input(1 - index)
    constant = ctx.param(index).astype(np.float64)
    out = broadcast_shape(ctx, data.shape, constant.shape)
    if out != data.shape:
        raise ctx.error(
            f"the constant '{ctx.weight_name(index)}' {constant.shape} stretches the tensor {data.shape} "
            f"to {out}: a layer with weights keeps its input's shape"
        )
    scale, shift = affine_of(ctx, constant, index)
    if constant.size == 1:
        power = {"scale": float(scale.flat[0]), "shift": 0.0 if shift is None else float(shift.flat[0])}
        return ctx.single("Power", [data.blob], data.shape, {"power_param": power})
    padded = _padded(constant.shape, len(data.shape))
    span = _non_unit_span(padded)
    assert span is not None  # a constant of more than one value has an axis that is not 1
    start, stop = span
    dims = data.shape[start:stop]

    def weights(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(values.reshape(padded[start:stop]), dims), dtype=np.float32)

    params: Dict[str, Mapping[str, Any]] = {
        "scale_param": {"axis": start, "num_axes": stop - start, "bias_term": shift is not None}
    }
    blobs = [weights(scale)] + ([] if shift is None else [weights(shift)])
    if (start, stop) == (1, 2):
        return ctx.single("Scale", [data.blob], data.shape, params, blobs)
    # OpenCV DNN fuses a Scale that follows a Convolution into its weights as if the Scale were
    # per channel: other weights abort it, or give wrong values when their count happens to be
    # the channel count. A Reshape to the same shape in between keeps the two apart.
    unfused = ctx.layer_name("unfused")
    return Converted(
        layers=(
            ctx.layer("Reshape", [data.blob], [unfused], reshape_param(data.shape), suffix="unfused"),
            ctx.layer("Scale", [unfused], [ctx.output_blob()], params, blobs),
        ),
        outputs=(Tensor(ctx.output_blob(), data.shape),),
    )


def _scalar(ctx: NodeContext) -> float:
    ctx.attrs.str("is_int", None)  # how the scalar was typed; float data computes the same
    return ctx.attrs.float("scalar", 1.0)


def _power(ctx: NodeContext, scale: float = 1.0, shift: float = 0.0) -> Converted:
    """Caffe Power computes (shift + scale * x) ^ power; power stays 1."""
    data = ctx.input(0)
    return ctx.single("Power", [data.blob], data.shape, {"power_param": {"scale": scale, "shift": shift}})


@converter("_plus_scalar", "_PlusScalar")
def convert_plus_scalar(ctx: NodeContext) -> Converted:
    return _power(ctx, shift=_scalar(ctx))


@converter("_minus_scalar", "_MinusScalar")
def convert_minus_scalar(ctx: NodeContext) -> Converted:
    return _power(ctx, shift=-_scalar(ctx))


@converter("_rminus_scalar", "_RMinusScalar")
def convert_rminus_scalar(ctx: NodeContext) -> Converted:
    return _power(ctx, scale=-1.0, shift=_scalar(ctx))


@converter("_mul_scalar", "_MulScalar")
def convert_mul_scalar(ctx: NodeContext) -> Converted:
    return _power(ctx, scale=_scalar(ctx))


@converter("_div_scalar", "_DivScalar")
def convert_div_scalar(ctx: NodeContext) -> Converted:
    scalar = _scalar(ctx)
    if scalar == 0:
        raise ctx.error("division by the scalar 0")
    return _power(ctx, scale=1.0 / scalar)


def _max_with(ctx: NodeContext, blob: str, value: float, suffix: str) -> List[Layer]:
    """Layers computing max(blob, value) into the blob ctx.layer_name(suffix).

    There is no constant layer in stock Caffe: Power with scale 0 outputs its shift
    everywhere (Caffe does not even read the input), then Eltwise MAX takes the larger.
    Both are exact, unlike forms that add and subtract the bound.
    """
    top = ctx.layer_name(suffix)
    if value == 0:
        return [ctx.layer("ReLU", [blob], [top], suffix=suffix)]
    bound = f"{suffix}_bound"
    constant = ctx.layer_name(bound)
    return [
        ctx.layer("Power", [blob], [constant], {"power_param": {"scale": 0.0, "shift": value}}, suffix=bound),
        ctx.layer("Eltwise", [blob, constant], [top], {"eltwise_param": {"operation": "MAX"}}, suffix=suffix),
    ]


def _negate(ctx: NodeContext, blob: str, suffix: str) -> Layer:
    return ctx.layer("Power", [blob], [ctx.layer_name(suffix)], {"power_param": {"scale": -1.0}}, suffix=suffix)


@converter("clip")
def convert_clip(ctx: NodeContext) -> Converted:
    """clip(x, lo, hi) = -max(-max(x, lo), -hi): OpenCV DNN 4.11 has no Caffe Clip layer."""
    data = ctx.input(0)
    low = ctx.attrs.float("a_min")
    high = ctx.attrs.float("a_max")
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ctx.error(f"a_min {low} must not exceed a_max {high}")
    layers: List[Layer] = []
    blob = data.blob
    if low != -math.inf:
        layers += _max_with(ctx, blob, low, "lower")
        blob = layers[-1].tops[0]
    if high != math.inf:
        layers.append(_negate(ctx, blob, "negated"))
        layers += _max_with(ctx, layers[-1].tops[0], -high, "upper")
        layers.append(_negate(ctx, layers[-1].tops[0], "clipped"))
    if not layers:
        return ctx.alias(data)
    # the last layer is the node's own: its name and output blob are the node's
    layers[-1] = dataclasses.replace(layers[-1], name=ctx.name, tops=(ctx.output_blob(),))
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), data.shape),))

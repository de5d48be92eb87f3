"""Element-wise arithmetic, maximum/minimum and clip -> stock Caffe layers (Eltwise, Scale, Power,
ReLU, Exp, and Concat copies that broadcast), or, when asked for, the native MXBroadcast*
layers.

- Broadcasting: an operand of size 1 along axes of the result is stretched to the result's shape
  exactly (`_stretched`), then Eltwise combines tensors of equal shape. A product keeps the
  cheaper two-bottom Scale where the smaller operand lines up with a span of the other's axes.
- Division is x * (1/y): Power with power -1, then the product. One float rounding more than
  x / y: exact by the GUIDE's rule, and the default.
- min(a, b) = -max(-a, -b): Eltwise MAX between negations (Power, scale -1), which only flip a
  sign, so it is exact; clip, _maximum_scalar and _minimum_scalar are maxima with constants.
- A broadcast op with a constant operand (a variable whose value is in the params file, as
  gluoncv's exported mean/std and insightface-style graphs have) is an affine map of the other
  operand, y = scale * x + shift: one Scale layer holding the constant as weights, or one Power
  layer for a single value.

Helpers that build layers take a `suffix`: their last layer and its top are named
ctx.layer_name(suffix), which for the empty suffix is the node's own name and output blob.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..caffe.net import Layer, Shape, Tensor
from .context import Converted, NodeContext, reshape_param
from .registry import converter


def finished(ctx: NodeContext, layers: Sequence[Layer], shape: Shape) -> Converted:
    """A node whose last layer (named after the node) writes its one output, of `shape`."""
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), tuple(shape)),))


def _joined(suffix: str, part: str) -> str:
    """The suffix of a helper of the layer with `suffix` ('' is the node's own layer)."""
    return f"{suffix}_{part}" if suffix else part


def eltwise_layer(
    ctx: NodeContext, bottoms: Sequence[str], operation: str, suffix: str = "", coeff: Sequence[float] = ()
) -> Layer:
    params: Dict[str, Any] = {"operation": operation}
    if coeff:
        params["coeff"] = list(coeff)
    return ctx.layer("Eltwise", bottoms, [ctx.layer_name(suffix)], {"eltwise_param": params}, suffix=suffix)


def power_layer(
    ctx: NodeContext, bottom: str, suffix: str, power: float = 1.0, scale: float = 1.0, shift: float = 0.0
) -> Layer:
    """Caffe's Power: (shift + scale * x) ^ power; fields at their defaults are left out."""
    fields = (("power", power, 1.0), ("scale", scale, 1.0), ("shift", shift, 0.0))
    params = {key: value for key, value, default in fields if value != default}
    return ctx.layer("Power", [bottom], [ctx.layer_name(suffix)], {"power_param": params}, suffix=suffix)


def power(ctx: NodeContext, power: float = 1.0, scale: float = 1.0, shift: float = 0.0) -> Converted:
    """The node as one Power layer on its input."""
    data = ctx.input(0)
    return finished(ctx, [power_layer(ctx, data.blob, "", power, scale, shift)], data.shape)


def _eltwise(ctx: NodeContext, tensors: Sequence[Tensor], operation: str) -> Converted:
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ctx.error(f"inputs have different shapes {[t.shape for t in tensors]}")
    return finished(ctx, [eltwise_layer(ctx, [t.blob for t in tensors], operation)], tensors[0].shape)


def _operands(ctx: NodeContext) -> Tuple[Tensor, Tensor]:
    return ctx.input(0), ctx.input(1)


def _same_shapes(ctx: NodeContext) -> None:
    """The elemwise_* ops take operands of one shape (MXNet checks it; a hand-edited file may not)."""
    shapes = [tuple(ctx.param(i).shape) if ctx.is_weight(i) else ctx.input(i).shape for i in (0, 1)]
    if shapes[0] != shapes[1]:
        raise ctx.error(f"inputs have different shapes {shapes}")


@converter("ElementWiseSum", "add_n")
def convert_add_n(ctx: NodeContext) -> Converted:
    return _eltwise(ctx, [ctx.input(i) for i in range(ctx.attrs.int("num_args", minimum=1))], "SUM")


def broadcast_shape(ctx: NodeContext, lhs: Shape, rhs: Shape) -> Shape:
    """MXNet's (numpy's) broadcast: shapes aligned on the right, 1 stretches."""
    ndim = max(len(lhs), len(rhs))
    lhs = (1,) * (ndim - len(lhs)) + tuple(lhs)
    rhs = (1,) * (ndim - len(rhs)) + tuple(rhs)
    if any(left != right and 1 not in (left, right) for left, right in zip(lhs, rhs)):
        raise ctx.error(f"shapes {lhs} and {rhs} do not broadcast")
    return tuple(right if left == 1 else left for left, right in zip(lhs, rhs))


def _padded(shape: Shape, ndim: int) -> Shape:
    """`shape` with leading 1s up to `ndim` axes: MXNet aligns broadcast shapes on the right."""
    return (1,) * (ndim - len(shape)) + tuple(shape)


def _stretched(ctx: NodeContext, tensor: Tensor, out: Shape, name: str) -> Tuple[List[Layer], Tensor]:
    """`tensor` broadcast to `out` exactly, by layers whose suffixes start with `name`: a Reshape
    to out's rank if it has fewer axes, then per axis it is stretched along, a Concat of that
    many copies of it on that axis (Caffe and OpenCV take one bottom any number of times).
    Copies round nothing. (Caffe's Tile layer would do it, but OpenCV DNN 4.x cannot read it:
    it asks for a 'repeats' parameter.)"""
    layers: List[Layer] = []
    blob, shape = tensor.blob, list(_padded(tensor.shape, len(out)))
    if len(tensor.shape) < len(out):
        suffix = f"{name}_padded"
        layers.append(ctx.layer("Reshape", [blob], [ctx.layer_name(suffix)], reshape_param(shape), suffix=suffix))
        blob = layers[-1].tops[0]
    for axis, (dim, full) in enumerate(zip(shape, out)):
        if dim != full:
            suffix = f"{name}_axis{axis}"
            params = {"concat_param": {"axis": axis}}
            layers.append(ctx.layer("Concat", [blob] * full, [ctx.layer_name(suffix)], params, suffix=suffix))
            blob = layers[-1].tops[0]
    return layers, Tensor(blob, tuple(out))


def _combined(
    ctx: NodeContext, lhs: Tensor, rhs: Tensor, operation: str, suffix: str = "", coeff: Sequence[float] = ()
) -> Tuple[List[Layer], Shape]:
    """Eltwise `operation` of lhs and rhs, each stretched first to the broadcast result's shape
    if it is smaller; the layers, and that shape."""
    out = broadcast_shape(ctx, lhs.shape, rhs.shape)
    layers: List[Layer] = []
    bottoms = []
    for tensor, name in ((lhs, "lhs"), (rhs, "rhs")):
        if tensor.shape != out:
            stretch, tensor = _stretched(ctx, tensor, out, _joined(suffix, name))
            layers += stretch
        bottoms.append(tensor.blob)
    return layers + [eltwise_layer(ctx, bottoms, operation, suffix, coeff)], out


# switch of ConvertOptions -> the native layer it emits
_NATIVE_TYPES = {
    "broadcast_mul": "MXBroadcastMul",
    "broadcast_add": "MXBroadcastAdd",
    "broadcast_sub": "MXBroadcastSub",
    "broadcast_div": "MXBroadcastDiv",
}


def _full_shape(ctx: NodeContext, lhs: Tensor, rhs: Tensor) -> Shape:
    """The broadcast result's shape, which one operand must have for a native layer."""
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


def _broadcast_sum(ctx: NodeContext, switch: str, coeff: Sequence[float] = ()) -> Converted:
    lhs, rhs = _operands(ctx)
    if lhs.shape != rhs.shape and ctx.options.native(switch):
        return _native_broadcast(ctx, switch, lhs, rhs)
    layers, out = _combined(ctx, lhs, rhs, "SUM", coeff=coeff)
    return finished(ctx, layers, out)


@converter("broadcast_add", "broadcast_plus")
def convert_broadcast_add(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _add_constant)
    return _broadcast_sum(ctx, "broadcast_add")


@converter("elemwise_add", "_add", "_plus", "_Plus")
def convert_add(ctx: NodeContext) -> Converted:
    _same_shapes(ctx)
    return convert_broadcast_add(ctx)


@converter("broadcast_sub", "broadcast_minus")
def convert_broadcast_subtract(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _subtract_constant)
    return _broadcast_sum(ctx, "broadcast_sub", (1.0, -1.0))


@converter("elemwise_sub", "_sub", "_minus", "_Minus")
def convert_subtract(ctx: NodeContext) -> Converted:
    _same_shapes(ctx)
    return convert_broadcast_subtract(ctx)


def _non_unit_span(shape: Shape) -> Optional[Tuple[int, int]]:
    """[start, stop) from the first to the last axis of `shape` that is not 1; None if none is."""
    kept = [i for i, dim in enumerate(shape) if dim != 1]
    return (kept[0], kept[-1] + 1) if kept else None


def _scale_span(big: Tensor, small: Tensor) -> Optional[Tuple[int, Shape]]:
    """Where `small` lines up with `big` for a two-bottom Caffe Scale, if it does.

    Caffe multiplies bottom[0] by bottom[1] when bottom[1]'s shape equals
    bottom[0].shape[axis:axis + k]: `small` must be 1 outside one contiguous span of
    axes and equal to `big` inside it. Returns (axis, the span's dims).
    """
    padded = _padded(small.shape, len(big.shape))
    span = _non_unit_span(padded)
    if span is None or padded[span[0]:span[1]] != big.shape[span[0]:span[1]]:
        return None
    return span[0], big.shape[span[0]:span[1]]


def _product(ctx: NodeContext, lhs: Tensor, rhs: Tensor, before: Sequence[Layer] = ()) -> Converted:
    """lhs * rhs as the node's own layer, after the layers `before`: a two-bottom Scale when one
    operand has the result's shape and the other lines up with a span of its axes (no copy of
    the smaller one is made), else Eltwise PROD of the stretched operands."""
    out = broadcast_shape(ctx, lhs.shape, rhs.shape)
    layers = list(before)
    if lhs.shape != rhs.shape and out in (lhs.shape, rhs.shape):
        # a product commutes: the full-size operand goes first whatever the order
        big, small = (lhs, rhs) if lhs.shape == out else (rhs, lhs)
        span = _scale_span(big, small)
        if span is not None:
            axis, dims = span
            factor = small.blob
            if small.shape != dims:
                layers.append(ctx.layer("Reshape", [factor], [ctx.layer_name("reshape")], reshape_param(dims),
                                        suffix="reshape"))
                factor = layers[-1].tops[0]
            layers.append(ctx.layer("Scale", [big.blob, factor], [ctx.output_blob()], {"scale_param": {"axis": axis}}))
            return finished(ctx, layers, out)
    combined, out = _combined(ctx, lhs, rhs, "PROD")
    return finished(ctx, layers + combined, out)


@converter("broadcast_mul")
def convert_broadcast_multiply(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant is not None:
        return _constant_affine(ctx, constant, _multiply_by_constant)
    lhs, rhs = _operands(ctx)
    if lhs.shape != rhs.shape and ctx.options.native("broadcast_mul"):
        return _native_broadcast(ctx, "broadcast_mul", lhs, rhs)
    return _product(ctx, lhs, rhs)


@converter("elemwise_mul", "_mul", "_Mul")
def convert_multiply(ctx: NodeContext) -> Converted:
    _same_shapes(ctx)
    return convert_broadcast_multiply(ctx)


def _quotient(ctx: NodeContext, lhs: Tensor, rhs: Tensor) -> Converted:
    """lhs / rhs = lhs * rhs^-1 (the reciprocal taken before any stretching: fewer values)."""
    if ctx.options.native("broadcast_div"):
        return _native_broadcast(ctx, "broadcast_div", lhs, rhs)
    reciprocal = power_layer(ctx, rhs.blob, "reciprocal", power=-1.0)
    return _product(ctx, lhs, Tensor(reciprocal.tops[0], rhs.shape), [reciprocal])


@converter("broadcast_div")
def convert_broadcast_divide(ctx: NodeContext) -> Converted:
    constant = _constant_operand(ctx)
    if constant == 1:
        return _constant_affine(ctx, 1, _divide_by_constant)
    if constant == 0:
        return _constant_over_tensor(ctx)
    return _quotient(ctx, *_operands(ctx))


@converter("elemwise_div", "_div", "_Div")
def convert_divide(ctx: NodeContext) -> Converted:
    _same_shapes(ctx)
    return convert_broadcast_divide(ctx)


def _extremum(ctx: NodeContext, minimum: bool) -> Converted:
    """max(a, b): Eltwise MAX of the operands stretched to the result's shape; min(a, b) =
    -max(-a, -b). A constant operand becomes a tensor of the other operand's shape first
    (a Scale with weights 0 and the constant as bias, or a Power with scale 0)."""
    constant = _constant_operand(ctx)
    sign = -1.0 if minimum else 1.0
    operands = [ctx.input(1 - constant)] if constant is not None else list(_operands(ctx))
    names = ["lhs", "rhs"] if len(operands) == 2 else ["data"]
    layers: List[Layer] = []
    if minimum:
        for index, (tensor, name) in enumerate(zip(operands, names)):
            layers.append(negate(ctx, tensor.blob, f"{name}_negated"))
            operands[index] = Tensor(layers[-1].tops[0], tensor.shape)
    if constant is not None:
        data = operands[0]
        value = sign * ctx.param(constant).astype(np.float64)
        layers += _affine_layers(ctx, data, ctx.weight_name(constant), np.zeros_like(value), value, "bound")
        operands.append(Tensor(layers[-1].tops[0], data.shape))
    combined, out = _combined(ctx, operands[0], operands[1], "MAX", "max" if minimum else "")
    layers += combined
    if minimum:
        layers.append(negate(ctx, layers[-1].tops[0], ""))
    return finished(ctx, layers, out)


@converter("broadcast_maximum", "_maximum", "_Maximum")
def convert_maximum(ctx: NodeContext) -> Converted:
    return _extremum(ctx, minimum=False)


@converter("broadcast_minimum", "_minimum", "_Minimum")
def convert_minimum(ctx: NodeContext) -> Converted:
    return _extremum(ctx, minimum=True)


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
    if np.any(constant == 0):
        raise ctx.error(f"the constant divisor '{ctx.weight_name(index)}' holds a 0: division by zero")
    return 1.0 / constant, None  # x * (1 / c): one more float32 rounding than x / c


def _constant_affine(ctx: NodeContext, index: int, affine_of: AffineOfConstant) -> Converted:
    """x op c (or c op x) for the constant at input `index`."""
    data = ctx.input(1 - index)
    scale, shift = affine_of(ctx, ctx.param(index).astype(np.float64), index)
    return finished(ctx, _affine_layers(ctx, data, ctx.weight_name(index), scale, shift), data.shape)


def _constant_over_tensor(ctx: NodeContext) -> Converted:
    """c / x = c * x^-1: Power with power -1, then the constant's Scale; one Power for a single
    value (`_scaled_reciprocal`)."""
    data = ctx.input(1)
    constant = ctx.param(0).astype(np.float64)
    if constant.size == 1:
        _check_unstretched(ctx, data, ctx.weight_name(0), constant.shape)
        return _scaled_reciprocal(ctx, data, float(constant.flat[0]))
    reciprocal = power_layer(ctx, data.blob, "reciprocal", power=-1.0)
    inverse = Tensor(reciprocal.tops[0], data.shape)
    return finished(ctx, [reciprocal] + _affine_layers(ctx, inverse, ctx.weight_name(0), constant, None), data.shape)


def _check_unstretched(ctx: NodeContext, data: Tensor, name: str, shape: Shape) -> None:
    out = broadcast_shape(ctx, data.shape, shape)
    if out != data.shape:
        raise ctx.error(
            f"the constant '{name}' {shape} stretches the tensor {data.shape} "
            f"to {out}: a layer with weights keeps its input's shape"
        )


def _affine_layers(
    ctx: NodeContext, data: Tensor, name: str, scale: np.ndarray, shift: Optional[np.ndarray], suffix: str = ""
) -> List[Layer]:
    """scale * data + shift, where scale and shift have the shape of the constant `name`: one
    Power layer for a single value, else a Scale layer whose weights span the constant's axes
    that are not 1 (Scale's axis and num_axes), the constant tiled along any axis of size 1
    inside that span; a Scale that is not per channel gets a Reshape before it (see below)."""
    _check_unstretched(ctx, data, name, scale.shape)
    if scale.size == 1:
        offset = 0.0 if shift is None else float(shift.flat[0])
        # both fields written, scale 0 too: a bound (`_extremum`) is Power(scale 0, shift c)
        power = {"scale": float(scale.flat[0]), "shift": offset}
        top = ctx.layer_name(suffix)
        return [ctx.layer("Power", [data.blob], [top], {"power_param": power}, suffix=suffix)]
    padded = _padded(scale.shape, len(data.shape))
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
    top = ctx.layer_name(suffix)
    if (start, stop) == (1, 2):
        return [ctx.layer("Scale", [data.blob], [top], params, blobs, suffix=suffix)]
    # OpenCV DNN fuses a Scale that follows a Convolution into its weights as if the Scale were
    # per channel: other weights abort it, or give wrong values when their count happens to be
    # the channel count. A Reshape to the same shape in between keeps the two apart.
    unfused_suffix = _joined(suffix, "unfused")
    unfused = ctx.layer_name(unfused_suffix)
    return [
        ctx.layer("Reshape", [data.blob], [unfused], reshape_param(data.shape), suffix=unfused_suffix),
        ctx.layer("Scale", [unfused], [top], params, blobs, suffix=suffix),
    ]


def _scalar(ctx: NodeContext) -> float:
    ctx.attrs.str("is_int", None)  # how the scalar was typed; float data computes the same
    return ctx.attrs.float("scalar", 1.0)


@converter("_plus_scalar", "_PlusScalar")
def convert_plus_scalar(ctx: NodeContext) -> Converted:
    return power(ctx, shift=_scalar(ctx))


@converter("_minus_scalar", "_MinusScalar")
def convert_minus_scalar(ctx: NodeContext) -> Converted:
    return power(ctx, shift=-_scalar(ctx))


@converter("_rminus_scalar", "_RMinusScalar")
def convert_rminus_scalar(ctx: NodeContext) -> Converted:
    return power(ctx, scale=-1.0, shift=_scalar(ctx))


@converter("_mul_scalar", "_MulScalar")
def convert_mul_scalar(ctx: NodeContext) -> Converted:
    return power(ctx, scale=_scalar(ctx))


@converter("_div_scalar", "_DivScalar")
def convert_div_scalar(ctx: NodeContext) -> Converted:
    scalar = _scalar(ctx)
    if scalar == 0:
        raise ctx.error("division by the scalar 0")
    return power(ctx, scale=1.0 / scalar)


def _scaled_reciprocal(ctx: NodeContext, data: Tensor, numerator: float) -> Converted:
    """c / x = (x / c) ^ -1: one Power layer (power -1, scale 1/c), one rounding more than
    MXNet's c / x. Not a reciprocal and then a scaling Power: OpenCV DNN 4.11 fuses a scaling
    layer that follows a Power with power != 1 into the Power's inner scale, (c * x) ^ -1."""
    if numerator == 0:
        return finished(ctx, [power_layer(ctx, data.blob, "", scale=0.0)], data.shape)  # 0 / x
    inverse = 1.0 / numerator
    if not math.isfinite(np.float32(inverse)):
        raise ctx.error(f"dividing {numerator} by a tensor: 1 / {numerator} is beyond float32's range")
    return finished(ctx, [power_layer(ctx, data.blob, "", power=-1.0, scale=inverse)], data.shape)


@converter("_rdiv_scalar", "_RDivScalar")
def convert_rdiv_scalar(ctx: NodeContext) -> Converted:
    return _scaled_reciprocal(ctx, ctx.input(0), _scalar(ctx))


@converter("_power_scalar", "_PowerScalar")
def convert_power_scalar(ctx: NodeContext) -> Converted:
    return power(ctx, power=_scalar(ctx))


@converter("_rpower_scalar", "_RPowerScalar")
def convert_rpower_scalar(ctx: NodeContext) -> Converted:
    """c ^ x: Caffe's Exp with base c computes exp(x * ln c); a float32 rounding of x * ln c
    changes the result by |x ln c| * 2^-24 relative (6e-6 for |x ln c| = 100)."""
    base = _scalar(ctx)
    if not (base > 0 and math.isfinite(base)):
        raise ctx.error(f"base {base}: Caffe's Exp computes base ^ x as exp(x ln base), which needs a positive base")
    data = ctx.input(0)
    return ctx.single("Exp", [data.blob], data.shape, {"exp_param": {"base": base}})


def _max_with(ctx: NodeContext, blob: str, value: float, suffix: str) -> List[Layer]:
    """Layers computing max(blob, value) into the blob ctx.layer_name(suffix).

    There is no constant layer in stock Caffe: Power with scale 0 outputs its shift
    everywhere (Caffe does not even read the input; OpenCV computes 0 * x + shift, so the
    blob must be finite), then Eltwise MAX takes the larger. Both are exact, unlike forms
    that add and subtract the bound.
    """
    if value == 0:
        return [ctx.layer("ReLU", [blob], [ctx.layer_name(suffix)], suffix=suffix)]
    bound = power_layer(ctx, blob, _joined(suffix, "bound"), scale=0.0, shift=value)
    return [bound, eltwise_layer(ctx, [blob, bound.tops[0]], "MAX", suffix)]


def negate(ctx: NodeContext, blob: str, suffix: str) -> Layer:
    return power_layer(ctx, blob, suffix, scale=-1.0)


def clip_layers(ctx: NodeContext, blob: str, low: float, high: float) -> List[Layer]:
    """clip(blob, low, high) = -max(-max(blob, low), -high), the last layer the node's own;
    no layer when both bounds are infinite. OpenCV DNN 4.11 has no Caffe Clip layer."""
    layers: List[Layer] = []
    if low != -math.inf:
        layers += _max_with(ctx, blob, low, "lower" if high != math.inf else "")
        blob = layers[-1].tops[0]
    if high != math.inf:
        layers.append(negate(ctx, blob, "negated"))
        layers += _max_with(ctx, layers[-1].tops[0], -high, "upper")
        layers.append(negate(ctx, layers[-1].tops[0], ""))
    return layers


def _clipped(ctx: NodeContext, low: float, high: float) -> Converted:
    data = ctx.input(0)
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ctx.error(f"a_min {low} must not exceed a_max {high}")
    layers = clip_layers(ctx, data.blob, low, high)
    return finished(ctx, layers, data.shape) if layers else ctx.alias(data)


@converter("clip")
def convert_clip(ctx: NodeContext) -> Converted:
    return _clipped(ctx, ctx.attrs.float("a_min"), ctx.attrs.float("a_max"))


def _bound(ctx: NodeContext) -> float:
    scalar = _scalar(ctx)
    if math.isnan(scalar):
        raise ctx.error("the scalar is nan: every output would be nan")
    return scalar


@converter("_maximum_scalar", "_MaximumScalar")
def convert_maximum_scalar(ctx: NodeContext) -> Converted:
    """max(x, c): ReLU for c = 0 (ReLU6's first half), else a constant and Eltwise MAX."""
    return _clipped(ctx, _bound(ctx), math.inf)


@converter("_minimum_scalar", "_MinimumScalar")
def convert_minimum_scalar(ctx: NodeContext) -> Converted:
    """min(x, c) = -max(-x, -c): four layers (three for c = 0), all exact."""
    return _clipped(ctx, -math.inf, _bound(ctx))

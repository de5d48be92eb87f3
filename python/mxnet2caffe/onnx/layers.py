"""Caffe layer type -> the ONNX nodes computing it, with Caffe's semantics and field defaults.

Each emitter reads the layer's params (our caffe.proto field names, only the fields set) and its
float32 blobs, adds nodes and initializers through the GraphBuilder and defines every top with its
shape. Ops come from tensorrt.TENSORRT_OPS only.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Tuple

import numpy as np

from ..caffe.net import Layer, Shape
from ..caffe.sizes import pooling_output_size
from ..caffe.user_layers import user_layer
from ..errors import ConversionError
from ..plugins import exception_summary
from .builder import GraphBuilder

Emitter = Callable[[GraphBuilder, Layer], None]
EMITTERS: Dict[str, Emitter] = {}


def emits(*types: str) -> Callable[[Emitter], Emitter]:
    def register(function: Emitter) -> Emitter:
        for type_ in types:
            if type_ in EMITTERS:
                raise ValueError(f"Caffe layer type {type_} registered twice")
            EMITTERS[type_] = function
        return function

    return register


def layer_error(layer: Layer, message: str) -> ConversionError:
    return ConversionError(f"layer '{layer.name}' (type {layer.type}): {message}")


def _param(layer: Layer, field: str) -> Mapping[str, Any]:
    return layer.params.get(field, {})


def _pair(param: Mapping[str, Any], name: str, default: int) -> Tuple[int, int]:
    """A per-axis value from NAME_h/NAME_w, else NAME (one value, or one per axis; Convolution's
    are repeated fields, Pooling's single), else the default."""
    if f"{name}_h" in param or f"{name}_w" in param:
        return int(param.get(f"{name}_h", default)), int(param.get(f"{name}_w", default))
    values = param.get(name, [])
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        return default, default
    return (int(values[0]), int(values[-1]))


def _axis(layer: Layer, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise layer_error(layer, f"axis {axis} is out of range for a {rank}-d bottom")
    return axis % rank


def _unary(b: GraphBuilder, layer: Layer, op: str, **attrs: Any) -> None:
    shape = b.shape(layer.bottoms[0])
    b.node(op, [b.value(layer.bottoms[0])], b.define(layer.tops[0], shape), shape, **attrs)


# --- activations and neurons ---------------------------------------------------------------


@emits("ReLU")
def emit_relu(b: GraphBuilder, layer: Layer) -> None:
    slope = float(_param(layer, "relu_param").get("negative_slope", 0.0))
    if slope:
        _unary(b, layer, "LeakyRelu", alpha=slope)
    else:
        _unary(b, layer, "Relu")


_NEURONS = {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "BNLL": "Softplus"}


@emits(*_NEURONS)
def emit_neuron(b: GraphBuilder, layer: Layer) -> None:
    _unary(b, layer, _NEURONS[layer.type])


@emits("ELU")
def emit_elu(b: GraphBuilder, layer: Layer) -> None:
    _unary(b, layer, "Elu", alpha=float(_param(layer, "elu_param").get("alpha", 1.0)))


@emits("PReLU")
def emit_prelu(b: GraphBuilder, layer: Layer) -> None:
    """Caffe's slopes are per channel (axis 1): shaped (C, 1, ...) to broadcast there, not on the
    last axis (where (C,) would go)."""
    shape = b.shape(layer.bottoms[0])
    slopes = layer.blobs[0]
    if not _param(layer, "prelu_param").get("channel_shared", False):
        slopes = slopes.reshape((-1,) + (1,) * (len(shape) - 2))
    slope = b.constant(f"{layer.name}/slope", slopes)
    b.node("PRelu", [b.value(layer.bottoms[0]), slope], b.define(layer.tops[0], shape), shape)


def _affine(b: GraphBuilder, layer: Layer, value: str, shape: Shape, scale: float, shift: float, tag: str) -> str:
    """scale * value + shift, skipping a factor 1 and a term 0."""
    if scale != 1.0:
        value = b.step("Mul", [value, b.constant(f"{layer.name}/{tag}scale", np.float32(scale))], layer.name, shape)
    if shift != 0.0:
        value = b.step("Add", [value, b.constant(f"{layer.name}/{tag}shift", np.float32(shift))], layer.name, shape)
    return value


def _finish(b: GraphBuilder, layer: Layer, value: str, shape: Shape) -> None:
    """Defines the layer's top as `value` (an Identity when no node was needed)."""
    b.node("Identity", [value], b.define(layer.tops[0], shape), shape)


_POWER_DEFAULTS = (("power", 1.0), ("scale", 1.0), ("shift", 0.0))


@emits("Power")
def emit_power(b: GraphBuilder, layer: Layer) -> None:
    """y = (shift + scale * x) ^ power; with scale 0 Caffe fills the constant (1 for power 0)."""
    param = _param(layer, "power_param")
    power, scale, shift = (float(param.get(key, default)) for key, default in _POWER_DEFAULTS)
    shape = b.shape(layer.bottoms[0])
    bottom = b.value(layer.bottoms[0])
    if scale == 0.0:
        filled = b.constant(f"{layer.name}/value", np.float32(1.0 if power == 0 else shift**power))
        extent = b.step("Shape", [bottom], f"{layer.name}/extent", (len(shape),))
        b.integer_values.add(extent)
        b.node("Expand", [filled, extent], b.define(layer.tops[0], shape), shape)
        return
    value = _affine(b, layer, bottom, shape, scale, shift, "")
    if power != 1.0:
        value = b.step("Pow", [value, b.constant(f"{layer.name}/power", np.float32(power))], layer.name, shape)
    _finish(b, layer, value, shape)


@emits("Exp")
def emit_exp(b: GraphBuilder, layer: Layer) -> None:
    """y = base ^ (shift + scale * x) = exp(ln(base) * (shift + scale * x)); base -1 means e."""
    param = _param(layer, "exp_param")
    base, scale, shift = (float(param.get(key, default)) for key, default in (("base", -1), ("scale", 1), ("shift", 0)))
    log_base = 1.0 if base == -1.0 else math.log(base)
    shape = b.shape(layer.bottoms[0])
    inner = _affine(b, layer, b.value(layer.bottoms[0]), shape, scale * log_base, shift * log_base, "")
    b.node("Exp", [inner], b.define(layer.tops[0], shape), shape)


@emits("Log")
def emit_log(b: GraphBuilder, layer: Layer) -> None:
    """y = log_base(shift + scale * x) = ln(shift + scale * x) / ln(base); base -1 means e."""
    param = _param(layer, "log_param")
    base, scale, shift = (float(param.get(key, default)) for key, default in (("base", -1), ("scale", 1), ("shift", 0)))
    shape = b.shape(layer.bottoms[0])
    inner = _affine(b, layer, b.value(layer.bottoms[0]), shape, scale, shift, "")
    natural = b.step("Log", [inner], f"{layer.name}/ln", shape)
    rebased = _affine(b, layer, natural, shape, 1.0 if base == -1.0 else 1.0 / math.log(base), 0.0, "base_")
    _finish(b, layer, rebased, shape)


@emits("Softmax")
def emit_softmax(b: GraphBuilder, layer: Layer) -> None:
    """Opset 13's Softmax normalizes one axis, as Caffe's does."""
    shape = b.shape(layer.bottoms[0])
    _unary(b, layer, "Softmax", axis=_axis(layer, int(_param(layer, "softmax_param").get("axis", 1)), len(shape)))


# --- convolution and pooling ---------------------------------------------------------------


def _conv_geometry(layer: Layer) -> Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int], Tuple[int, int], int]:
    param = _param(layer, "convolution_param")
    if param.get("axis", 1) != 1:
        raise layer_error(layer, "only convolution over axis 1 (channels) is supported")
    kernel = _pair(param, "kernel", 0) if "kernel_h" in param else _pair(param, "kernel_size", 0)
    stride, pad, dilation = _pair(param, "stride", 1), _pair(param, "pad", 0), _pair(param, "dilation", 1)
    return kernel, stride, pad, dilation, int(param.get("group", 1))


def _conv_inputs(b: GraphBuilder, layer: Layer) -> List[str]:
    inputs = [b.value(layer.bottoms[0]), b.constant(f"{layer.name}/weight", layer.blobs[0])]
    if _param(layer, "convolution_param").get("bias_term", True):
        inputs.append(b.constant(f"{layer.name}/bias", layer.blobs[1]))
    return inputs


@emits("Convolution")
def emit_convolution(b: GraphBuilder, layer: Layer) -> None:
    kernel, stride, pad, dilation, group = _conv_geometry(layer)
    n, _, height, width = b.shape(layer.bottoms[0])
    axes = zip((height, width), kernel, stride, pad, dilation)
    size = [(s + 2 * p - d * (k - 1) - 1) // t + 1 for s, k, t, p, d in axes]
    shape = (n, layer.blobs[0].shape[0], *size)
    b.node(
        "Conv", _conv_inputs(b, layer), b.define(layer.tops[0], shape), shape,
        kernel_shape=list(kernel), strides=list(stride), pads=[pad[0], pad[1], pad[0], pad[1]],
        dilations=list(dilation), group=group,
    )


@emits("Deconvolution")
def emit_deconvolution(b: GraphBuilder, layer: Layer) -> None:
    """Caffe's weights (C_in, C_out / group, kh, kw) are ConvTranspose's layout."""
    kernel, stride, pad, dilation, group = _conv_geometry(layer)
    n, _, height, width = b.shape(layer.bottoms[0])
    axes = zip((height, width), kernel, stride, pad, dilation)
    size = [t * (s - 1) + d * (k - 1) + 1 - 2 * p for s, k, t, p, d in axes]
    shape = (n, layer.blobs[0].shape[1] * group, *size)
    b.node(
        "ConvTranspose", _conv_inputs(b, layer), b.define(layer.tops[0], shape), shape,
        kernel_shape=list(kernel), strides=list(stride), pads=[pad[0], pad[1], pad[0], pad[1]],
        dilations=list(dilation), group=group,
    )


def _window_divisors(size: int, kernel: int, stride: int, pad: int, count: int) -> np.ndarray:
    """Caffe AVE's divisor per output position: the window clipped to the padded input's end."""
    starts = np.arange(count) * stride - pad
    return np.minimum(starts + kernel, size + pad) - starts


@emits("Pooling")
def emit_pooling(b: GraphBuilder, layer: Layer) -> None:
    """MAX/AVE with Caffe's output size (rounded up, ceil_mode: false rounds down) as explicit
    trailing pads. AVE divides by the window clipped to the padded input, so the windows that
    ceil adds beyond it are corrected by a constant factor per position (exact up to one rounding)."""
    param = _param(layer, "pooling_param")
    method = param.get("pool", "MAX")
    if method not in ("MAX", "AVE"):
        raise layer_error(layer, f"pool {method} has no ONNX form")
    shape = b.shape(layer.bottoms[0])
    if len(shape) != 4:
        raise layer_error(layer, f"only 4-d pooling is supported, the bottom is {shape}")
    n, c, height, width = shape
    bottom = b.value(layer.bottoms[0])
    if param.get("global_pooling", False):
        single = (n, c, 1, 1)
        op = "GlobalMaxPool" if method == "MAX" else "GlobalAveragePool"
        b.node(op, [bottom], b.define(layer.tops[0], single), single)
        return
    kernel = _pair(param, "kernel", 0) if "kernel_h" in param else _pair(param, "kernel_size", 0)
    stride, pad = _pair(param, "stride", 1), _pair(param, "pad", 0)
    rounds_up = param.get("ceil_mode", True)
    sizes = (height, width)
    if rounds_up:
        counts = [pooling_output_size(*axis) for axis in zip(sizes, kernel, stride, pad)]
    else:
        counts = [(s + 2 * p - k) // t + 1 for s, k, t, p in zip(sizes, kernel, stride, pad)]
    if any((o - 1) * t - p >= s for s, t, p, o in zip(sizes, stride, pad, counts)):
        raise layer_error(layer, f"its last window starts past the {sizes} input: Caffe pools nothing there")
    tails = [max(0, (o - 1) * t + k - s - p) for s, k, t, p, o in zip(sizes, kernel, stride, pad, counts)]
    out = (n, c, *counts)
    pads = [pad[0], pad[1], tails[0], tails[1]]
    attrs: Dict[str, Any] = dict(kernel_shape=list(kernel), strides=list(stride), pads=pads)
    if method == "MAX":
        b.node("MaxPool", [bottom], b.define(layer.tops[0], out), out, **attrs)
        return
    divisors = [_window_divisors(*axis) for axis in zip(sizes, kernel, stride, pad, counts)]
    correction = np.outer(kernel[0] / divisors[0], kernel[1] / divisors[1])
    if np.all(correction == 1.0):
        b.node("AveragePool", [bottom], b.define(layer.tops[0], out), out, count_include_pad=1, **attrs)
        return
    pooled = b.step("AveragePool", [bottom], f"{layer.name}/window_mean", out, count_include_pad=1, **attrs)
    factor = b.constant(f"{layer.name}/divisor_correction", correction)
    b.node("Mul", [pooled, factor], b.define(layer.tops[0], out), out)


@emits("LRN")
def emit_lrn(b: GraphBuilder, layer: Layer) -> None:
    """ACROSS_CHANNELS: x / (k + alpha / n * sum of squares) ^ beta, ONNX LRN's formula."""
    param = _param(layer, "lrn_param")
    if param.get("norm_region", "ACROSS_CHANNELS") != "ACROSS_CHANNELS":
        raise layer_error(layer, "norm_region WITHIN_CHANNEL has no ONNX LRN form")
    _unary(
        b, layer, "LRN", size=int(param.get("local_size", 5)), alpha=float(param.get("alpha", 1.0)),
        beta=float(param.get("beta", 0.75)), bias=float(param.get("k", 1.0)),
    )


@emits("MVN")
def emit_mvn(b: GraphBuilder, layer: Layer) -> None:
    """x - mean over each (N, C) plane (or each N with across_channels), divided by std + eps if
    normalize_variance, as Caffe computes it."""
    param = _param(layer, "mvn_param")
    shape = b.shape(layer.bottoms[0])
    axes = list(range(1 if param.get("across_channels", False) else 2, len(shape)))
    reduced = tuple(1 if axis in axes else size for axis, size in enumerate(shape))
    bottom = b.value(layer.bottoms[0])
    mean = b.step("ReduceMean", [bottom], f"{layer.name}/mean", reduced, axes=axes, keepdims=1)
    if not param.get("normalize_variance", True):
        b.node("Sub", [bottom, mean], b.define(layer.tops[0], shape), shape)
        return
    centered = b.step("Sub", [bottom, mean], f"{layer.name}/centered", shape)
    squares = b.step("Mul", [centered, centered], f"{layer.name}/squares", shape)
    variance = b.step("ReduceMean", [squares], f"{layer.name}/variance", reduced, axes=axes, keepdims=1)
    std = b.step("Sqrt", [variance], f"{layer.name}/std", reduced)
    eps = b.constant(f"{layer.name}/eps", np.float32(param.get("eps", 1e-9)))
    divisor = b.step("Add", [std, eps], f"{layer.name}/divisor", reduced)
    b.node("Div", [centered, divisor], b.define(layer.tops[0], shape), shape)


# --- affine layers ---------------------------------------------------------------------------


@emits("InnerProduct")
def emit_inner_product(b: GraphBuilder, layer: Layer) -> None:
    """Flatten from `axis` to a matrix, Gemm, and back to the leading axes if there are several."""
    param = _param(layer, "inner_product_param")
    shape = b.shape(layer.bottoms[0])
    axis = _axis(layer, int(param.get("axis", 1)), len(shape))
    rows, features = int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))
    weight = layer.blobs[0]
    outputs = weight.shape[1] if param.get("transpose", False) else weight.shape[0]
    out = (*shape[:axis], outputs)
    value = b.value(layer.bottoms[0])
    if axis != 1 or len(shape) != 2:
        value = b.step("Flatten", [value], f"{layer.name}/matrix", (rows, features), axis=axis)
    inputs = [value, b.constant(f"{layer.name}/weight", weight)]
    if param.get("bias_term", True):
        inputs.append(b.constant(f"{layer.name}/bias", layer.blobs[1]))
    transposed = 0 if param.get("transpose", False) else 1
    if axis == 1:
        b.node("Gemm", inputs, b.define(layer.tops[0], out), out, transB=transposed)
        return
    product = b.step("Gemm", inputs, f"{layer.name}/product", (rows, outputs), transB=transposed)
    b.reshape(product, out, b.define(layer.tops[0], out), layer.name)


@emits("BatchNorm")
def emit_batch_norm(b: GraphBuilder, layer: Layer) -> None:
    """(x - mean / sf) / sqrt(var / sf + eps) on axis 1, the stored statistics divided by the
    scale factor blob as Caffe does; gamma and beta live in the Scale after it."""
    param = _param(layer, "batch_norm_param")
    if not param.get("use_global_stats", True):
        raise layer_error(layer, "use_global_stats: false normalizes with the batch's own statistics")
    shape = b.shape(layer.bottoms[0])
    mean, var, factor = layer.blobs[:3]
    scale = 0.0 if float(factor[0]) == 0.0 else 1.0 / float(factor[0])  # Caffe's rule for a zero factor
    channels = mean.shape[0]
    inputs = [
        b.value(layer.bottoms[0]),
        b.constant(f"{layer.name}/gamma", np.ones(channels)),
        b.constant(f"{layer.name}/beta", np.zeros(channels)),
        b.constant(f"{layer.name}/mean", mean * np.float32(scale)),
        b.constant(f"{layer.name}/var", var * np.float32(scale)),
    ]
    eps = float(param.get("eps", 1e-5))
    b.node("BatchNormalization", inputs, b.define(layer.tops[0], shape), shape, epsilon=eps)


def _trailing_ones(array: np.ndarray, axes_after: int) -> np.ndarray:
    """A weight reshaped to broadcast from its own axis: ONNX aligns shapes on the right."""
    return array.reshape(array.shape + (1,) * axes_after)


@emits("Scale")
def emit_scale(b: GraphBuilder, layer: Layer) -> None:
    """x * w (+ bias), w spanning the bottom's axes [axis, axis + num_axes) (one bottom: a blob;
    two bottoms: the second bottom, whose shape is that span)."""
    param = _param(layer, "scale_param")
    shape = b.shape(layer.bottoms[0])
    axis = _axis(layer, int(param.get("axis", 1)), len(shape)) if shape else 0
    value = b.value(layer.bottoms[0])
    blobs = list(layer.blobs)
    if len(layer.bottoms) == 2:
        span_shape = b.shape(layer.bottoms[1])
        span = len(span_shape)
        view = span_shape + (1,) * (len(shape) - axis - span)
        factor = b.value(layer.bottoms[1])
        if view != span_shape:
            factor = b.reshape(factor, view, b.fresh(f"{layer.name}/factor"), layer.name, batched=axis == 0)
    else:
        num_axes = int(param.get("num_axes", 1))
        span = len(shape) - axis if num_axes == -1 else num_axes
        weights = blobs.pop(0)
        span_shape = weights.shape
        if b.dynamic_batch and axis == 0 and span and span_shape[0] != 1:
            raise layer_error(layer, "weights along the batch axis cannot have a dynamic batch")
        factor = b.constant(f"{layer.name}/scale", _trailing_ones(weights, len(shape) - axis - span))
    if shape[axis : axis + span] != tuple(span_shape):
        raise layer_error(layer, f"scale of shape {tuple(span_shape)} does not fit bottom {shape} at axis {axis}")
    if not param.get("bias_term", False):
        b.node("Mul", [value, factor], b.define(layer.tops[0], shape), shape)
        return
    scaled = b.step("Mul", [value, factor], f"{layer.name}/scaled", shape)
    bias = b.constant(f"{layer.name}/bias", _trailing_ones(blobs[0], len(shape) - axis - span))
    b.node("Add", [scaled, bias], b.define(layer.tops[0], shape), shape)


@emits("Eltwise")
def emit_eltwise(b: GraphBuilder, layer: Layer) -> None:
    param = _param(layer, "eltwise_param")
    operation = param.get("operation", "SUM")
    shape = b.shape(layer.bottoms[0])
    values = [b.value(bottom) for bottom in layer.bottoms]
    if any(b.shapes[value] != shape for value in values):
        raise layer_error(layer, "Eltwise needs bottoms of one shape")
    if operation == "MAX":
        b.node("Max", values, b.define(layer.tops[0], shape), shape)
        return
    coeffs = [float(c) for c in param.get("coeff", [])] or [1.0] * len(values)
    if len(coeffs) != len(values):
        raise layer_error(layer, f"{len(coeffs)} coefficients for {len(values)} bottoms")
    if operation == "SUM":
        values = [
            _affine(b, layer, value, shape, coeff, 0.0, f"coeff{index}_")
            for index, (value, coeff) in enumerate(zip(values, coeffs))
        ]
    elif operation != "PROD":
        raise layer_error(layer, f"operation {operation} has no ONNX form")
    op = "Add" if operation == "SUM" else "Mul"
    total = values[0]
    for index, value in enumerate(values[1:], start=2):
        last = index == len(values)
        total = b.node(op, [total, value], b.define(layer.tops[0], shape) if last else b.fresh(layer.name), shape)
    if len(values) == 1:
        _finish(b, layer, total, shape)


_BROADCASTS = {"MXBroadcastMul": "Mul", "MXBroadcastAdd": "Add", "MXBroadcastSub": "Sub", "MXBroadcastDiv": "Div"}


@emits(*_BROADCASTS)
def emit_broadcast(b: GraphBuilder, layer: Layer) -> None:
    """Our native layers: MXNet's broadcasting (axes of size 1 stretch) is ONNX's."""
    shapes = [b.shape(bottom) for bottom in layer.bottoms]
    shape = tuple(int(size) for size in np.broadcast_shapes(*shapes))
    values = [b.value(bottom) for bottom in layer.bottoms]
    b.node(_BROADCASTS[layer.type], values, b.define(layer.tops[0], shape), shape)


# --- shapes ------------------------------------------------------------------------------------


def _caffe_reshape(layer: Layer, shape: Shape) -> Shape:
    """ReshapeParameter applied to `shape`: dims replace axes [axis, axis + num_axes); 0 copies
    the bottom's axis, -1 is inferred."""
    param = _param(layer, "reshape_param")
    dims = [int(d) for d in param.get("shape", {}).get("dim", [])]
    axis = int(param.get("axis", 0))
    start = axis if axis >= 0 else len(shape) + axis + 1
    num_axes = int(param.get("num_axes", -1))
    stop = len(shape) if num_axes == -1 else start + num_axes
    middle = [shape[start + i] if d == 0 else d for i, d in enumerate(dims)]
    if -1 in middle:
        known = int(np.prod([d for d in middle if d != -1])) * int(np.prod(shape[:start])) * int(np.prod(shape[stop:]))
        middle[middle.index(-1)] = int(np.prod(shape)) // known
    out = (*shape[:start], *middle, *shape[stop:])
    if int(np.prod(out)) != int(np.prod(shape)):
        raise layer_error(layer, f"cannot reshape {shape} to {out}")
    return tuple(out)


@emits("Reshape")
def emit_reshape(b: GraphBuilder, layer: Layer) -> None:
    out = _caffe_reshape(layer, b.shape(layer.bottoms[0]))
    b.reshape(b.value(layer.bottoms[0]), out, b.define(layer.tops[0], out), layer.name)


@emits("Flatten")
def emit_flatten(b: GraphBuilder, layer: Layer) -> None:
    param = _param(layer, "flatten_param")
    shape = b.shape(layer.bottoms[0])
    start = _axis(layer, int(param.get("axis", 1)), len(shape))
    stop = _axis(layer, int(param.get("end_axis", -1)), len(shape)) + 1
    out = (*shape[:start], int(np.prod(shape[start:stop])), *shape[stop:])
    if start == 1 and stop == len(shape):
        b.node("Flatten", [b.value(layer.bottoms[0])], b.define(layer.tops[0], out), out, axis=1)
    else:
        b.reshape(b.value(layer.bottoms[0]), out, b.define(layer.tops[0], out), layer.name)


@emits("Concat")
def emit_concat(b: GraphBuilder, layer: Layer) -> None:
    param = _param(layer, "concat_param")
    shapes = [b.shape(bottom) for bottom in layer.bottoms]
    axis = _axis(layer, int(param.get("axis", param.get("concat_dim", 1))), len(shapes[0]))
    out = (*shapes[0][:axis], sum(shape[axis] for shape in shapes), *shapes[0][axis + 1 :])
    b.node("Concat", [b.value(bottom) for bottom in layer.bottoms], b.define(layer.tops[0], out), out, axis=axis)


@emits("Slice")
def emit_slice(b: GraphBuilder, layer: Layer) -> None:
    """Parts between the slice points (or equal parts) along `axis`: one Split."""
    param = _param(layer, "slice_param")
    shape = b.shape(layer.bottoms[0])
    axis = _axis(layer, int(param.get("axis", param.get("slice_dim", 1))), len(shape))
    count = len(layer.tops)
    points = [int(p) for p in param.get("slice_point", [])]
    if points:
        bounds = [0, *points, shape[axis]]
        sizes = [stop - start for start, stop in zip(bounds, bounds[1:])]
    elif shape[axis] % count == 0:
        sizes = [shape[axis] // count] * count
    else:
        raise layer_error(layer, f"axis {axis} of size {shape[axis]} does not split into {count} equal parts")
    if len(sizes) != count or min(sizes) <= 0:
        raise layer_error(layer, f"slice points {points} do not give {count} parts of axis {axis} (size {shape[axis]})")
    parts = [(*shape[:axis], size, *shape[axis + 1 :]) for size in sizes]
    if count == 1:
        b.node("Identity", [b.value(layer.bottoms[0])], b.define(layer.tops[0], parts[0]), parts[0])
        return
    tops = [b.define(top, part) for top, part in zip(layer.tops, parts)]
    split = b.ints(f"{layer.name}/split", sizes)
    b.nodes.append(b.helper.make_node("Split", [b.value(layer.bottoms[0]), split], tops, name=tops[0], axis=axis))


@emits("Split")
def emit_split(b: GraphBuilder, layer: Layer) -> None:
    """Caffe's Split copies its bottom to every top."""
    shape = b.shape(layer.bottoms[0])
    for top in layer.tops:
        b.node("Identity", [b.value(layer.bottoms[0])], b.define(top, shape), shape)


@emits("Crop")
def emit_crop(b: GraphBuilder, layer: Layer) -> None:
    """Bottom 0 cut to bottom 1's shape from `axis` on, starting at the offsets (one for all axes)."""
    param = _param(layer, "crop_param")
    shape, reference = b.shape(layer.bottoms[0]), b.shape(layer.bottoms[1])
    axis = _axis(layer, int(param.get("axis", 2)), len(shape))
    axes = list(range(axis, len(shape)))
    offsets = [int(o) for o in param.get("offset", [])] or [0]
    offsets = offsets * len(axes) if len(offsets) == 1 else offsets
    if len(offsets) != len(axes):
        raise layer_error(layer, f"{len(offsets)} offsets for {len(axes)} cropped axes")
    if axis == 0 and b.dynamic_batch:
        raise layer_error(layer, "a crop of the batch axis cannot have a dynamic batch")
    out = (*shape[:axis], *reference[axis:])
    if any(o + size > full for o, size, full in zip(offsets, out[axis:], shape[axis:])):
        raise layer_error(layer, f"offsets {offsets} with size {out} exceed bottom {shape}")
    starts = b.ints(f"{layer.name}/starts", offsets)
    ends = b.ints(f"{layer.name}/ends", [o + size for o, size in zip(offsets, out[axis:])])
    inputs = [b.value(layer.bottoms[0]), starts, ends, b.ints(f"{layer.name}/axes", axes)]
    b.node("Slice", inputs, b.define(layer.tops[0], out), out)


@emits("MXTranspose")
def emit_transpose(b: GraphBuilder, layer: Layer) -> None:
    """Our native transpose: the permutation is its reshape_param's dims."""
    perm = [int(d) for d in _param(layer, "reshape_param").get("shape", {}).get("dim", [])]
    shape = b.shape(layer.bottoms[0])
    if sorted(perm) != list(range(len(shape))):
        raise layer_error(layer, f"{perm} is not a permutation of the bottom's {len(shape)} axes")
    if b.dynamic_batch and perm[0] != 0:
        raise layer_error(layer, "a dynamic batch needs the batch to stay on axis 0")
    out = tuple(shape[axis] for axis in perm)
    b.node("Transpose", [b.value(layer.bottoms[0])], b.define(layer.tops[0], out), out, perm=perm)


def emit_layer(b: GraphBuilder, layer: Layer) -> None:
    emitter = EMITTERS.get(layer.type)
    if emitter is not None:
        emitter(b, layer)
        return
    declared = user_layer(layer.type)
    if declared is None:
        supported = ", ".join(sorted(EMITTERS))
        hint = "a plugin's type needs the plugin: --plugin"
        raise layer_error(layer, f"no ONNX form for this layer type (supported: {supported}; {hint})")
    if declared.onnx is None:
        raise layer_error(layer, f"plugin '{declared.plugin}' declares this layer type without an ONNX form")
    try:
        declared.onnx(b, layer)
    except ConversionError:
        raise
    except Exception as error:  # the plugin's code: one line naming it, not a traceback
        message = f"the ONNX form of plugin '{declared.plugin}' failed: {exception_summary(error)}"
        raise layer_error(layer, message) from error

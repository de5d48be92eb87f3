"""Unary math ops -> stock Caffe layers: Power ((shift + scale * x) ^ power), Exp, Log, AbsVal;
hard_sigmoid and sign as clips (elementwise.clip_layers); Cast to float32 is the identity.

Not here, on purpose: erf (and so gelu) has no exact stock form, and x mod c (_mod_scalar)
needs a floor no Caffe layer computes; both stay unsupported ops, whose error says where
--outputs can cut the graph before them."""

from __future__ import annotations

from typing import List

from ..caffe.net import Layer
from .context import Converted, NodeContext
from .elementwise import clip_layers, eltwise_layer, finished, negate, power, power_layer
from .registry import converter

# op -> (power, scale) of the one Power layer computing it, (scale * x) ^ power. Caffe and OpenCV
# call pow(); MXNet calls sqrt/rsqrt or multiplies: results differ by at most an ulp or so
_POWER_FORMS = {
    "sqrt": (0.5, 1.0),
    "rsqrt": (-0.5, 1.0),
    "square": (2.0, 1.0),
    "reciprocal": (-1.0, 1.0),
    "negative": (1.0, -1.0),
}

# op -> the stock layer computing it (Exp and Log with their defaults: base e, no scale or shift)
_NEURON_LAYERS = {"exp": "Exp", "log": "Log", "abs": "AbsVal"}

# 2^126, and its reciprocal, the smallest normal float32 (runtimes that flush subnormals to 0,
# as OpenCV DNN does, keep it)
_MAGNIFY = 2.0**126
_TINY = 2.0**-126


@converter(*_POWER_FORMS)
def convert_power_function(ctx: NodeContext) -> Converted:
    exponent, scale = _POWER_FORMS[ctx.node.op]
    return power(ctx, power=exponent, scale=scale)


@converter(*_NEURON_LAYERS)
def convert_neuron_function(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    return ctx.single(_NEURON_LAYERS[ctx.node.op], [data.blob], data.shape)


@converter("hard_sigmoid")
def convert_hard_sigmoid(ctx: NodeContext) -> Converted:
    """clip(alpha * x + beta, 0, 1): one Power, then the clip (ReLU, then min with 1)."""
    data = ctx.input(0)
    alpha = ctx.attrs.float("alpha", 0.2)
    beta = ctx.attrs.float("beta", 0.5)
    linear = power_layer(ctx, data.blob, "linear", scale=alpha, shift=beta)
    return finished(ctx, [linear] + clip_layers(ctx, linear.tops[0], 0.0, 1.0), data.shape)


@converter("sign")
def convert_sign(ctx: NodeContext) -> Converted:
    """sign(x) = clip(x * 2^252, -1, 1), which is exact: a power-of-two scaling rounds nothing,
    and takes every nonzero float32 (the smallest, 2^-149, too) beyond +-1.

    2^252 is beyond float32, so it is 2^126 twice with the lower clip in between, scaled down:
    max(x * 2^252, -1) = 2^126 * max(x * 2^126, -2^-126). Large |x| overflow to +-inf, which
    the clip maps to +-1; the bounds are computed from x itself, which is finite (OpenCV
    computes a scale-0 Power as 0 * x + shift, NaN for an infinite x).
    """
    data = ctx.input(0)
    magnified = power_layer(ctx, data.blob, "magnified", scale=_MAGNIFY)
    floor = power_layer(ctx, data.blob, "floor", scale=0.0, shift=-_TINY)
    floored = eltwise_layer(ctx, [magnified.tops[0], floor.tops[0]], "MAX", "floored")
    # -max(x * 2^252, -1), in [-inf, 1]
    negated = power_layer(ctx, floored.tops[0], "negated", scale=-_MAGNIFY)
    bound = power_layer(ctx, data.blob, "bound", scale=0.0, shift=-1.0)
    upper = eltwise_layer(ctx, [negated.tops[0], bound.tops[0]], "MAX", "upper")
    layers: List[Layer] = [magnified, floor, floored, negated, bound, upper, negate(ctx, upper.tops[0], "")]
    return finished(ctx, layers, data.shape)


@converter("Cast", "cast")
def convert_cast(ctx: NodeContext) -> Converted:
    dtype = ctx.attrs.str("dtype")
    if dtype != "float32":
        raise ctx.error(
            f"Cast to {dtype}: the converted model computes in float32 throughout; "
            "only Cast to float32 (the identity) converts"
        )
    return ctx.alias(ctx.input(0))

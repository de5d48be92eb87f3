"""Activation, LeakyReLU and the standalone relu/sigmoid/tanh/softsign ops -> Caffe neuron layers."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..caffe.net import Tensor
from .context import Converted, NodeContext
from .registry import converter

# act_type -> the stock layer computing exactly that function
_NEURON_LAYERS = {
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "tanh": "TanH",
    # MXNet's softrelu is log(1 + exp(x)) (x itself above 20); BNLL computes the same softplus stably
    "softrelu": "BNLL",
}

# MXNet's SELU constants (src/operator/mshadow_op.h)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def _neuron(ctx: NodeContext, type_: str, params: Optional[Dict[str, Mapping[str, Any]]] = None) -> Converted:
    data = ctx.input(0)
    return ctx.single(type_, [data.blob], data.shape, params)


def _softsign(ctx: NodeContext) -> Converted:
    """x / (1 + |x|) as x * (1 + |x|)^-1: AbsVal, Power, Eltwise PROD."""
    data = ctx.input(0)
    absolute, reciprocal = ctx.layer_name("abs"), ctx.layer_name("reciprocal")
    layers = (
        ctx.layer("AbsVal", [data.blob], [absolute], suffix="abs"),
        ctx.layer(
            "Power", [absolute], [reciprocal], {"power_param": {"power": -1.0, "shift": 1.0}}, suffix="reciprocal"
        ),
        ctx.layer("Eltwise", [data.blob, reciprocal], [ctx.output_blob()], {"eltwise_param": {"operation": "PROD"}}),
    )
    return Converted(layers=layers, outputs=(Tensor(ctx.output_blob(), data.shape),))


def _activation(ctx: NodeContext, act_type: str) -> Converted:
    if act_type in _NEURON_LAYERS:
        return _neuron(ctx, _NEURON_LAYERS[act_type])
    if act_type == "softsign":
        return _softsign(ctx)
    raise ctx.error(f"act_type '{act_type}' is not supported")


@converter("Activation")
def convert_activation(ctx: NodeContext) -> Converted:
    return _activation(ctx, ctx.attrs.str("act_type"))


@converter("relu", "sigmoid", "tanh", "softsign")
def convert_unary_activation(ctx: NodeContext) -> Converted:
    """The standalone ops compute what Activation does with act_type = the op's name."""
    return _activation(ctx, ctx.node.op)


def _prelu(ctx: NodeContext) -> Converted:
    """gamma (C,) holds a slope per channel (axis 1); gamma (1,) one slope for all."""
    data = ctx.input(0)
    if len(data.shape) < 2:
        raise ctx.error(f"prelu needs an input with a channel axis, got {data.shape}")
    gamma = ctx.param(1)
    channels = data.shape[1]
    if gamma.shape not in ((channels,), (1,)):
        raise ctx.error(
            f"prelu gamma '{ctx.weight_name(1)}' has shape {gamma.shape}; expected ({channels},) or (1,)"
        )
    # A shared slope goes in as C equal slopes: channel_shared needs a 0-d blob, which
    # Caffe insists on when loading and OpenCV cannot read.
    return ctx.single("PReLU", [data.blob], data.shape, {}, [np.broadcast_to(gamma, (channels,)).copy()])


def _selu(ctx: NodeContext) -> Converted:
    """lambda * elu_alpha(x): ELU with MXNet's alpha, then Power scaling by lambda."""
    data = ctx.input(0)
    elu = ctx.layer_name("elu")
    layers = (
        ctx.layer("ELU", [data.blob], [elu], {"elu_param": {"alpha": SELU_ALPHA}}, suffix="elu"),
        ctx.layer("Power", [elu], [ctx.output_blob()], {"power_param": {"scale": SELU_LAMBDA}}),
    )
    return Converted(layers=layers, outputs=(Tensor(ctx.output_blob(), data.shape),))


@converter("LeakyReLU")
def convert_leaky_relu(ctx: NodeContext) -> Converted:
    act_type = ctx.attrs.str("act_type", "leaky")
    slope = ctx.attrs.float("slope", 0.25)
    lower_bound = ctx.attrs.float("lower_bound", 0.125)
    upper_bound = ctx.attrs.float("upper_bound", 0.334)
    if act_type == "leaky":
        return _neuron(ctx, "ReLU", {"relu_param": {"negative_slope": slope}})
    if act_type == "rrelu":
        # the slope is random in training only; inference uses the middle of the range
        return _neuron(ctx, "ReLU", {"relu_param": {"negative_slope": (lower_bound + upper_bound) / 2}})
    if act_type == "elu":
        return _neuron(ctx, "ELU", {"elu_param": {"alpha": slope}})
    if act_type == "selu":
        return _selu(ctx)
    if act_type == "prelu":
        return _prelu(ctx)
    if act_type == "gelu":
        raise ctx.error("act_type 'gelu' is not supported: MXNet computes 0.5*x*(1 + erf(x/sqrt(2))) "
                        "and stock Caffe has no layer computing erf")
    raise ctx.error(f"act_type '{act_type}' is not supported")

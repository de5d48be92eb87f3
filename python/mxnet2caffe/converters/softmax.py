"""softmax, log_softmax, SoftmaxActivation, SoftmaxOutput -> Caffe Softmax (with Power
for a temperature, Log for log_softmax, Flatten/Reshape for softmax over several axes)."""

from __future__ import annotations

import logging
from typing import List, Sequence

import numpy as np

from ..caffe.net import Shape, Tensor
from ..errors import shortened
from .context import Converted, NodeContext, Step, reshape_param
from .registry import converter
from .shape import normalize_axis

log = logging.getLogger(__name__)

def _chain(ctx: NodeContext, data: Tensor, steps: Sequence[Step]) -> Converted:
    """Shape-preserving layers applied one after the other; the last is the node's own."""
    return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), data.shape),))


def _softmax(axis: int) -> Step:
    return ("softmax", "Softmax", {"softmax_param": {"axis": axis}})


def _over_non_batch_axes(ctx: NodeContext, shape: Shape) -> List[Step]:
    """Softmax over everything but axis 0: Caffe's Softmax takes one axis, so more than
    one non-trivial axis is flattened first and reshaped back."""
    if len(shape) < 2:
        raise ctx.error(f"input {shape} has no axis besides the batch one")
    if int(np.prod(shape[2:])) == 1:
        return [_softmax(1)]
    return [
        ("flatten", "Flatten", {}),
        _softmax(1),
        ("reshape", "Reshape", reshape_param(shape)),
    ]


def _temperature(ctx: NodeContext) -> List[Step]:
    """softmax(x / T): Power scales first, as MXNet divides before exponentiating."""
    temperature = ctx.attrs.float("temperature", None)
    if temperature is None or temperature == 1:
        return []
    if not temperature > 0:
        raise ctx.error(f"temperature {temperature} is not positive")
    return [("temperature", "Power", {"power_param": {"scale": 1.0 / temperature}})]


def _softmax_along_axis(ctx: NodeContext, log_output: bool) -> Converted:
    data = ctx.input(0)
    if ctx.attrs.bool("use_length", False):
        raise ctx.error("use_length=True (masking by a length input) is not supported")
    dtype = ctx.attrs.str("dtype", None)
    if dtype not in (None, "None", "float32", "float64"):
        raise ctx.error(f"dtype {dtype}: Caffe computes in float32, MXNet would round the output to {dtype}")
    steps = _temperature(ctx) + [_softmax(normalize_axis(ctx, ctx.attrs.int("axis", -1), len(data.shape)))]
    if log_output:
        steps.append(("log", "Log", {}))  # Log's defaults: natural log of x, nothing else
    return _chain(ctx, data, steps)


@converter("softmax")
def convert_softmax(ctx: NodeContext) -> Converted:
    return _softmax_along_axis(ctx, log_output=False)


@converter("log_softmax")
def convert_log_softmax(ctx: NodeContext) -> Converted:
    """Log after Softmax: the same values wherever the probability is a normal float32."""
    log.warning(
        "node '%s' (op log_softmax): converted as Log(Softmax(x)); a log-probability below "
        "about -87 (a probability under float32's normal range) becomes -inf, where MXNet's "
        "fused kernel stays finite",
        shortened(ctx.name),
    )
    return _softmax_along_axis(ctx, log_output=True)


@converter("SoftmaxActivation")
def convert_softmax_activation(ctx: NodeContext) -> Converted:
    """'channel' is a softmax over axis 1. 'instance' is documented per instance, but
    MXNet's kernels view the input as 2-d (all axes but the last, last) and so take the
    last axis: the same for the usual 2-d input, and what MXNet computes for more."""
    data = ctx.input(0)
    mode = ctx.attrs.str("mode", "instance")
    if mode == "channel":
        if len(data.shape) < 3:
            raise ctx.error(f"mode 'channel' needs at least 3 axes (MXNet's own check), input is {data.shape}")
        return _chain(ctx, data, [_softmax(1)])
    if mode == "instance":
        return _chain(ctx, data, [_softmax(normalize_axis(ctx, -1, len(data.shape)))])
    raise ctx.error(f"unknown mode {mode!r}")


def _read_training_attributes(ctx: NodeContext) -> None:
    """Attributes that only shape the gradient: the forward pass ignores them."""
    for key in ("grad_scale", "ignore_label", "use_ignore", "normalization", "out_grad", "smooth_alpha"):
        ctx.attrs.str(key, None)


@converter("SoftmaxOutput", "Softmax")
def convert_softmax_output(ctx: NodeContext) -> Converted:
    """The forward pass of the training loss: a softmax. The label input (1) only feeds
    the gradient, so it is never read and needs no shape."""
    _read_training_attributes(ctx)
    data = ctx.input(0)
    multi_output = ctx.attrs.bool("multi_output", False)
    preserve_shape = ctx.attrs.bool("preserve_shape", False)
    if multi_output:
        return _chain(ctx, data, [_softmax(normalize_axis(ctx, 1, len(data.shape)))])
    if preserve_shape:
        return _chain(ctx, data, [_softmax(normalize_axis(ctx, -1, len(data.shape)))])
    if len(data.shape) == 4:
        log.warning(
            "node '%s' (op %s): softmax over all non-batch axes of %s as MXNet defines it; "
            "MXNet's oneDNN CPU kernel computes 4-d inputs over the last axis instead",
            shortened(ctx.name), ctx.node.op, data.shape,
        )
    return _chain(ctx, data, _over_non_batch_axes(ctx, data.shape))

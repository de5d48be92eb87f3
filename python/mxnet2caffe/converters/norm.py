"""Normalizations -> stock Caffe layers.

- BatchNorm -> Caffe BatchNorm (the moving statistics) + Scale (gamma, beta).
- L2Normalization, InstanceNorm -> squares, a pooled or convolved sum, Power(-0.5) and a
  product: Caffe's MVN cannot serve InstanceNorm, since Caffe divides by sqrt(var) + eps and
  OpenCV DNN by sqrt(var + eps) (MXNet's); only its mean subtraction is common ground.
- LRN -> LRN with k = 1 and a Power: OpenCV DNN ignores Caffe's `k` (computes with 1; 4.11).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..caffe.net import Layer, Tensor
from .context import Converted, NodeContext, Step, reshape_param
from .reduce import pooling_steps, power_step, reduced_count
from .registry import converter

# BatchNorm_v1 reshapes its input to 4-d and fails on any other rank
_V1_RANKS = (2, 4)


def _check_channel_axis(ctx: NodeContext, data: Tensor) -> None:
    """Caffe's BatchNorm normalizes axis 1; MXNet's `axis` may name it from the end."""
    rank = len(data.shape)
    # MXNet's axis is a plain int: it refuses "None", which a read with a default would accept
    axis = ctx.attrs.int("axis") if "axis" in ctx.attrs else 1
    if rank < 2:
        raise ctx.error(f"input {data.shape} has no channel axis")
    if not -rank <= axis < rank or axis % rank != 1:
        raise ctx.error(f"axis={axis} on a {rank}-d input is not supported: Caffe's BatchNorm normalizes axis 1")
    if ctx.node.op == "BatchNorm_v1" and rank not in _V1_RANKS:
        raise ctx.error(f"MXNet's BatchNorm_v1 runs only on 2-d or 4-d input, not {data.shape}")


def _moving_stats(ctx: NodeContext, channels: int) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, var): inputs 3 and 4, or for graphs saved before MXNet 0.9 (which did not list
    auxiliary states) the params MXNet names NODE_moving_mean / NODE_moving_var on loading."""
    shape = (channels,)
    if ctx.num_inputs == 5:
        return ctx.param(3, shape), ctx.param(4, shape)
    if ctx.num_inputs == 3:
        return (
            ctx.named_param(f"{ctx.name}_moving_mean", shape),
            ctx.named_param(f"{ctx.name}_moving_var", shape),
        )
    raise ctx.error(f"expected 5 inputs (data, gamma, beta, moving_mean, moving_var) or 3, got {ctx.num_inputs}")


def _read_inference_irrelevant_attrs(ctx: NodeContext) -> None:
    ctx.attrs.float("momentum", 0.9)  # updates the moving statistics during training only
    # at inference (is_train=False) MXNet normalizes with the moving statistics either way
    ctx.attrs.bool("use_global_stats", False)
    ctx.attrs.bool("cudnn_off", False)
    ctx.attrs.str("min_calib_range", None)  # used by the quantized BatchNorm only
    ctx.attrs.str("max_calib_range", None)


@converter("BatchNorm", "BatchNorm_v1")
def convert_batch_norm(ctx: NodeContext) -> Converted:
    """out = (x - mean) / sqrt(var + eps) * gamma + beta, gamma = 1 when fix_gamma."""
    data = ctx.input(0)
    _read_inference_irrelevant_attrs(ctx)
    if ctx.attrs.bool("output_mean_var", False):
        raise ctx.error("output_mean_var=True (mean and variance as extra outputs) is not supported")
    eps = ctx.attrs.float("eps", 1e-3, minimum=0.0)
    fix_gamma = ctx.attrs.bool("fix_gamma", True)
    _check_channel_axis(ctx, data)
    channels = data.shape[1]
    mean, var = _moving_stats(ctx, channels)
    # fix_gamma makes MXNet use 1 whatever the stored gamma holds
    gamma = np.ones(channels, np.float32) if fix_gamma else ctx.param(1, (channels,))
    beta = ctx.param(2, (channels,))
    normalized = ctx.layer_name("normalized")
    layers = (
        ctx.layer(
            "BatchNorm",
            [data.blob],
            [normalized],
            {"batch_norm_param": {"use_global_stats": True, "eps": eps}},
            # Caffe divides the stored statistics by the third blob
            [mean, var, np.ones(1, np.float32)],
            suffix="normalized",
        ),
        ctx.layer("Scale", [normalized], [ctx.output_blob()], {"scale_param": {"bias_term": True}}, [gamma, beta]),
    )
    return Converted(layers=layers, outputs=(Tensor(ctx.output_blob(), data.shape),))


def _layers(ctx: NodeContext, bottom: str, steps: Sequence[Step]) -> List[Layer]:
    """Layers applied one after the other from `bottom`, each writing the blob named after its
    suffix; the suffix "" writes the node's output. (ctx.chain always ends at the node's output.)"""
    layers = []
    for suffix, type_, params in steps:
        layers.append(ctx.layer(type_, [bottom], [ctx.layer_name(suffix)], params, suffix=suffix))
        bottom = layers[-1].tops[0]
    return layers


def _inverse_root(eps: float, count: int) -> Step:
    """1 / sqrt(eps + count * mean), which is 1 / sqrt(eps + sum) for a mean of `count` values."""
    return power_step("inverse_root", power=-0.5, scale=float(count), shift=eps)


def _times_factor(ctx: NodeContext, blob: str, factor: str, suffix: str) -> Layer:
    """blob * factor, where factor's shape is blob's leading axes: a two-bottom Scale from axis 0."""
    return ctx.layer("Scale", [blob, factor], [ctx.layer_name(suffix)], {"scale_param": {"axis": 0}}, suffix=suffix)


def _ones_convolution(ctx: NodeContext, bottom: str, inputs: int, outputs: int, suffix: str) -> Layer:
    """A 1x1 Convolution with all weights 1: the sum over the input channels, in every output channel."""
    params = {"num_output": outputs, "kernel_h": 1, "kernel_w": 1, "bias_term": False}
    ones = np.ones((outputs, inputs, 1, 1), np.float32)
    return ctx.layer("Convolution", [bottom], [ctx.layer_name(suffix)], {"convolution_param": params}, [ones], suffix)


# builds the layers of a computation from a bottom blob; the last writes the blob named after the suffix
Compute = Callable[[str, str], List[Layer]]


def _on_4d_view(ctx: NodeContext, data: Tensor, compute: Compute) -> Converted:
    """`compute` on `data` as it is when 4-d, else on a view of it as (N, C, positions, 1) with a
    Reshape back: Caffe's MVN makes its output 4-d, a Convolution needs 4-d input."""
    shape = data.shape
    if len(shape) == 4:
        layers = compute(data.blob, "")
    else:
        view = (shape[0], shape[1], int(np.prod(shape[2:])), 1)
        (as_4d,) = _layers(ctx, data.blob, [("as_4d", "Reshape", reshape_param(view))])
        layers = [as_4d, *compute(as_4d.tops[0], "in_4d")]
        layers += _layers(ctx, layers[-1].tops[0], [("", "Reshape", reshape_param(shape))])
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), shape),))


def _l2_per_position(ctx: NodeContext, data: Tensor, eps: float) -> Converted:
    """mode=channel: the sum of squares over the channels by a 1x1 Convolution of ones, its
    inverse root copied back to every channel by another, multiplied in by Eltwise PROD."""
    channels = data.shape[1]

    def compute(bottom: str, suffix: str) -> List[Layer]:
        layers = _layers(ctx, bottom, [power_step("squares", power=2.0)])
        layers.append(_ones_convolution(ctx, layers[-1].tops[0], channels, 1, "sum_of_squares"))
        layers += _layers(ctx, layers[-1].tops[0], [_inverse_root(eps, 1)])
        layers.append(_ones_convolution(ctx, layers[-1].tops[0], 1, channels, "expanded"))
        product = {"eltwise_param": {"operation": "PROD"}}
        top = ctx.layer_name(suffix)
        return [*layers, ctx.layer("Eltwise", [bottom, layers[-1].tops[0]], [top], product, suffix=suffix)]

    return _on_4d_view(ctx, data, compute)


# mode -> the first axis of the sum (it runs to the last axis); channel mode sums axis 1 alone
_L2_MODES = {"instance": 1, "spatial": 2, "channel": 1}


@converter("L2Normalization")
def convert_l2_normalization(ctx: NodeContext) -> Converted:
    """x / sqrt(sum(x^2) + eps), the sum over every axis but the batch's (instance), the
    channels at each position (channel) or the positions of each channel (spatial)."""
    data = ctx.input(0)
    mode = ctx.attrs.str("mode", "instance")
    eps = ctx.attrs.float("eps", 1e-10, minimum=0.0)
    if mode not in _L2_MODES:
        raise ctx.error(f"mode '{mode}' is not one of MXNet's: {', '.join(_L2_MODES)}")
    minimum_rank = 2 if mode == "instance" else 3
    if len(data.shape) < minimum_rank:
        raise ctx.error(f"mode '{mode}' needs an input of at least {minimum_rank} axes, got {data.shape}")
    if mode == "channel":
        return _l2_per_position(ctx, data, eps)
    # the inverse norm has the shape of the leading axes that are not summed
    first = _L2_MODES[mode]
    axes = tuple(range(first, len(data.shape)))
    pooling, _ = pooling_steps(data.shape, axes, "AVE", "sum_of_squares")
    steps = [power_step("squares", power=2.0), *pooling, _inverse_root(eps, reduced_count(data.shape, axes))]
    steps.append(("factor", "Reshape", reshape_param(data.shape[:first])))
    layers = _layers(ctx, data.blob, steps)
    layers.append(_times_factor(ctx, data.blob, layers[-1].tops[0], ""))
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), data.shape),))


@converter("InstanceNorm")
def convert_instance_norm(ctx: NodeContext) -> Converted:
    """(x - mean) / sqrt(var + eps) * gamma + beta, mean and var over the positions of each
    sample and channel: MVN without variance subtracts the mean (exactly the same in Caffe and
    OpenCV DNN), the variance is the average of the squares of that, and its inverse root is a
    factor per (sample, channel)."""
    data = ctx.input(0)
    eps = ctx.attrs.float("eps", 1e-3, minimum=0.0)
    shape = data.shape
    if len(shape) < 3:
        raise ctx.error(f"MXNet's InstanceNorm needs an input of at least 3 axes, got {shape}")
    gamma, beta = ctx.param(1, (shape[1],)), ctx.param(2, (shape[1],))

    def compute(bottom: str, suffix: str) -> List[Layer]:
        steps: List[Step] = [
            ("centered", "MVN", {"mvn_param": {"normalize_variance": False, "across_channels": False}}),
            power_step("squares", power=2.0),
            ("variance", "Pooling", {"pooling_param": {"pool": "AVE", "global_pooling": True}}),
            _inverse_root(eps, 1),
            ("factor", "Reshape", reshape_param(shape[:2])),
        ]
        layers = _layers(ctx, bottom, steps)
        layers.append(_times_factor(ctx, layers[0].tops[0], layers[-1].tops[0], "normalized"))
        affine = {"scale_param": {"bias_term": True}}
        top = ctx.layer_name(suffix)
        return [*layers, ctx.layer("Scale", [layers[-1].tops[0]], [top], affine, [gamma, beta], suffix)]

    return _on_4d_view(ctx, data, compute)


@converter("LRN")
def convert_lrn(ctx: NodeContext) -> Converted:
    """MXNet: x / (knorm + alpha / nsize * sum of x^2 over nsize channels)^beta; Caffe's LRN has
    the same form with k for knorm. OpenCV DNN ignores `k` (it computes with 1), so the layer gets
    k = 1 and alpha / knorm, and a Power multiplies by knorm^-beta:
    (k + a/n s)^b = k^b (1 + (a/k)/n s)^b."""
    data = ctx.input(0)
    size = ctx.attrs.int("nsize")
    alpha = ctx.attrs.float("alpha", 1e-4)
    beta = ctx.attrs.float("beta", 0.75)
    knorm = ctx.attrs.float("knorm", 2.0)
    if len(data.shape) != 4:
        raise ctx.error(f"only 4-d input is supported (MXNet's LRN kernel fails on others), got {data.shape}")
    if size < 1 or size % 2 == 0:
        raise ctx.error(
            f"nsize={size}: Caffe's LRN needs an odd window (MXNet centres an even one differently per kernel)"
        )
    if knorm <= 0:
        raise ctx.error(f"knorm={knorm} is not supported: the form with k = 1 needs knorm > 0")
    lrn_params: Dict[str, Mapping[str, Any]] = {"lrn_param": {"local_size": size, "alpha": alpha / knorm, "beta": beta}}
    if knorm == 1:
        return ctx.single("LRN", [data.blob], data.shape, lrn_params)
    steps: List[Step] = [("unit_k", "LRN", lrn_params), power_step("lrn", scale=float(knorm**-beta))]
    return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), data.shape),))

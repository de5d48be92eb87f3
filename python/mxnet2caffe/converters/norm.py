"""BatchNorm -> Caffe BatchNorm (the moving statistics) + Scale (gamma, beta)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..caffe.net import Tensor
from .context import Converted, NodeContext
from .registry import converter

# BatchNorm_v1 reshapes its input to 4-d and fails on any other rank
_V1_RANKS = (2, 4)


def _check_channel_axis(ctx: NodeContext, data: Tensor) -> None:
    """Caffe's BatchNorm normalizes axis 1; MXNet's `axis` may name it from the end."""
    rank = len(data.shape)
    axis = ctx.attrs.int("axis", 1)
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
    eps = ctx.attrs.float("eps", 1e-3)
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

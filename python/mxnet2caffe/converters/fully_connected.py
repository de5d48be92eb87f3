"""FullyConnected -> Caffe InnerProduct."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .context import Converted, NodeContext
from .registry import converter


def _product_axis(ctx: NodeContext, shape: Tuple[int, ...], flatten: bool) -> int:
    """The first axis InnerProduct folds into its inputs.

    flatten=True folds every axis after the batch one, row-major as Caffe does;
    flatten=False applies the layer to the last axis only.
    """
    if flatten:
        if len(shape) < 2:
            raise ctx.error(f"flatten=True needs a batch axis and at least one more, input is {shape}")
        return 1
    if not shape:
        raise ctx.error("input is a scalar")
    return len(shape) - 1


@converter("FullyConnected")
def convert_fully_connected(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    num_hidden = ctx.attrs.int("num_hidden")
    no_bias = ctx.attrs.bool("no_bias", False)
    axis = _product_axis(ctx, data.shape, ctx.attrs.bool("flatten", True))
    in_features = int(np.prod(data.shape[axis:]))
    blobs = [ctx.param(1, (num_hidden, in_features))]
    if not no_bias:
        blobs.append(ctx.param(2, (num_hidden,)))
    params = {"num_output": num_hidden, "bias_term": not no_bias, "axis": axis}
    out = data.shape[:axis] + (num_hidden,)
    return ctx.single("InnerProduct", [data.blob], out, {"inner_product_param": params}, blobs)

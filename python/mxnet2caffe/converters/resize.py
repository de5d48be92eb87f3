"""_contrib_BilinearResize2D -> stock Caffe layers, for every mode MXNet 1.9 has.

Caffe has no resize layer, but a bilinear resize is linear and separable: every output plane is
R_h . X . R_w^T, with R_h (out_h x in_h) and R_w (out_w x in_w) the interpolation weights of each
axis (at most two non-zero per row). Both products are stock layers with weights
(`separable_product`):
- X . R_w^T: an InnerProduct with axis 3 takes each row of each plane as one input vector;
- R_h . X: the planes as a batch of one-channel images (Reshape to (N*C, 1, H, W)) and a
  Convolution with one filter per output row whose kernel spans the whole height (H x 1); its
  output (N*C, out_h, 1, W) is the resized planes in memory order, so a Reshape gives
  (N, C, out_h, W).
(A BatchNorm right after the InnerProduct is kept from OpenCV's fusion by the
opencv_fusion_guards pass, as after any InnerProduct with axis != 1.)
Each output is MXNet's two-tap sum plus products with exact zeros: it differs from MXNet's only by
float rounding (~1e-7 relative). The cost is that of dense matrices: in_h*out_h + in_w*out_w
weights and N*C*out_w*(H*W + out_h*H) multiply-adds, against a handful per output in MXNet;
small for segmentation heads, heavy for very large outputs.

_contrib_AdaptiveAvgPooling2D with bins of unequal size is the same form with averaging matrices
(pooling.py).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..caffe.net import Shape, Tensor
from .context import Converted, NodeContext, Step, reshape_param
from .registry import converter

_MODES = ("size", "odd_scale", "like", "to_even_down", "to_even_up", "to_odd_down", "to_odd_up")


def separable_product(
    ctx: NodeContext, data: Tensor, rows: np.ndarray, columns: np.ndarray, like: Optional[Tensor] = None
) -> Converted:
    """Every (H, W) plane of `data` (N, C, H, W) becomes rows . plane . columns^T: the node's output,
    (N, C, rows.shape[0], columns.shape[0]). With `like`, a Crop to `like`'s size (the same size:
    it cuts nothing) ends the chain so that `like` is read, as in MXNet, and no blob dangles."""
    n, channels, height, width = data.shape
    out_h, out_w = rows.shape[0], columns.shape[0]
    out = (n, channels, out_h, out_w)
    # (step, weights, output shape) of each layer
    stages: List[Tuple[Step, Tuple[np.ndarray, ...], Shape]] = []
    if not _is_identity(columns):
        inner_product = {"inner_product_param": {"num_output": out_w, "bias_term": False, "axis": 3}}
        stages.append(
            (("columns", "InnerProduct", inner_product), (columns.astype(np.float32),), (n, channels, height, out_w))
        )
    if not _is_identity(rows):
        planes = (n * channels, 1, height, out_w)
        conv = {"convolution_param": {"num_output": out_h, "bias_term": False, "kernel_h": height, "kernel_w": 1}}
        weights = rows.reshape(out_h, 1, height, 1).astype(np.float32)
        stages.append((("planes", "Reshape", reshape_param(planes)), (), planes))
        stages.append((("rows", "Convolution", conv), (weights,), (n * channels, out_h, 1, out_w)))
        stages.append((("resized", "Reshape", reshape_param(out)), (), out))
    if like is not None:
        stages.append((("", "Crop", {"crop_param": {"axis": 2, "offset": [0]}}), (), out))
    if not stages:
        return ctx.alias(data)
    layers = ctx.chain(data.blob, [step for step, _, _ in stages], [weights for _, weights, _ in stages])
    if like is not None:  # the Crop's second bottom, its size reference
        layers[-1] = dataclasses.replace(layers[-1], bottoms=layers[-1].bottoms + (like.blob,))
    helpers = {layer.tops[0]: shape for layer, (_, _, shape) in zip(layers[:-1], stages[:-1])}
    return Converted(layers=tuple(layers), outputs=(Tensor(ctx.output_blob(), out),), helper_shapes=helpers)


def _is_identity(matrix: np.ndarray) -> bool:
    return matrix.shape[0] == matrix.shape[1] and bool(np.all(matrix == np.eye(matrix.shape[0])))


def interpolation_matrix(size: int, out: int, align_corners: bool) -> np.ndarray:
    """(out, size) weights of MXNet 1.9's bilinear sampling along one axis, computed in float32
    as MXNet does: with align_corners the corner samples coincide (scale (size-1)/(out-1)), else
    sample i sits at (i + 0.5) * size/out - 0.5, clamped at 0; an output of 1 takes sample 0."""
    f32 = np.float32
    if out > 1:
        scale = f32(size - 1) / f32(out - 1) if align_corners else f32(size) / f32(out)
    else:
        scale = f32(0)
    matrix = np.zeros((out, size), dtype=np.float64)
    for i in range(out):
        source = scale * f32(i) if align_corners else max(scale * (f32(i) + f32(0.5)) - f32(0.5), f32(0))
        low = int(source)
        high = low + 1 if low < size - 1 else low
        weight = f32(source - f32(low))
        matrix[i, low] += f32(1) - weight
        matrix[i, high] += weight
    return matrix


def _scaled(size: int, scale: float) -> int:
    """MXNet's int(scale * size), in float32."""
    return int(np.float32(scale) * np.float32(size))


def _odd_scaled(size: int, scale: float) -> int:
    """MXNet's odd_scale rule: an odd size keeps its corner samples, (size - 1) * scale + 1."""
    return _scaled(size, scale) if size % 2 == 0 else _scaled(size - 1, scale) + 1


def _output_size(ctx: NodeContext, mode: str, spatial: Sequence[int]) -> Tuple[int, int]:
    """MXNet 1.9's output size rules (BilinearSampleOpInferShape), quirks included."""
    height = ctx.attrs.int("height", 1)
    width = ctx.attrs.int("width", 1)
    scale_h = ctx.attrs.float("scale_height", None)
    scale_w = ctx.attrs.float("scale_width", None)
    if mode == "size":
        if scale_h is None:
            return height, width  # MXNet then ignores scale_width too
        if scale_w is None:
            raise ctx.error("scale_height without scale_width: MXNet 1.9 fails on this (it reads both)")
        return _scaled(spatial[0], scale_h), _scaled(spatial[1], scale_w)
    if mode == "odd_scale":
        if scale_h is None or scale_w is None:
            raise ctx.error("mode 'odd_scale' needs scale_height and scale_width")
        return _odd_scaled(spatial[0], scale_h), _odd_scaled(spatial[1], scale_w)
    if mode == "like":
        like = ctx.input(1)
        if len(like.shape) != 4:
            raise ctx.error(f"the 'like' input must be 4-d, got {like.shape}")
        return like.shape[2], like.shape[3]
    even = mode.startswith("to_even")
    step = 1 if mode.endswith("_up") else -1
    height, width = (size if (size % 2 == 0) == even else size + step for size in spatial)
    return height, width


@converter("_contrib_BilinearResize2D")
def convert_bilinear_resize(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    mode = ctx.attrs.str("mode", "size")
    align_corners = ctx.attrs.bool("align_corners", True)
    if mode not in _MODES:
        raise ctx.error(f"mode '{mode}' is not one of MXNet 1.9's modes {', '.join(_MODES)}")
    if len(data.shape) != 4:
        raise ctx.error(f"only 4-d (NCHW) input is supported, got {data.shape}")
    out = _output_size(ctx, mode, data.shape[2:])
    if min(out) <= 0:
        raise ctx.error(f"the output size {out} for input {data.shape} is empty")
    ctx.check_size(data.shape[:2] + tuple(out))
    for size, size_out in zip(data.shape[2:], out):  # before the (output, input) matrices are made
        ctx.check_size((size_out, size), "interpolation matrix")
    rows, columns = (interpolation_matrix(size, size_out, align_corners) for size, size_out in zip(data.shape[2:], out))
    return separable_product(ctx, data, rows, columns, like=ctx.input(1) if mode == "like" else None)

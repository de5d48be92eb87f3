"""GeluErf, a layer type of our own for mxnet2caffe: GELU with the exact erf, elementwise,

    y = x / 2 * (1 + erf(x / sqrt(2)))

the MXNet CustomOp "gelu_erf" (../gelu_erf_op.py) as a Caffe layer. Stock Caffe has no erf, and
stock layers can only approximate it (GELU's tanh form is off by up to 4.7e-4), which is not
exact by mxnet2caffe's rule: this op needs a layer of its own, and has no stock fallback.

This module is the plugin: importing it (`mxnet2caffe convert --plugin gelu_erf_plugin.py ...`)
registers the converter of the MXNet op and declares the Caffe layer type with everything the
runtimes need: the folder of its C++ sources (built into the Caffe layer library with
`mxnet2caffe build-layers --extra .`), its OpenCV DNN custom layer and its ONNX form (Div, Erf,
Add, Mul: ONNX has Erf, and so has TensorRT). Caffe and OpenCV call one C++ kernel
(gelu_erf_kernel.cpp). For `verify`, it registers the CustomOp with MXNet (@mxnet_setup).
Written from `mxnet2caffe new-layer GeluErf`.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mxnet2caffe.caffe_layers import load_kernels
from mxnet2caffe.extend import (
    Converted,
    GraphBuilder,
    Layer,
    NodeContext,
    UserLayer,
    converter,
    mxnet_setup,
    register_layer,
)

HERE = Path(__file__).resolve().parent  # the layer's C++ sources
LAYER_TYPE = "GeluErf"  # the Caffe layer type, as gelu_erf_layer.cpp registers it


def _import_beside(name: str, path: Path) -> ModuleType:
    """The module `name` from file `path`, imported once: the MXNet op lives beside the model
    (make_model.py imports it too), not in this folder, and need not be on sys.path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# the MXNet side: the CustomOp and its float64 numpy reference, gelu_erf_op.gelu
gelu_erf_op = _import_beside("gelu_erf_op", HERE.parent / "gelu_erf_op.py")
MXNET_OP_TYPE: str = gelu_erf_op.OP_TYPE  # nodes mx.sym.Custom(data, op_type="gelu_erf")


# --- the C++ kernel, through ctypes -----------------------------------------------------------
# load_kernels builds the folder's kernels (every *.cpp but *_layer.cpp) into a library of their
# own, without Caffe, on first use, and caches it.


def _entry(name: str, dtype: Any) -> Any:
    """The C entry point `name`_f32/_f64 of the kernel for arrays of `dtype`."""
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{LAYER_TYPE} computes float32 or float64, not {dtype}")
    suffix = "f32" if dtype == np.float32 else "f64"
    function = getattr(load_kernels(HERE), f"{name}_{suffix}")
    array = np.ctypeslib.ndpointer(dtype=dtype, flags="C_CONTIGUOUS")
    count = np.ctypeslib.as_ctypes_type(np.int64)
    function.argtypes = {
        "gelu_erf_forward": [array, count, array],
        "gelu_erf_backward": [array, array, count, array],
    }[name]
    function.restype = None
    return function


def kernel_forward(x: np.ndarray) -> np.ndarray:
    """gelu(x) by the C++ kernel, in x's precision (float32 or float64)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _entry("gelu_erf_forward", x.dtype)(x, x.size, y)
    return y


def kernel_backward(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dx = dy * gelu'(x) by the C++ kernel, in x's precision (float32 or float64)."""
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{LAYER_TYPE} backward: dy {dy.shape} is not shaped as x {x.shape}")
    dx = np.empty_like(x)
    _entry("gelu_erf_backward", x.dtype)(x, dy, x.size, dx)
    return dx


# --- OpenCV DNN ---------------------------------------------------------------------------------


class GeluErfOpenCVLayer:
    """The cv2.dnn custom layer of GeluErf (mxnet2caffe registers it before readNetFromCaffe).
    The layer has no parameters and no weights."""

    def __init__(self, params: Mapping[str, Any], blobs: Sequence[np.ndarray]) -> None:
        pass

    def getMemoryShapes(self, inputs: Sequence[Sequence[int]]) -> list[Sequence[int]]:
        return [inputs[0]]

    def forward(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [kernel_forward(inputs[0])]


# --- ONNX (TensorRT, ONNX Runtime) --------------------------------------------------------------


def emit_onnx(builder: GraphBuilder, layer: Layer) -> None:
    """GeluErf as ONNX ops: Mul(Mul(x, 0.5), Add(Erf(Div(x, sqrt 2)), 1)), as the kernel computes it."""
    shape = builder.shape(layer.bottoms[0])
    x = builder.value(layer.bottoms[0])
    sqrt2 = builder.constant(f"{layer.name}/sqrt2", np.float32(math.sqrt(2.0)))
    one = builder.constant(f"{layer.name}/one", np.float32(1.0))
    half = builder.constant(f"{layer.name}/half", np.float32(0.5))
    scaled = builder.step("Div", [x, sqrt2], layer.name, shape)
    erf = builder.step("Erf", [scaled], layer.name, shape)
    cdf2 = builder.step("Add", [erf, one], layer.name, shape)  # 2 Phi(x)
    half_x = builder.step("Mul", [x, half], layer.name, shape)
    builder.node("Mul", [half_x, cdf2], builder.define(layer.tops[0], shape), shape)


register_layer(UserLayer(type=LAYER_TYPE, sources=HERE, opencv=GeluErfOpenCVLayer, onnx=emit_onnx))


# --- MXNet ------------------------------------------------------------------------------------


@converter(f"Custom:{MXNET_OP_TYPE}")
def convert_gelu_erf(ctx: NodeContext) -> Converted:
    """The MXNet CustomOp gelu_erf (no attributes besides op_type) as one GeluErf layer."""
    data = ctx.input(0)
    return ctx.single(LAYER_TYPE, [data.blob], data.shape, {})


@mxnet_setup
def register_mxnet_op(mx: Any) -> None:
    """The op for MXNet (mx is the mxnet module): `verify` calls this before MXNet reads a model.
    Converting never imports MXNet."""
    gelu_erf_op.register(mx)

"""The native layer types for OpenCV DNN: Python custom layers (cv2.dnn_registerLayer) that run
the package's C++ kernels, so that readNetFromCaffe accepts prototxts using them."""

from __future__ import annotations

import logging
from typing import List, Sequence

import numpy as np

from .. import _native
from ..caffe.native_layers import NATIVE_LAYERS, NativeLayer
from ..runtimes.imports import require

_registered = False
_log = logging.getLogger(__name__)


class _BroadcastLayer:
    """inputs[0] op inputs[1], one of them broadcast to the other's shape (caffe_layers/)."""

    type_name: str
    operation: _native.BroadcastOp

    def __init__(self, params: dict, blobs: list) -> None:
        del params, blobs  # the layers have neither

    def getMemoryShapes(self, inputs: Sequence[Sequence[int]]) -> List[Sequence[int]]:
        try:
            return [_native.broadcast_output_shape(list(inputs[0]), list(inputs[1]))]
        except ValueError as error:
            # cv2 replaces the exception by "Failed to call getMemoryShapes": say why here
            _log.error("%s: %s", self.type_name, error)
            raise ValueError(f"{self.type_name}: {error}") from None

    def forward(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [_native.broadcast(self.operation, inputs[0], inputs[1])]


def _opencv_layer(layer: NativeLayer) -> type:
    """The cv2.dnn custom layer class of a native layer type of the table."""
    attributes = {"type_name": layer.type, "operation": _native.BroadcastOp.__members__[layer.operation]}
    return type(f"{layer.type}Layer", (_BroadcastLayer,), attributes)


OPENCV_LAYERS = {layer.type: _opencv_layer(layer) for layer in NATIVE_LAYERS}


def register_opencv_layers() -> None:
    """Registers every native layer type with cv2.dnn; later calls do nothing."""
    global _registered
    if _registered:
        return
    cv2 = require("cv2")
    for name, layer_class in OPENCV_LAYERS.items():
        cv2.dnn_registerLayer(name, layer_class)
    _registered = True

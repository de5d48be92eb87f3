"""The native layer types for OpenCV DNN: Python custom layers (cv2.dnn_registerLayer) that run
the package's C++ kernels, so that readNetFromCaffe accepts prototxts using them."""

from __future__ import annotations

import logging
from typing import List, Sequence

import numpy as np

from .. import _native
from ..verify.runtimes import require

_registered = False
_log = logging.getLogger(__name__)


class MXBroadcastMulLayer:
    """inputs[0] * inputs[1], the second broadcast to the first's shape (caffe_layers/)."""

    def __init__(self, params: dict, blobs: list) -> None:
        del params, blobs  # the layer has neither

    def getMemoryShapes(self, inputs: Sequence[Sequence[int]]) -> List[Sequence[int]]:
        error = _native.broadcast_mul_shape_error(list(inputs[0]), list(inputs[1]))
        if error:
            # cv2 replaces the exception by "Failed to call getMemoryShapes": say why here
            _log.error("MXBroadcastMul: %s", error)
            raise ValueError(f"MXBroadcastMul: {error}")
        return [inputs[0]]

    def forward(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [_native.broadcast_mul(inputs[0], inputs[1])]


OPENCV_LAYERS = {"MXBroadcastMul": MXBroadcastMulLayer}


def register_opencv_layers() -> None:
    """Registers every native layer type with cv2.dnn; later calls do nothing."""
    global _registered
    if _registered:
        return
    cv2 = require("cv2")
    for name, layer_class in OPENCV_LAYERS.items():
        cv2.dnn_registerLayer(name, layer_class)
    _registered = True

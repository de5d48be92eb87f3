"""The native layer types for OpenCV DNN: Python custom layers (cv2.dnn_registerLayer) that run
the package's C++ kernels, so that readNetFromCaffe accepts prototxts using them. Each kernel
family of the table (caffe/native_layers.py) has one layer class here. The users' layer types
(caffe/user_layers.py) bring their own classes, registered with ours."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Sequence, Set

import numpy as np

from .. import _native
from ..caffe.native_layers import NATIVE_LAYERS, NativeLayer
from ..caffe.user_layers import user_layers
from ..runtimes.imports import require

_registered: Set[str] = set()  # the layer types registered with cv2.dnn
_log = logging.getLogger(__name__)


class _KernelLayer:
    """What the layer classes share: their type name, and errors that say why."""

    type_name: str

    @classmethod
    def attributes(cls, layer: NativeLayer) -> Dict[str, Any]:
        """The class attributes a row of the table gives its layer class, beyond type_name."""
        del layer
        return {}

    def failure(self, error: str) -> ValueError:
        # cv2 replaces a custom layer's exception by "Failed to call getMemoryShapes" (or
        # "__init__"): say why in the log
        _log.error("%s: %s", self.type_name, error)
        return ValueError(f"{self.type_name}: {error}")


class _BroadcastLayer(_KernelLayer):
    """inputs[0] op inputs[1], one of them broadcast to the other's shape (caffe_layers/)."""

    operation: _native.BroadcastOp

    @classmethod
    def attributes(cls, layer: NativeLayer) -> Dict[str, Any]:
        return {"operation": _native.BroadcastOp.__members__[layer.operation]}

    def __init__(self, params: Mapping[str, Any], blobs: Sequence[np.ndarray]) -> None:
        del params, blobs  # the layers have neither

    def getMemoryShapes(self, inputs: Sequence[Sequence[int]]) -> List[Sequence[int]]:
        try:
            return [_native.broadcast_output_shape(list(inputs[0]), list(inputs[1]))]
        except ValueError as error:
            raise self.failure(str(error)) from None

    def forward(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [_native.broadcast(self.operation, inputs[0], inputs[1])]


class _TransposeLayer(_KernelLayer):
    """inputs[0] with its axes in the order of reshape_param { shape { dim } } (caffe_layers/)."""

    def __init__(self, params: Mapping[str, Any], blobs: Sequence[np.ndarray]) -> None:
        del blobs  # none
        # OpenCV's Caffe importer flattens reshape_param into "dim": a tuple, or an int for one axis
        order = params.get("dim")
        if order is None or "axis" in params or "num_axes" in params:
            raise self.failure("needs its axis order, and only that, as reshape_param { shape { dim: ... } }")
        self.order = [int(order)] if isinstance(order, int) else [int(axis) for axis in order]

    def getMemoryShapes(self, inputs: Sequence[Sequence[int]]) -> List[Sequence[int]]:
        try:
            return [_native.transpose_output_shape(list(inputs[0]), self.order)]
        except ValueError as error:
            raise self.failure(str(error)) from None

    def forward(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [_native.transpose(inputs[0], self.order)]


# kernel family of the table -> its layer class
_FAMILIES = {"broadcast": _BroadcastLayer, "transpose": _TransposeLayer}


def _opencv_layer(layer: NativeLayer) -> type:
    """The cv2.dnn custom layer class of a native layer type of the table."""
    family = _FAMILIES[layer.kernel]
    return type(f"{layer.type}Layer", (family,), {"type_name": layer.type, **family.attributes(layer)})


OPENCV_LAYERS = {layer.type: _opencv_layer(layer) for layer in NATIVE_LAYERS}


def register_opencv_layers() -> None:
    """Registers every native layer type with cv2.dnn, and every user layer type declared with an
    OpenCV class (UserLayer.opencv); later calls register only what was declared since."""
    wanted = dict(OPENCV_LAYERS)
    wanted.update({layer.type: layer.opencv for layer in user_layers() if layer.opencv is not None})
    # register_layer keeps one declaration per type, so a registered type needs nothing more
    new = {name: layer_class for name, layer_class in wanted.items() if name not in _registered}
    if not new:
        return
    cv2 = require("cv2")
    for name, layer_class in new.items():
        cv2.dnn_registerLayer(name, layer_class)
        _registered.add(name)

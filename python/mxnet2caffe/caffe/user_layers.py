"""Caffe layer types that plugins add: the user's counterpart of native_layers.py.

A plugin that emits a layer type Caffe lacks declares it here once (register_layer), and every
part of the tool that meets the type finds what it needs: the C++ sources built into the Caffe
plugin library with ours (caffe_layers/build.py), the OpenCV DNN custom layer class
(caffe_layers/opencv.py), the ONNX form (onnx/layers.py) and which plugin it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple, Type

from ..errors import ConversionError
from .native_layers import NATIVE_LAYER_TYPES
from .profiles import BVLC_MASTER_LAYER_TYPES

# (onnx.GraphBuilder, caffe.net.Layer) -> None: adds the ONNX nodes computing the layer and
# defines its tops' shapes, as the built-in emitters of onnx/layers.py do
OnnxEmitter = Callable[[Any, Any], None]


@dataclass(frozen=True)
class UserLayer:
    type: str  # the Caffe layer type, as REGISTER_LAYER_CLASS names it
    # the folder with its C++ sources (Caffe layer + kernel), built into the plugin library with ours
    sources: Optional[Path] = None
    opencv: Optional[Type[Any]] = None  # its cv2.dnn custom layer class (getMemoryShapes, forward)
    onnx: Optional[OnnxEmitter] = None  # its ONNX form
    plugin: str = ""  # the plugin that declared it (set by register_layer's caller)


# Caffe's own types and ours: a user type of the same name would be registered twice
RESERVED_LAYER_TYPES = BVLC_MASTER_LAYER_TYPES | NATIVE_LAYER_TYPES

_USER_LAYERS: Dict[str, UserLayer] = {}


def register_layer(layer: UserLayer) -> UserLayer:
    """Declares a layer type a plugin emits. A type of Caffe's own, of mxnet2caffe's native
    layers or of another plugin is an error: one process has one layer registry."""
    if layer.type in RESERVED_LAYER_TYPES:
        raise ConversionError(f"layer type {layer.type!r} is already a Caffe or mxnet2caffe layer type")
    previous = _USER_LAYERS.get(layer.type)
    if previous is not None and previous != layer:
        raise ConversionError(
            f"layer type {layer.type!r} declared twice: by {previous.plugin or 'an unnamed plugin'} "
            f"and by {layer.plugin or 'an unnamed plugin'}"
        )
    if layer.sources is not None and not Path(layer.sources).is_dir():
        raise ConversionError(f"layer type {layer.type!r}: its sources {layer.sources} are not a directory")
    _USER_LAYERS[layer.type] = layer
    return layer


def forget_plugin_layers(plugin: str) -> None:
    """Drops the layer types `plugin` declared (it failed to load)."""
    for type_ in [type_ for type_, layer in _USER_LAYERS.items() if layer.plugin == plugin]:
        del _USER_LAYERS[type_]


def user_layer(type_: str) -> Optional[UserLayer]:
    return _USER_LAYERS.get(type_)


def user_layers() -> Tuple[UserLayer, ...]:
    return tuple(_USER_LAYERS[name] for name in sorted(_USER_LAYERS))


def user_layer_types() -> FrozenSet[str]:
    return frozenset(_USER_LAYERS)

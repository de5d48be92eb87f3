"""Native Caffe layer types of mxnet2caffe (MXBroadcastMul/Add/Sub/Div, MXTranspose), for runtimes
that run them: pycaffe through a plugin library built against that Caffe (load, build_plugin),
OpenCV DNN through Python custom layers (register_opencv_layers), or any Caffe rebuilt with the
sources copied in (copy_into_caffe_tree). The C++ sources are caffe_layers/ and cpp/ of the repository,
shipped in the package as native_src/; caffe_layers/README.md says how to use them.

Converting needs none of this: caffe and cv2 are imported only when a function here is called."""

from .build import (
    LIBRARY_NAME,
    CaffeHomeError,
    NativeLayerError,
    PluginBuildError,
    build_plugin,
    native_sources,
)
from .loader import load
from .opencv import register_opencv_layers
from .source_tree import CAFFE_TREE_FILES, copy_into_caffe_tree

__all__ = [
    "CAFFE_TREE_FILES",
    "LIBRARY_NAME",
    "CaffeHomeError",
    "NativeLayerError",
    "PluginBuildError",
    "build_plugin",
    "copy_into_caffe_tree",
    "load",
    "native_sources",
    "register_opencv_layers",
]

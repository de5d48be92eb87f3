"""Native Caffe layer types of mxnet2caffe (MXBroadcastMul/Add/Sub/Div, MXTranspose), and the
users' (caffe/user_layers.py), for runtimes that run them: pycaffe through a plugin library built
against that Caffe (load, build_plugin), OpenCV DNN through Python custom layers
(register_opencv_layers; a user folder's kernels through build_kernels/load_kernels), or any Caffe
rebuilt with the sources copied in (copy_into_caffe_tree). `mxnet2caffe new-layer` writes the
skeleton of a user layer (new_layer.write_layer_skeleton). The C++ sources are caffe_layers/ and cpp/ of the repository,
shipped in the package as native_src/; caffe_layers/README.md says how to use them.

Converting needs none of this: caffe and cv2 are imported only when a function here is called."""

from .build import (
    KERNELS_LIBRARY_NAME,
    LIBRARY_NAME,
    CaffeHomeError,
    NativeLayerError,
    PluginBuildError,
    build_kernels,
    build_plugin,
    native_sources,
)
from .loader import load, load_kernels
from .opencv import register_opencv_layers
from .source_tree import CAFFE_TREE_FILES, copy_into_caffe_tree

__all__ = [
    "CAFFE_TREE_FILES",
    "KERNELS_LIBRARY_NAME",
    "LIBRARY_NAME",
    "CaffeHomeError",
    "NativeLayerError",
    "PluginBuildError",
    "build_kernels",
    "build_plugin",
    "copy_into_caffe_tree",
    "load",
    "load_kernels",
    "native_sources",
    "register_opencv_layers",
]

"""Copies the layer sources into a Caffe source tree, for users who rebuild their Caffe with the
layers built in (no plugin to load then). Caffe's CMake and Makefile builds compile every .cpp
under src/caffe/ and put include/ on the include path, so no build file needs editing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

from ..errors import NativeLayerError
from .build import PathArg, native_sources

# source (relative to native_sources()) -> destination in a Caffe source tree
CAFFE_TREE_FILES: Dict[str, str] = {
    "caffe_layers/mx_broadcast_layer.hpp": "include/caffe/layers/mx_broadcast_layer.hpp",
    "caffe_layers/mx_broadcast_layer.cpp": "src/caffe/layers/mx_broadcast_layer.cpp",
    "cpp/broadcast.hpp": "include/mxnet2caffe/broadcast.hpp",
    "cpp/broadcast.cpp": "src/caffe/layers/mxnet2caffe_broadcast.cpp",
    "caffe_layers/mx_transpose_layer.hpp": "include/caffe/layers/mx_transpose_layer.hpp",
    "caffe_layers/mx_transpose_layer.cpp": "src/caffe/layers/mx_transpose_layer.cpp",
    "cpp/transpose.hpp": "include/mxnet2caffe/transpose.hpp",
    "cpp/transpose.cpp": "src/caffe/layers/mxnet2caffe_transpose.cpp",
}


def copy_into_caffe_tree(caffe_root: PathArg) -> List[Path]:
    """Copies the sources into the Caffe source tree at `caffe_root`; returns the files written."""
    root = Path(caffe_root)
    if not (root / "include" / "caffe" / "layer.hpp").is_file() or not (root / "src" / "caffe").is_dir():
        raise NativeLayerError(f"{root} is not a Caffe source tree (no include/caffe/layer.hpp, src/caffe/)")
    sources = native_sources()
    written = []
    for source, destination in CAFFE_TREE_FILES.items():
        target = root / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources / source, target)
        written.append(target)
    return written

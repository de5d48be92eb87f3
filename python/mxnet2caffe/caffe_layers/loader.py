"""Loads the layer plugin into the running process's Caffe (pycaffe), once."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Optional

from ..caffe.native_layers import NATIVE_LAYER_TYPES
from ..errors import NativeLayerError
from ..runtimes.caffe_home import import_caffe
from .build import PathArg, build_plugin, resolve_caffe_home

_lock = threading.Lock()
_loaded: Optional[Path] = None


def _import_caffe(caffe_home: Optional[PathArg]) -> ModuleType:
    if caffe_home is not None and "caffe" not in sys.modules:
        python_dir = str(Path(caffe_home) / "python")
        if python_dir not in sys.path:
            sys.path.insert(0, python_dir)
    return import_caffe()


def running_libcaffe() -> Optional[Path]:
    """The shared libcaffe.so mapped into this process (by pycaffe's _caffe.so), if any."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split(maxsplit=5)[-1].strip()
            if os.path.basename(path).startswith("libcaffe.so"):  # or libcaffe.so.<version>
                return Path(path)
    return None


def _home_for(caffe: ModuleType, caffe_home: Optional[PathArg]) -> Path:
    """The Caffe home whose libcaffe.so this process runs: the plugin must link that very
    library, so that it registers its types in the registry pycaffe reads."""
    libcaffe = running_libcaffe()
    if libcaffe is None:
        raise NativeLayerError(
            f"the imported caffe ({caffe.__file__}) does not run a shared libcaffe.so, so no plugin can "
            "add layers to it: build the layers into that Caffe (caffe_layers/README.md), or use the "
            "reference Caffe (mxnet2caffe build-caffe)"
        )
    home = resolve_caffe_home(caffe_home if caffe_home is not None else libcaffe.parent.parent)
    if not os.path.samefile(home / "lib" / "libcaffe.so", libcaffe):
        raise NativeLayerError(f"caffe runs {libcaffe}, so layers built against {home} cannot load into it")
    return home


def load(caffe_home: Optional[PathArg] = None) -> Optional[Path]:
    """Makes the native layer types (NATIVE_LAYER_TYPES) available to pycaffe in this process.

    Imports caffe (from `caffe_home`/python when given and caffe is not imported yet), builds the
    plugin against the Caffe it runs if needed (see build_plugin), loads it with RTLD_GLOBAL and
    returns its path. Loading happens once per process, since registering a layer type twice
    aborts Caffe; later calls return the same path. A Caffe that already has the types (built
    with the sources copied in) loads nothing and gives None."""
    global _loaded
    with _lock:
        caffe = _import_caffe(caffe_home)
        if _loaded is not None:
            return _loaded
        present = NATIVE_LAYER_TYPES & set(caffe.layer_type_list())
        if present == NATIVE_LAYER_TYPES:
            return None
        if present:
            raise NativeLayerError(
                f"the Caffe of {caffe.__file__} already registers {', '.join(sorted(present))} but not "
                f"{', '.join(sorted(NATIVE_LAYER_TYPES - present))}: the plugin would register a type twice"
            )
        library = build_plugin(_home_for(caffe, caffe_home))
        try:
            ctypes.CDLL(str(library), mode=os.RTLD_GLOBAL)
        except OSError as exc:
            raise NativeLayerError(f"cannot load {library}: {exc}") from None
        _loaded = library
        return library

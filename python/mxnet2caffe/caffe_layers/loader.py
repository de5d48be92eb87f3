"""Loads the layer plugin (ours and the users' layers) into the running process's Caffe (pycaffe),
once; and a folder's kernels-only library, for the OpenCV custom layers."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Set

from ..caffe.native_layers import NATIVE_LAYER_TYPES
from ..caffe.user_layers import UserLayer, user_layers
from ..errors import NativeLayerError
from ..runtimes.caffe_home import import_caffe
from .build import PathArg, build_kernels, build_plugin, extra_layer_dir, resolve_caffe_home

_lock = threading.Lock()
_loaded: Optional[Path] = None
_kernels: Dict[Path, ctypes.CDLL] = {}
_log = logging.getLogger(__name__)


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


def _missing_user_layers(registered: Set[str]) -> List[UserLayer]:
    """The declared user layers with C++ sources whose types this Caffe does not have yet."""
    return [layer for layer in user_layers() if layer.sources is not None and layer.type not in registered]


def _described(layers: List[UserLayer]) -> str:
    return ", ".join(f"{layer.type} (from {layer.plugin or 'a plugin'}, {layer.sources})" for layer in layers)


def load(caffe_home: Optional[PathArg] = None) -> Optional[Path]:
    """Makes the native layer types (NATIVE_LAYER_TYPES) and the users' (each UserLayer declared
    with C++ sources, caffe/user_layers.py) available to pycaffe in this process.

    Imports caffe (from `caffe_home`/python when given and caffe is not imported yet), builds the
    plugin against the Caffe it runs if needed (see build_plugin; the user layers' folders are its
    `extra`), loads it with RTLD_GLOBAL and returns its path. Loading happens once per process,
    since registering a layer type twice aborts Caffe; later calls return the same path, and a user
    layer declared after that is a NativeLayerError (run in a fresh process that imports its
    plugins first). A Caffe that already has our types (built with the sources copied in) loads
    nothing and gives None."""
    global _loaded
    with _lock:
        caffe = _import_caffe(caffe_home)
        registered = set(caffe.layer_type_list())
        missing = _missing_user_layers(registered)
        if _loaded is not None:
            if missing:
                raise NativeLayerError(
                    f"the layer library {_loaded} is already loaded in this process without the user layers "
                    f"{_described(missing)}, declared after it was loaded; Caffe cannot register a library's "
                    "types twice, so run in a fresh process that imports every plugin before using Caffe"
                )
            return _loaded
        present = NATIVE_LAYER_TYPES & registered
        if present == NATIVE_LAYER_TYPES:
            if missing:
                raise NativeLayerError(
                    f"the Caffe of {caffe.__file__} already has mxnet2caffe's layer types (built in, or a library "
                    f"of them loaded before), so no library can add the user layers {_described(missing)}: "
                    "build them into that Caffe too, or run in a fresh process with a Caffe that lacks ours"
                )
            return None
        if present:
            raise NativeLayerError(
                f"the Caffe of {caffe.__file__} already registers {', '.join(sorted(present))} but not "
                f"{', '.join(sorted(NATIVE_LAYER_TYPES - present))}: the plugin would register a type twice"
            )
        for layer in user_layers():
            if layer.sources is not None and layer.type in registered:  # built into that Caffe, or a clash
                _log.warning(
                    "layer type %s (from %s) is already in the Caffe of %s: that one runs, not the sources in %s",
                    layer.type, layer.plugin or "a plugin", caffe.__file__, layer.sources,
                )
        extra = [layer.sources for layer in missing if layer.sources is not None]
        library = build_plugin(_home_for(caffe, caffe_home), extra=extra)
        try:
            ctypes.CDLL(str(library), mode=os.RTLD_GLOBAL)
        except OSError as exc:
            raise NativeLayerError(f"cannot load {library}: {exc}") from None
        _loaded = library
        return library


def load_kernels(folder: PathArg) -> ctypes.CDLL:
    """The kernels-only library of a folder of user layers (build_kernels), loaded once per
    process: what the folder's OpenCV custom layers call through ctypes."""
    path = Path(folder).expanduser().resolve()
    if path in _kernels:  # the usual case, on every call of an OpenCV layer: no checks again
        return _kernels[path]
    path = extra_layer_dir(folder)
    with _lock:
        if path not in _kernels:
            library = build_kernels(path)
            try:
                _kernels[path] = ctypes.CDLL(str(library))
            except OSError as exc:
                raise NativeLayerError(f"cannot load {library}: {exc}") from None
        return _kernels[path]

"""Loading plugins: Python modules that register converters and layer types (mxnet2caffe.extend)
when they are imported.

Plugins come from three places, each loaded at most once per process:
- installed distributions, through the entry-point group `mxnet2caffe.plugins`: each entry point
  names a module (`name = "package.module"`), imported, or a function (`"package.module:setup"`),
  imported and then called with no arguments. They load before the first conversion, verify,
  inspect or ONNX export of the process; MXNET2CAFFE_NO_ENTRY_POINTS=1 in the environment skips them;
- `plugins=[...]` in the API and `--plugin` on the command line: a module name (imported with
  importlib, so it must be on sys.path) or the path of a .py file (loaded under a module name of
  its own, so two files named alike do not meet).

What a plugin registers while it loads is recorded as the plugin's: its name is the module name,
the file's absolute path, or the entry point's name. A plugin that fails to load is a PluginError
naming it and the exception, in one line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import re
import sys
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

from .caffe.user_layers import forget_plugin_layers
from .converters.registry import forget_plugin
from .errors import ConversionError, PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mxnet2caffe.plugins"
NO_ENTRY_POINTS = "MXNET2CAFFE_NO_ENTRY_POINTS"
# at most this many characters of a plugin's exception message reach the user
_MESSAGE_LIMIT = 300
FILE_MODULE_PREFIX = "mxnet2caffe_plugin_"  # of the module names plugin files are imported under

PluginSpec = Union[str, "os.PathLike[str]"]

_LOADED: Dict[str, str] = {}  # plugin name -> where it came from ("module", "file", "entry point ...")
_loading: List[str] = []  # the plugins being imported now, innermost last
_entry_points_loaded = False


def loading_plugin() -> Optional[str]:
    """The name of the plugin being imported now (None outside plugin loading)."""
    return _loading[-1] if _loading else None


def loaded_plugins() -> Dict[str, str]:
    """plugin name -> where it came from, in load order."""
    return dict(_LOADED)


def exception_summary(error: BaseException) -> str:
    """'ValueError: first line of the message', short enough for one line of output."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > _MESSAGE_LIMIT or len(lines) > 1:
        text = text[:_MESSAGE_LIMIT] + " ..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# functions a plugin gives for the MXNet side of its ops (mx.operator.register of a CustomOp):
# verify runs them, with the mxnet module, before MXNet computes the reference; converting never does
MXNetSetup = Callable[[ModuleType], None]
_mxnet_setups: List[Tuple[MXNetSetup, str]] = []  # (function, plugin name), in registration order
_mxnet_setups_done: List[MXNetSetup] = []


def add_mxnet_setup(function: MXNetSetup) -> None:
    """Records a plugin's MXNet-side setup; it runs (once) when verify first needs MXNet."""
    if all(function is not known for known, _ in _mxnet_setups):
        _mxnet_setups.append((function, loading_plugin() or str(getattr(function, "__module__", "?"))))


def run_mxnet_setups(mx: ModuleType) -> None:
    """Runs every recorded MXNet-side setup not run yet; one that raises is a PluginError naming it."""
    for function, plugin in _mxnet_setups:
        if function in _mxnet_setups_done:
            continue
        try:
            function(mx)
        except Exception as error:
            raise PluginError(f"plugin '{plugin}': its MXNet setup failed: {exception_summary(error)}") from error
        _mxnet_setups_done.append(function)


def load_plugins(specs: Iterable[PluginSpec] = ()) -> None:
    """Loads the installed plugins (once per process, unless MXNET2CAFFE_NO_ENTRY_POINTS=1),
    then each plugin of `specs`: a module name or a .py file path."""
    load_entry_points()
    for spec in specs:
        load_plugin(spec)


def load_plugin(spec: PluginSpec) -> str:
    """Loads one plugin (nothing if it is loaded already); returns its name."""
    text = os.fspath(spec)
    if _is_path(text):
        path = Path(text).resolve()
        if not path.is_file():
            raise PluginError(f"plugin file {text} does not exist")
        name = str(path)
        if name not in _LOADED:
            _load(name, "file", lambda: _import_file(path))
        return name
    if not all(part.isidentifier() for part in text.split(".")):
        raise PluginError(f"plugin {text!r} is neither a module name nor a .py file")
    if text not in _LOADED:
        _load(text, "module", lambda: importlib.import_module(text))
    return text


def load_entry_points() -> None:
    """Loads every plugin of the entry-point group, the first time only."""
    global _entry_points_loaded
    if _entry_points_loaded or os.environ.get(NO_ENTRY_POINTS, "") not in ("", "0"):
        return
    for entry_point, distribution in _installed_entry_points():
        if entry_point.name not in _LOADED:
            where = f"entry point {entry_point.name} = {entry_point.value} of {distribution}"
            _load(entry_point.name, where, partial(_run_entry_point, entry_point))
    _entry_points_loaded = True


def _is_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or os.sep in text


def _load(name: str, where: str, load: Callable[[], object]) -> None:
    # an installed plugin stops every conversion until it is fixed or skipped: say how to skip it
    hint = f" (set {NO_ENTRY_POINTS}=1 to skip installed plugins)" if where.startswith("entry point") else ""
    _loading.append(name)
    try:
        try:
            load()
        except BaseException:  # what it registered before failing must not stay half there
            _forget(name)
            raise
    except PluginError as error:  # a clash found while registering: it names the plugin already
        raise PluginError(f"{error}{hint}") from error
    except ConversionError as error:
        raise PluginError(f"plugin '{name}' ({where}): {error}{hint}") from error
    except Exception as error:  # the plugin's own code failed: say whose, in one line
        raise PluginError(f"plugin '{name}' ({where}) failed to load: {exception_summary(error)}{hint}") from error
    finally:
        _loading.pop()
    _LOADED[name] = where
    log.info("loaded plugin '%s' (%s)", name, where)


def _forget(name: str) -> None:
    """Drops the converters, layer types and MXNet setups plugin `name` registered."""
    forget_plugin(name)
    forget_plugin_layers(name)
    _mxnet_setups[:] = [(function, plugin) for function, plugin in _mxnet_setups if plugin != name]


def _import_file(path: Path) -> ModuleType:
    """Executes a .py file as a module named after it and its full path (unique per file)."""
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:10]
    module_name = f"{FILE_MODULE_PREFIX}{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _run_entry_point(entry_point: importlib.metadata.EntryPoint) -> None:
    loaded = entry_point.load()
    if ":" in entry_point.value and callable(loaded):
        loaded()


def _installed_entry_points() -> List[Tuple[importlib.metadata.EntryPoint, str]]:
    """(entry point, 'distribution version') of the group, each once, by distribution and name.

    Read through the distributions, which every Python from 3.9 on offers alike (3.9's
    entry_points() is a dict by group, later ones select by group), and which name the
    distribution of each entry point."""
    found: Dict[Tuple[str, str], Tuple[importlib.metadata.EntryPoint, str]] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"] or "an unnamed distribution"
        for entry_point in distribution.entry_points:
            if entry_point.group == ENTRY_POINT_GROUP:
                key = (re.sub(r"[-_.]+", "-", name).lower(), entry_point.name)
                found.setdefault(key, (entry_point, f"{name} {distribution.version}"))
    return [found[key] for key in sorted(found)]


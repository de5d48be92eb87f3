"""Op name -> converter function, and where each came from.

A converter is a named function taking a NodeContext and returning a Converted: the Caffe
layers for one MXNet node and the tensors standing for its outputs. Converters never
write files and never look at other nodes.

Every op records its origin: BUILTIN for ours, else the name of the plugin that registered it
(plugins register through mxnet2caffe.extend). A plugin may replace a built-in converter only
when it says so (override=True); two plugins converting one op is an error naming both. A
plugin that fails to load is forgotten: its converters go, the built-in ones it replaced return.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Tuple

from ..errors import PluginError
from .context import Converted, NodeContext

log = logging.getLogger(__name__)

Converter = Callable[[NodeContext], Converted]

BUILTIN = "mxnet2caffe"

_REGISTRY: Dict[str, Converter] = {}
_ORIGINS: Dict[str, str] = {}  # op -> BUILTIN or the plugin's name
_REPLACED: Dict[str, Converter] = {}  # built-in op -> our converter that a plugin's replaced


def register_converter(op: str, function: Converter, origin: str = BUILTIN, override: bool = False) -> None:
    """Registers `function` for `op` on behalf of `origin` (see the module docstring for the rules)."""
    previous = _ORIGINS.get(op)
    if previous is not None and _REGISTRY[op] is function and previous == origin:
        return  # the same registration again (a module imported twice): nothing changes
    if previous == BUILTIN and origin == BUILTIN:
        raise RuntimeError(f"op {op!r} registered twice: {_name(_REGISTRY[op])} and {_name(function)}")
    if previous == BUILTIN:
        if not override:
            raise PluginError(
                f"plugin '{origin}' registers a converter for op '{op}', which mxnet2caffe converts "
                "already: register it with override=True to replace the built-in converter"
            )
        _REPLACED[op] = _REGISTRY[op]
        log.info("plugin '%s' replaces mxnet2caffe's converter of op '%s'", origin, op)
    elif previous == origin:
        raise PluginError(
            f"plugin '{origin}' registers two converters for op '{op}': "
            f"{_name(_REGISTRY[op])} and {_name(function)}"
        )
    elif previous is not None:
        raise PluginError(f"op '{op}' has converters from two plugins: '{previous}' and '{origin}'")
    _REGISTRY[op] = function
    _ORIGINS[op] = origin


def forget_plugin(plugin: str) -> None:
    """Drops every converter `plugin` registered, putting back the built-in ones it replaced."""
    for op in [op for op, origin in _ORIGINS.items() if origin == plugin]:
        if op in _REPLACED:
            _REGISTRY[op], _ORIGINS[op] = _REPLACED.pop(op), BUILTIN
        else:
            del _REGISTRY[op], _ORIGINS[op]


def _name(function: Converter) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def converter(*op_names: str) -> Callable[[Converter], Converter]:
    """Registers the decorated built-in converter for each MXNet op name (aliases included)."""

    def register(function: Converter) -> Converter:
        for name in op_names:
            register_converter(name, function)
        return function

    return register


def lookup(op: str) -> Converter:
    return _REGISTRY[op]


def is_supported(op: str) -> bool:
    return op in _REGISTRY


def supported_ops() -> Tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def op_origin(op: str) -> str:
    """BUILTIN, or the plugin whose converter `op` uses; KeyError for an unsupported op."""
    return _ORIGINS[op]


def plugin_ops() -> Dict[str, str]:
    """op -> plugin, for every op a plugin converts (overrides of built-ins included), by op."""
    return {op: _ORIGINS[op] for op in sorted(_ORIGINS) if _ORIGINS[op] != BUILTIN}


def overridden_ops() -> Dict[str, str]:
    """built-in op -> the plugin whose converter replaced ours."""
    return {op: _ORIGINS[op] for op in sorted(_REPLACED)}

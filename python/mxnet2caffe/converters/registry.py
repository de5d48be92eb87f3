"""Op name -> converter function.

A converter is a named function taking a NodeContext and returning a Converted: the Caffe
layers for one MXNet node and the tensors standing for its outputs. Converters never
write files and never look at other nodes.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

from .context import Converted, NodeContext

Converter = Callable[[NodeContext], Converted]

_REGISTRY: Dict[str, Converter] = {}


def converter(*op_names: str) -> Callable[[Converter], Converter]:
    """Registers the decorated function for each MXNet op name (aliases included)."""

    def register(function: Converter) -> Converter:
        for name in op_names:
            if name in _REGISTRY:
                raise RuntimeError(
                    f"op {name!r} registered twice: {_REGISTRY[name].__name__} and {function.__name__}"
                )
            _REGISTRY[name] = function
        return function

    return register


def lookup(op: str) -> Converter:
    return _REGISTRY[op]


def is_supported(op: str) -> bool:
    return op in _REGISTRY


def supported_ops() -> Tuple[str, ...]:
    return tuple(sorted(_REGISTRY))

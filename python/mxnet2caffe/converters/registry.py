"""Op name -> converter function.

A converter is a named function taking a NodeContext and returning a Converted: the Caffe
layers for one MXNet node and the tensors standing for its outputs. Converters never
write files and never look at other nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Tuple

from ..caffe.net import Layer, Tensor

if TYPE_CHECKING:  # context.py imports this module
    from .context import NodeContext

Converter = Callable[["NodeContext"], "Converted"]

_REGISTRY: Dict[str, Converter] = {}


@dataclass(frozen=True)
class Converted:
    layers: Tuple[Layer, ...]
    outputs: Tuple[Tensor, ...]


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

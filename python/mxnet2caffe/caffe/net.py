"""The Caffe side of the IR: layers as converters produce them, before any protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class Tensor:
    """A Caffe blob and the shape it has for the converted input shapes."""

    blob: str
    shape: Shape


@dataclass(frozen=True)
class Layer:
    """One Caffe layer. `params` maps a LayerParameter field (e.g. "pooling_param") to
    that message's fields, nested as dicts; `blobs` are its weights, float32."""

    name: str
    type: str
    bottoms: Tuple[str, ...]
    tops: Tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    blobs: Tuple[np.ndarray, ...] = ()


@dataclass
class Net:
    name: str
    inputs: List[Tensor] = field(default_factory=list)
    layers: List[Layer] = field(default_factory=list)
    outputs: List[Tensor] = field(default_factory=list)
    # MXNet output name (as get_internals() names it) -> the Caffe blob holding its value
    blob_of_output: Dict[str, str] = field(default_factory=dict)

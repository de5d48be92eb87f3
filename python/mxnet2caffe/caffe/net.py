"""The Caffe side of the IR: layers, blobs with shapes and weights, before any protobuf.

Net passes edit it (passes/): find a blob's producer and consumers, replace or remove layers,
rename blobs. Every edit that renames or removes a blob keeps `names` (the NameMap) right.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

from ..naming import NameMap, fresh_name

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class Tensor:
    """A Caffe blob and the shape it has for the converted input shapes."""

    blob: str
    shape: Shape


@dataclass(frozen=True, eq=False)  # layers are compared by identity: their blobs are arrays
class Layer:
    """One Caffe layer. `params` maps a LayerParameter field (e.g. "pooling_param") to
    that message's fields, nested as dicts; `blobs` are its weights, float32."""

    name: str
    type: str
    bottoms: Tuple[str, ...]
    tops: Tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    blobs: Tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class InputTransform:
    """What the MXNet model is fed, given what the Caffe model takes: raw pixels x (--mean/--std/
    --swap-rgb) become (x[channels reversed if swap_rgb] - mean) / std, per channel in the MXNet
    model's order; then `axes` lays the NCHW result out as MXNet's input (NHWC: (0, 2, 3, 1))."""

    mean: Tuple[float, ...] = (0.0,)
    std: Tuple[float, ...] = (1.0,)
    swap_rgb: bool = False
    axes: Optional[Tuple[int, ...]] = None

    def mxnet_input(self, raw: np.ndarray) -> np.ndarray:
        x = np.asarray(raw, dtype=np.float64)
        if self.swap_rgb:
            x = x[:, ::-1]
        mean = np.asarray(self.mean, dtype=np.float64).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float64).reshape(1, -1, 1, 1)
        x = (x - mean) / std
        return np.ascontiguousarray((x if self.axes is None else x.transpose(self.axes)).astype(np.float32))


@dataclass
class Net:
    name: str
    inputs: List[Tensor] = field(default_factory=list)
    layers: List[Layer] = field(default_factory=list)  # topological order
    outputs: List[Tensor] = field(default_factory=list)
    # shapes of the inputs, the node outputs and the blobs passes add (not every helper blob)
    shapes: Dict[str, Shape] = field(default_factory=dict)
    names: NameMap = field(default_factory=NameMap)
    input_transforms: Dict[str, InputTransform] = field(default_factory=dict)  # input blob -> transform
    notes: List[str] = field(default_factory=list)  # what the passes did, for the user

    def producer(self, blob: str) -> Optional[Layer]:
        return next((layer for layer in self.layers if blob in layer.tops), None)

    def consumers(self, blob: str) -> List[Layer]:
        return [layer for layer in self.layers if blob in layer.bottoms]

    def is_output(self, blob: str) -> bool:
        return any(tensor.blob == blob for tensor in self.outputs)

    def index(self, layer: Layer) -> int:
        for position, candidate in enumerate(self.layers):
            if candidate is layer:
                return position
        raise ValueError(f"layer {layer.name} is not in the net")

    def replace(self, old: Sequence[Layer], new: Sequence[Layer]) -> None:
        """Removes the `old` layers and puts `new` where the first of them stood. Blobs only
        the old layers produced are forgotten (shapes and NameMap entries)."""
        position = min(self.index(layer) for layer in old)
        gone = {id(layer) for layer in old}
        produced = {top for layer in old for top in layer.tops} - {top for layer in new for top in layer.tops}
        self.layers = [layer for layer in self.layers if id(layer) not in gone]
        self.layers[position:position] = list(new)
        for blob in produced:
            self.shapes.pop(blob, None)
            self.names.drop_blob(blob)

    def remove(self, layer: Layer) -> None:
        self.replace([layer], [])

    def insert(self, position: int, layers: Sequence[Layer]) -> None:
        self.layers[position:position] = list(layers)

    def reroute(self, readers: Sequence[Layer], old: str, new: str) -> None:
        """The given readers of blob `old` read blob `new` instead."""
        for layer in readers:
            bottoms = tuple(new if bottom == old else bottom for bottom in layer.bottoms)
            self.replace([layer], [dataclasses.replace(layer, bottoms=bottoms)])

    def used_names(self) -> Set[str]:
        names = {tensor.blob for tensor in self.inputs}
        for layer in self.layers:
            names.add(layer.name)
            names.update(layer.tops)
        return names

    def fresh_name(self, base: str) -> str:
        """A layer or blob name no layer or blob of the net has yet."""
        return fresh_name(base, self.used_names())

    def rename_blob(self, old: str, new: str) -> None:
        """Renames a blob everywhere: tops, bottoms, inputs, outputs, shapes and the NameMap."""

        def swap(names: Tuple[str, ...]) -> Tuple[str, ...]:
            return tuple(new if name == old else name for name in names)

        self.layers = [
            dataclasses.replace(layer, bottoms=swap(layer.bottoms), tops=swap(layer.tops))
            if old in layer.bottoms or old in layer.tops
            else layer
            for layer in self.layers
        ]
        self.inputs = [Tensor(new, t.shape) if t.blob == old else t for t in self.inputs]
        self.outputs = [Tensor(new, t.shape) if t.blob == old else t for t in self.outputs]
        if old in self.shapes:
            self.shapes[new] = self.shapes.pop(old)
        self.names.rename_blob(old, new)

"""What a converter sees of the graph: one node, its inputs' tensors and its weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

from ..attrs import Attrs
from ..caffe.net import Layer, Shape, Tensor
from ..errors import NodeError, listed
from ..mxnet.graph import Node
from ..naming import helper_name, node_blob
from ..options import ConvertOptions

# (name suffix, Caffe layer type, layer params) of one layer of a chain (NodeContext.chain)
Step = Tuple[str, str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Converted:
    """What a converter returns: the Caffe layers of one MXNet node and the tensors standing
    for its outputs."""

    layers: Tuple[Layer, ...]
    outputs: Tuple[Tensor, ...]
    # shapes of helper blobs that net passes need (a pooling layer's padded input, say)
    helper_shapes: Mapping[str, Shape] = field(default_factory=dict)


def reshape_param(dims: Sequence[int]) -> Dict[str, Mapping[str, Any]]:
    """A Reshape layer's parameters for explicit dims (no code left for Caffe to interpret)."""
    return {"reshape_param": {"shape": {"dim": list(dims)}}}


class NodeContext:
    def __init__(
        self,
        node: Node,
        inputs: Sequence[Optional[Tensor]],
        weight_names: Sequence[Optional[str]],
        params: Mapping[str, np.ndarray],
        options: ConvertOptions,
    ) -> None:
        """`inputs[i]` is the tensor of input i, None when input i is a weight variable;
        `weight_names[i]` names that variable (None for computed inputs); `params` is every
        array of the params file. Weights read are collected in `used_params`."""
        self.node = node
        self._inputs = list(inputs)
        self._weight_names = list(weight_names)
        self._params = params
        self.options = options
        self.used_params: Set[str] = set()

    @property
    def attrs(self) -> Attrs:
        return self.node.attrs

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def error(self, message: str) -> NodeError:
        return NodeError(self.node.name, self.node.op, message)

    def check_size(self, shape: Sequence[int], what: str = "output") -> None:
        """Refuses a blob of more elements than options.max_blob_elements (Caffe's INT_MAX by
        default): called before a converter allocates a constant of that shape, and by lowering
        for every blob a converter returns."""
        count = math.prod(shape)
        limit = self.options.max_blob_elements
        if count > limit:
            raise self.error(
                f"the {what} of shape {listed(shape)} has {count} elements, more than the limit of {limit} "
                "(ConvertOptions.max_blob_elements, --max-blob-elements)"
            )

    def input(self, index: int = 0) -> Tensor:
        if index >= len(self._inputs):
            raise self.error(f"expected at least {index + 1} input(s), got {len(self._inputs)}")
        tensor = self._inputs[index]
        if tensor is None:
            variable = self._weight_names[index]
            raise self.error(
                f"input {index} '{variable}' is a variable with no value in the params and no "
                f"input shape: give its shape with --input-shape {variable}:..."
            )
        return tensor

    def spatial_attr(self, key: str, default: Tuple[int, ...], rank: int = 2) -> Tuple[int, ...]:
        """A per-spatial-axis attribute (kernel, stride, pad ...); one value means all axes."""
        values = self.attrs.int_tuple(key, default) or default
        if len(values) == 1:
            values = values * rank
        if len(values) != rank:
            raise self.error(f"attribute '{key}' {listed(values)} does not match the {rank}-d input")
        return values

    def is_weight(self, index: int) -> bool:
        """Whether input `index` is a constant: a variable whose value is in the params file."""
        if index >= len(self._inputs) or self._inputs[index] is not None:
            return False
        name = self._weight_names[index]
        return name is not None and name in self._params

    def weight_name(self, index: int) -> str:
        name = self._weight_names[index] if index < len(self._weight_names) else None
        if name is None:
            raise self.error(f"input {index} must be a weight variable, but it is computed by the graph")
        return name

    def param(self, index: int, shape: Optional[Shape] = None) -> np.ndarray:
        """The weight array at input `index`, float32, checked against `shape` if given."""
        if index >= len(self._weight_names):
            raise self.error(f"expected a weight at input {index}, got {len(self._weight_names)} inputs")
        return self.named_param(self.weight_name(index), shape)

    def named_param(self, name: str, shape: Optional[Shape] = None) -> np.ndarray:
        """A params-file array by name, checked like `param`; also serves weights the graph
        does not list as inputs (BatchNorm statistics in graphs saved before MXNet 0.9)."""
        array = self._params.get(name)
        if array is None:
            raise self.error(f"weight '{name}' is missing from the params file")
        if shape is not None and tuple(array.shape) != tuple(shape):
            raise self.error(
                f"weight '{name}' has shape {tuple(array.shape)} in the params file, "
                f"but the graph needs {tuple(shape)}"
            )
        self.used_params.add(name)
        return np.ascontiguousarray(array, dtype=np.float32)

    def layer_name(self, suffix: str = "") -> str:
        """Names of extra layers and blobs: the node's name, then '/suffix'."""
        return helper_name(self.node.name, suffix) if suffix else self.node.name

    def output_blob(self, index: int = 0, count: int = 1) -> str:
        return node_blob(self.node.name, index, count)

    def layer(
        self,
        type_: str,
        bottoms: Sequence[str],
        tops: Sequence[str],
        params: Optional[Mapping[str, Mapping[str, Any]]] = None,
        blobs: Sequence[np.ndarray] = (),
        suffix: str = "",
    ) -> Layer:
        return Layer(
            name=self.layer_name(suffix),
            type=type_,
            bottoms=tuple(bottoms),
            tops=tuple(tops),
            params=dict(params or {}),
            blobs=tuple(blobs),
        )

    def single(
        self,
        type_: str,
        bottoms: Sequence[str],
        shape: Shape,
        params: Optional[Dict[str, Mapping[str, Any]]] = None,
        blobs: Sequence[np.ndarray] = (),
    ) -> Converted:
        """The common case: one Caffe layer named after the node, one output."""
        top = self.output_blob()
        return Converted(
            layers=(self.layer(type_, bottoms, (top,), params, blobs),),
            outputs=(Tensor(top, tuple(shape)),),
        )

    def chain(self, bottom: str, steps: Sequence[Step], blobs: Sequence[Sequence[np.ndarray]] = ()) -> List[Layer]:
        """Layers applied one after the other from `bottom`, one per step (with `blobs[i]` as
        weights of step i); the last is the node's own layer, named after the node, with the
        node's output blob."""
        layers = []
        for index, (suffix, type_, params) in enumerate(steps):
            last = index == len(steps) - 1
            top = self.output_blob() if last else self.layer_name(suffix)
            weights = blobs[index] if index < len(blobs) else ()
            layers.append(self.layer(type_, [bottom], [top], params, weights, suffix="" if last else suffix))
            bottom = top
        return layers

    def alias(self, tensor: Tensor) -> Converted:
        """An op that is the identity at inference: no layer, the input stands for it."""
        return Converted(layers=(), outputs=(tensor,))

"""The graph IR: MXNet nodes with typed attributes, independent of the JSON variant read.

Graph passes edit it (passes/): rewire the uses of an output, remove nodes, prune what the heads
no longer need. Node ids are stable across edits (they are not list positions), and `nodes`
stays in topological order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Set, Tuple, Union

import numpy as np

from ..attrs import Attrs
from .ops import CUSTOM_OP, converter_key


@dataclass(frozen=True)
class TensorRef:
    """Output `index` of the node with id `node`."""

    node: int
    index: int = 0


@dataclass
class Node:
    id: int
    name: str
    op: str  # "null" for variables (data inputs and weights)
    attrs: Attrs
    inputs: Tuple[TensorRef, ...]
    # attributes MXNet keeps for itself (__shape__, __lr_mult__ ...): never op semantics
    hidden: Dict[str, str] = field(default_factory=dict)
    # how many earlier op nodes of the file have the same name: tells MXNet's repeated output
    # names apart (files do hold a Convolution and a Flatten both named fc7); variables are not
    # counted, as MXNet names their outputs without "_output" (an op named data is data_output)
    occurrence: int = 0

    @property
    def is_variable(self) -> bool:
        return self.op == "null"

    @property
    def converter_key(self) -> str:
        """The op as the converter registry knows it ("Custom:<op_type>" for a Custom node)."""
        return converter_key(self.op, self.attrs.str("op_type", "") if self.op == CUSTOM_OP else "")


@dataclass
class Graph:
    nodes: List[Node]  # topological order
    heads: List[TensorRef]
    source: str  # the file it was read from, for error messages
    mxnet_version: int = 0
    # what the passes did, in words for the user (inspect and the CLI show them)
    notes: List[str] = field(default_factory=list)
    # MXNet output name (naming.output_key) of a removed node -> the output holding its value
    aliases: Dict[str, TensorRef] = field(default_factory=dict)
    # the values of the variables the .params file holds (passes may add constants)
    params: Dict[str, np.ndarray] = field(default_factory=dict)
    # data input -> the axes that take MXNet's layout of it to the Caffe model's (NHWC -> NCHW)
    input_axes: Dict[str, Tuple[int, ...]] = field(default_factory=dict)
    # nodes whose outputs the Caffe model holds in another layout: verify cannot compare them
    relaid: Set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._by_id: Dict[int, Node] = {node.id: node for node in self.nodes}

    def node(self, ref: Union[TensorRef, int]) -> Node:
        return self._by_id[ref.node if isinstance(ref, TensorRef) else ref]

    def reachable(self) -> List[Node]:
        """Nodes the heads depend on, in topological order."""
        needed = self._needed_ids()
        return [node for node in self.nodes if node.id in needed]

    def _needed_ids(self) -> Set[int]:
        """The ids of the nodes the heads depend on. `nodes` is in topological order, so one
        sweep from the last node back sees every node after all of its readers."""
        needed = {ref.node for ref in self.heads}
        for node in reversed(self.nodes):
            if node.id in needed:
                for ref in node.inputs:  # a plain loop: thrice as fast as a comprehension here
                    needed.add(ref.node)
        return needed

    def variables(self) -> List[Node]:
        return [node for node in self.reachable() if node.is_variable]

    def consumers(self, ref: TensorRef) -> List[Node]:
        """Nodes reading output `ref`, each once."""
        return [node for node in self.nodes if ref in node.inputs]

    def replace_uses(self, old: TensorRef, new: TensorRef) -> None:
        """Every input and head reading `old` reads `new` instead."""
        for node in self.nodes:
            if old in node.inputs:
                node.inputs = tuple(new if ref == old else ref for ref in node.inputs)
        self.heads = [new if ref == old else ref for ref in self.heads]

    def add_variable(self, name: str, value: np.ndarray, before: Node) -> TensorRef:
        """A new variable holding `value` (a constant a pass made), placed before `before`."""
        node = Node(max(self._by_id) + 1, name, "null", Attrs(name, "null", {}), ())
        self.nodes.insert(self.nodes.index(before), node)
        self._by_id[node.id] = node
        self.params[name] = value
        return TensorRef(node.id, 0)

    def remove(self, ids: Iterable[int]) -> None:
        """Drops the nodes; nothing left may read them."""
        gone = set(ids)
        self.nodes = [node for node in self.nodes if node.id not in gone]
        self._by_id = {node.id: node for node in self.nodes}
        dangling = [node.name for node in self.nodes if any(ref.node in gone for ref in node.inputs)]
        if dangling or any(ref.node in gone for ref in self.heads):
            raise ValueError(f"removed nodes are still read by {dangling or 'the heads'}")

    def prune(self) -> List[Node]:
        """Removes the nodes the heads do not need; returns them."""
        needed = self._needed_ids()
        dropped = [node for node in self.nodes if node.id not in needed]
        if dropped:  # most passes prune a graph that has nothing to drop
            self.remove(node.id for node in dropped)
        return dropped

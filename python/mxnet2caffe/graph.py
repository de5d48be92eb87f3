"""The graph IR: MXNet nodes with typed attributes, independent of the JSON variant read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from .attrs import Attrs


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

    @property
    def is_variable(self) -> bool:
        return self.op == "null"


@dataclass
class Graph:
    nodes: List[Node]
    heads: List[TensorRef]
    source: str  # the file it was read from, for error messages
    mxnet_version: int = 0

    def node(self, ref: TensorRef) -> Node:
        return self.nodes[ref.node]

    def reachable(self) -> List[Node]:
        """Nodes the heads depend on, in topological (file) order."""
        seen = set()
        stack = [ref.node for ref in self.heads]
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            stack.extend(ref.node for ref in self.nodes[node_id].inputs)
        return [node for node in self.nodes if node.id in seen]

    def variables(self) -> List[Node]:
        return [node for node in self.reachable() if node.is_variable]

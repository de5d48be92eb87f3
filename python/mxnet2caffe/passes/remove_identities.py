"""Graph pass: ops that are the identity at inference are removed, their readers rewired to
their input. Their MXNet output keeps a NameMap entry (Graph.aliases): the blob of the input.
An identity that is a head stays: it gives the output a blob of its own, named after it."""

from __future__ import annotations

from collections import Counter

from ..errors import NodeError
from ..mxnet.graph import Graph, Node, TensorRef
from ..mxnet.ops import IDENTITY_OPS
from ..naming import mxnet_output_name, output_key
from ..options import ConvertOptions


def _check_dropout(node: Node) -> None:
    """Dropout is the identity at inference unless mode='always' drops then too."""
    p = node.attrs.float("p", 0.5)
    mode = node.attrs.str("mode", "training")
    node.attrs.int_tuple("axes", ())  # which axes share a mask: only matters when dropping
    node.attrs.str("cudnn_off", None)
    if mode not in ("training", "always"):
        raise NodeError(node.name, node.op, f"unknown mode {mode!r}")
    if mode == "always" and p != 0:
        raise NodeError(node.name, node.op, f"mode 'always' drops at inference too (p={p}): it is not an identity")


def run(graph: Graph, options: ConvertOptions) -> Graph:
    del options  # no choice here
    removed: Counter = Counter()
    for node in graph.reachable():
        if node.op not in IDENTITY_OPS:
            continue
        if node.op == "Dropout":
            _check_dropout(node)
        if not node.inputs:
            raise NodeError(node.name, node.op, "has no input")
        if TensorRef(node.id, 0) in graph.heads:
            continue
        source = node.inputs[0]
        graph.replace_uses(TensorRef(node.id, 0), source)
        graph.aliases[output_key(mxnet_output_name(node.name, 0, 1), node.occurrence)] = source
        removed[node.op] += 1
    if removed:
        graph.prune()
        ops = ", ".join(f"{op} x{count}" for op, count in sorted(removed.items()))
        graph.notes.append(f"removed {sum(removed.values())} identity op(s) at inference: {ops}")
    return graph

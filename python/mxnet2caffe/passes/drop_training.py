"""Graph pass: the parts of a training graph that inference does not have are dropped, with a
note: the label input of loss outputs (SoftmaxOutput's label feeds only the gradient), and heads
that are losses (MakeLoss) or that compute from a label (accuracy monitors and the like)."""

from __future__ import annotations

from typing import List, Set

from ..errors import ConversionError
from ..mxnet.graph import Graph, Node, TensorRef
from ..mxnet.ops import LABELLED_OUTPUT_OPS, LOSS_OPS
from ..options import ConvertOptions

# MXNet names the labels it creates NAME_label (SoftmaxOutput's softmax_label ...)
_LABEL_SUFFIX = "label"


def is_label(node: Node) -> bool:
    return node.is_variable and node.name.endswith(_LABEL_SUFFIX)


def _reads_label(graph: Graph, head: TensorRef) -> bool:
    seen: Set[int] = set()
    stack = [head.node]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.node(node_id)
        if is_label(node):
            return True
        for ref in node.inputs:  # a plain loop: far cheaper than a generator per node
            stack.append(ref.node)
    return False


def run(graph: Graph, options: ConvertOptions) -> Graph:
    for node in graph.reachable():
        if node.op in LABELLED_OUTPUT_OPS and len(node.inputs) > 1:
            node.inputs = node.inputs[:1]
    kept: List[TensorRef] = []
    dropped: List[str] = []
    for head in graph.heads:
        node = graph.node(head)
        if node.op in LOSS_OPS or _reads_label(graph, head):
            dropped.append(f"{node.name} ({node.op})")
        else:
            kept.append(head)
    if not kept:
        # the heads are those --outputs named, when it was given
        fix = "name others" if options.outputs else "name the outputs to convert"
        raise ConversionError(
            f"{graph.source}: every head is training-only ({', '.join(dropped)}); {fix} with --outputs"
        )
    graph.heads = kept
    # dict.fromkeys: a file may hold two label variables of one name
    labels = list(dict.fromkeys(node.name for node in graph.prune() if is_label(node)))
    if dropped:
        graph.notes.append(f"dropped training-only head(s): {', '.join(dropped)}")
    if labels:
        graph.notes.append(f"dropped label input(s): {', '.join(labels)}")
    return graph

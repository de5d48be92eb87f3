"""Graph pass: a data input that the graph transposes from NHWC to NCHW before anything else
(gluoncv's exported preprocessing: broadcast_minus mean, broadcast_div std, transpose(0, 3, 1, 2))
becomes an NCHW Caffe input. The transpose goes away, the per-channel constants of the ops before
it are laid out for NCHW (new constants), and lowering and verify learn the input's layout
(Graph.input_axes): the user gives MXNet's NHWC shape, the Caffe model takes NCHW.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..mxnet.graph import Graph, Node, TensorRef
from ..naming import mxnet_output_name, output_key
from ..options import ConvertOptions

NHWC_TO_NCHW = (0, 3, 1, 2)
# ops of a preprocessing chain: the data is operand 0, a constant operand 1
_CHAIN_OPS = frozenset(
    {"broadcast_sub", "broadcast_minus", "broadcast_div", "broadcast_add", "broadcast_plus", "broadcast_mul"}
)


def _only_reader(graph: Graph, ref: TensorRef) -> Optional[Node]:
    readers = graph.consumers(ref)
    return readers[0] if len(readers) == 1 and ref not in graph.heads else None


def _is_nchw_transpose(node: Node) -> bool:
    if node.op != "transpose":
        return False
    return tuple(node.attrs.int_tuple("axes", ())) == NHWC_TO_NCHW


def _constant(graph: Graph, node: Node) -> Optional[np.ndarray]:
    """Operand 1 of a chain op, if it is a constant that broadcasts over a 4-d NHWC blob."""
    if len(node.inputs) != 2 or node.inputs[0] == node.inputs[1]:
        return None
    variable = graph.node(node.inputs[1])
    value = graph.params.get(variable.name) if variable.is_variable else None
    return value if value is not None and value.ndim <= 4 else None


def _chain(graph: Graph, data: Node) -> Optional[List[Node]]:
    """The chain ops from `data` to its NHWC->NCHW transpose (the transpose last), or None."""
    chain: List[Node] = []
    reader = _only_reader(graph, TensorRef(data.id))
    while reader is not None and reader.op in _CHAIN_OPS and _constant(graph, reader) is not None:
        chain.append(reader)
        reader = _only_reader(graph, TensorRef(reader.id))
    if reader is None or not _is_nchw_transpose(reader):
        return None
    return chain + [reader]


def _relay_constant(graph: Graph, node: Node) -> None:
    """Operand 1 of `node` replaced by the same constant laid out for NCHW."""
    value = _constant(graph, node)
    assert value is not None  # _chain checked it
    nhwc = value.reshape((1,) * (4 - value.ndim) + value.shape)
    name = graph.node(node.inputs[1]).name + "_nchw"
    ref = graph.add_variable(name, np.ascontiguousarray(nhwc.transpose(NHWC_TO_NCHW)), before=node)
    node.inputs = (node.inputs[0], ref)


def run(graph: Graph, options: ConvertOptions) -> Graph:
    del options  # no choice here: an NCHW model is what Caffe runs
    for data in [node for node in graph.reachable() if node.is_variable and node.name not in graph.params]:
        chain = _chain(graph, data)
        if chain is None:
            continue
        *ops, transpose = chain
        for node in ops:
            _relay_constant(graph, node)
            graph.relaid.add(node.id)  # MXNet computes these in NHWC, Caffe in NCHW
        source = transpose.inputs[0]
        graph.replace_uses(TensorRef(transpose.id), source)
        graph.aliases[output_key(mxnet_output_name(transpose.name, 0, 1), transpose.occurrence)] = source
        graph.remove([transpose.id])
        graph.prune()
        graph.input_axes[data.name] = NHWC_TO_NCHW
        graph.notes.append(
            f"input '{data.name}' is NCHW in the Caffe model: MXNet's NHWC input and its transpose "
            f"'{transpose.name}' are folded away"
            + (f" (the constants of {', '.join(node.name for node in ops)} laid out for NCHW)" if ops else "")
        )
    return graph

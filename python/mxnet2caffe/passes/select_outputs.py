"""Graph pass (--outputs): the net's outputs become the named nodes or MXNet outputs, in the
given order, and what they do not need is cut away (box decoding and NMS after a detector's raw
heads, say)."""

from __future__ import annotations

import difflib
import re
from typing import List

from ..errors import ConversionError
from ..mxnet.graph import Graph, TensorRef
from ..options import ConvertOptions

# NAME, NAME_output, NAME_outputI, each optionally #N for the N-th node of that name
_OUTPUT = re.compile(r"^(?P<name>.*?)(?:_output(?P<index>\d*))?(?:#(?P<occurrence>\d+))?$")


def resolve_output(graph: Graph, text: str) -> TensorRef:
    """The output a user names: an op node ("fc1"), an MXNet output ("fc1_output",
    "slice_output2"), with "#2" for the second op node of a repeated name."""
    match = _OUTPUT.match(text)
    assert match is not None  # every string matches
    occurrence = match["occurrence"]
    if occurrence is not None and int(occurrence) == 0:
        raise ConversionError(f"{graph.source}: --outputs '{text}': repeated names count from #1")
    nth = int(occurrence or 1)
    base = text[: text.rindex("#")] if occurrence is not None else text
    attempts = [(base, 0)]  # a node whose name itself ends in _output...
    if match["index"] is not None and match["name"]:
        attempts.append((match["name"], int(match["index"] or 0)))
    for name, index in attempts:
        nodes = [node for node in graph.nodes if node.name == name and not node.is_variable]
        if not nodes:
            continue
        if len(nodes) > 1 and occurrence is None:
            raise ConversionError(
                f"{graph.source}: --outputs '{text}': {len(nodes)} nodes are named '{name}' "
                f"({', '.join(node.op for node in nodes)}); say which with '{name}#1' ... '{name}#{len(nodes)}'"
            )
        chosen = [node for node in nodes if node.occurrence == nth - 1]
        if not chosen:
            raise ConversionError(
                f"{graph.source}: --outputs '{text}': there are only {len(nodes)} nodes named '{name}'"
            )
        return TensorRef(chosen[0].id, index)
    if any(node.is_variable and node.name in (name for name, _ in attempts) for node in graph.nodes):
        raise ConversionError(f"{graph.source}: --outputs '{text}' names a variable (an input or weight), not an op")
    names = sorted({node.name for node in graph.nodes if not node.is_variable})
    close = difflib.get_close_matches(match["name"] or base, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConversionError(f"{graph.source}: --outputs '{text}': no node or output of that name{hint}")


def run(graph: Graph, options: ConvertOptions) -> Graph:
    if not options.outputs:
        return graph
    heads: List[TensorRef] = []
    for text in options.outputs:
        ref = resolve_output(graph, text)
        if ref not in heads:
            heads.append(ref)
    graph.heads = heads
    dropped = [node for node in graph.prune() if not node.is_variable]
    graph.notes.append(
        f"cut at --outputs {', '.join(options.outputs)}: {len(dropped)} op node(s) after them dropped"
    )
    return graph

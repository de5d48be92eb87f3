"""Reads an MXNet `*-symbol.json` into a Graph, in every format variant MXNet wrote.

Variants: op attributes under `attrs` (>= 0.12), `attr` or `param` (older); inputs and
heads as [id, index] or [id, index, version]; with or without `node_row_ptr`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from ..attrs import Attrs
from ..errors import InputFileError
from .graph import Graph, Node, TensorRef

# Files older than MXNet 0.9 name user attributes without underscores; MXNet renames them
# on load (kHiddenKeys in its c_api_common.h), so they are never op parameters.
_LEGACY_HIDDEN = {
    key: f"__{key}__" for key in ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")
}


def read_symbol(path: str | os.PathLike[str]) -> Graph:
    """Reads and validates a symbol JSON file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read symbol file: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON: {exc}") from None
    return parse_symbol(document, str(path))


def parse_symbol(document: Any, source: str) -> Graph:
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        raise InputFileError(source, "not an MXNet symbol: no 'nodes' list at the top level")
    if "heads" not in document:
        raise InputFileError(source, "not an MXNet symbol: no 'heads' list")
    nodes: List[Node] = []
    seen: Dict[str, int] = {}  # name -> how many op nodes so far have it
    for node_id, entry in enumerate(document["nodes"]):
        node = _parse_node(entry, node_id, source)
        if not node.is_variable:  # a variable's output is its bare name, never NAME_output
            node.occurrence = seen.get(node.name, 0)
            seen[node.name] = node.occurrence + 1
        nodes.append(node)
    heads = [_parse_ref(ref, len(nodes), source, "heads") for ref in _list(document["heads"], source, "heads")]
    if not heads:
        raise InputFileError(source, "the symbol has no heads (outputs)")
    version = 0
    top_attrs = document.get("attrs")
    if isinstance(top_attrs, dict) and isinstance(top_attrs.get("mxnet_version"), list):
        try:
            version = int(top_attrs["mxnet_version"][1])
        except (IndexError, TypeError, ValueError):
            version = 0
    return Graph(nodes=nodes, heads=heads, source=source, mxnet_version=version)


def _list(value: Any, source: str, what: str) -> list:
    if not isinstance(value, list):
        raise InputFileError(source, f"not an MXNet symbol: '{what}' is not a list")
    return value


def _parse_node(entry: Any, node_id: int, source: str) -> Node:
    if not isinstance(entry, dict) or "op" not in entry or "name" not in entry:
        raise InputFileError(source, f"node #{node_id} is not an MXNet node (needs 'op' and 'name')")
    name, op = str(entry["name"]), str(entry["op"])
    merged: Dict[str, str] = {}
    # oldest files keep op params under "param" and user attributes under "attr"
    for key in ("param", "attr", "attrs"):
        value = entry.get(key)
        if isinstance(value, dict):
            merged.update({str(k): str(v) for k, v in value.items()})
        elif value is not None:
            raise InputFileError(source, f"node '{name}': '{key}' is not an object")
    merged = {_LEGACY_HIDDEN.get(k, k): v for k, v in merged.items()}
    hidden = {k: v for k, v in merged.items() if _is_hidden(k)}
    visible = {k: v for k, v in merged.items() if k not in hidden}
    inputs = tuple(
        _parse_ref(ref, node_id, source, f"inputs of node '{name}'")
        for ref in _list(entry.get("inputs", []), source, f"inputs of node '{name}'")
    )
    return Node(node_id, name, op, Attrs(name, op, visible), inputs, hidden)


def _is_hidden(key: str) -> bool:
    # "weight_lr_mult": a legacy training attribute of the op's input variable
    dunder = key.startswith("__") and key.endswith("__")
    return dunder or any(key.endswith("_" + legacy) for legacy in _LEGACY_HIDDEN)


def _parse_ref(ref: Any, limit: int, source: str, where: str) -> TensorRef:
    """[id, index] or [id, index, version]; ids must point at earlier nodes."""
    if (
        not isinstance(ref, list)
        or len(ref) not in (2, 3)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in ref)
    ):
        raise InputFileError(source, f"{where}: bad entry {ref!r} (expected [node_id, index])")
    node_id, index = ref[0], ref[1]
    if not 0 <= node_id < limit or index < 0:
        raise InputFileError(source, f"{where}: entry {ref!r} points outside the graph")
    return TensorRef(node_id, index)


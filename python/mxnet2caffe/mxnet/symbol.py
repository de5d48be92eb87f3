"""Reads an MXNet `*-symbol.json` into a Graph, in every format variant MXNet wrote.

Variants: op attributes under `attrs` (>= 0.12), `attr` or `param` (older); inputs and
heads as [id, index] or [id, index, version]; with or without `node_row_ptr`.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Dict, List

import numpy as np

from ..attrs import Attrs
from ..errors import InputFileError
from .graph import Graph, Node, TensorRef

# Files older than MXNet 0.9 name user attributes without underscores; MXNet renames them
# on load (kHiddenKeys in its c_api_common.h), so they are never op parameters.
_LEGACY_HIDDEN = {
    key: f"__{key}__" for key in ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")
}

# MXNet's files nest about five levels; the bound keeps hostile nesting from exhausting
# Python's recursion, and the one on numbers keeps huge literals from costing time
_MAX_DEPTH = 100
_MAX_NUMBER_CHARACTERS = 100
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # runs of plain characters, then escapes
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_LEGACY_SUFFIXES = tuple("_" + legacy for legacy in _LEGACY_HIDDEN)


class _BadNumber(ValueError):
    """A JSON number the reader refuses: too long, or beyond float's range."""


def read_symbol(path: str | os.PathLike[str]) -> Graph:
    """Reads and validates a symbol JSON file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read symbol file: {exc.strerror or exc}") from None
    depth = _nesting_depth(raw)
    if depth > _MAX_DEPTH:
        raise InputFileError(path, f"not an MXNet symbol: JSON nested {depth} levels deep (at most {_MAX_DEPTH})")
    try:
        document = json.loads(
            raw.decode("utf-8"), parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
        )
    except _BadNumber as exc:
        raise InputFileError(path, f"not an MXNet symbol: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON: {exc}") from None
    return parse_symbol(document, str(path))


def _nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest, brackets inside strings not counted."""
    brackets = np.frombuffer(_JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET), dtype=np.uint8)
    if not brackets.size:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _checked_length(text: str) -> str:
    if len(text) > _MAX_NUMBER_CHARACTERS:
        raise _BadNumber(f"a number of {len(text)} characters (at most {_MAX_NUMBER_CHARACTERS})")
    return text


def _parse_int(text: str) -> int:
    return int(_checked_length(text))


def _parse_float(text: str) -> float:
    value = float(_checked_length(text))
    if not math.isfinite(value):
        raise _BadNumber(f"the number {text} is out of range")
    return value


def _refuse_constant(text: str) -> Any:
    raise _BadNumber(f"{text} is not a JSON number")


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
        except (IndexError, TypeError, ValueError, OverflowError):
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
    visible: Dict[str, str] = {}
    hidden: Dict[str, str] = {}
    for key, text in _merged_attributes(entry, name, source).items():
        key = _LEGACY_HIDDEN.get(key, key)
        if _is_hidden(key):
            hidden[key] = text
        else:
            visible[key] = text
    where = f"inputs of node '{name}'"
    inputs = tuple(_parse_ref(ref, node_id, source, where) for ref in _list(entry.get("inputs", []), source, where))
    return Node(node_id, name, op, Attrs(name, op, visible), inputs, hidden)


def _merged_attributes(entry: Dict[str, Any], name: str, source: str) -> Dict[str, str]:
    """The node's attributes as one dict, later keys winning; legacy names not yet renamed."""
    merged: Dict[str, str] = {}
    # oldest files keep op params under "param" and user attributes under "attr"
    for key in ("param", "attr", "attrs"):
        value = entry.get(key)
        if isinstance(value, dict):
            for attribute, text in value.items():
                attribute = str(attribute)
                merged[attribute] = _attribute_text(text, name, attribute, source)
        elif value is not None:
            raise InputFileError(source, f"node '{name}': '{key}' is not an object")
    return merged


def _attribute_text(value: Any, node: str, key: str, source: str) -> str:
    """MXNet writes every attribute as a string; null or a list would read as a wrong string."""
    if type(value) is str:  # nearly always: no other check needed
        return value
    if value is None or isinstance(value, (list, dict)):
        kind = "null" if value is None else type(value).__name__
        raise InputFileError(source, f"node '{node}': attribute '{key}' is {kind}, not a string")
    return str(value)


def _is_hidden(key: str) -> bool:
    # "weight_lr_mult": a legacy training attribute of the op's input variable
    dunder = key.startswith("__") and key.endswith("__")
    return dunder or key.endswith(_LEGACY_SUFFIXES)


def _parse_ref(ref: Any, limit: int, source: str, where: str) -> TensorRef:
    """[id, index] or [id, index, version]; ids must point at earlier nodes."""
    if not isinstance(ref, list) or len(ref) not in (2, 3) or not _all_integers(ref):
        raise InputFileError(source, f"{where}: bad entry {ref!r} (expected [node_id, index])")
    node_id, index = ref[0], ref[1]
    if not 0 <= node_id < limit or index < 0:
        raise InputFileError(source, f"{where}: entry {ref!r} points outside the graph")
    return TensorRef(node_id, index)


def _all_integers(values: List[Any]) -> bool:
    for value in values:  # a plain loop: half the time of all() over a generator, per reference
        if not isinstance(value, int) or isinstance(value, bool):
            return False
    return True

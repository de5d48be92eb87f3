"""Every naming rule of the project, and the NameMap between MXNet outputs and Caffe blobs.

- MXNet names a node's outputs "NODE_output" (one visible output) or "NODE_outputI" (several), as
  `get_internals().list_outputs()` lists them. Files may repeat a node name, so an output is keyed
  by that name plus its occurrence: "fc7_output", then "fc7_output#2" for the second node fc7.
- Caffe blobs are named after the node ("NODE", or "NODE_outputI" for output I of several); the
  extra layers an op needs are "NODE/suffix". Lowering makes every name unique and valid, so a
  blob may end up "fc7_2": the NameMap, not the convention, says which blob holds which output.
- The NameMap travels with the model, as comment lines at the top of the prototxt
  (caffe/annotations.py), so `verify` on files converted earlier compares every layer.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

# what a blob or layer name may hold. Caffe and OpenCV 4 take any string, but spaces, quotes,
# commas or control characters break the scripts and the less forgiving toolchains (embedded NPU
# converters) people feed models to, so names keep to a conservative set
_INVALID = re.compile(r"[^A-Za-z0-9_./:+\-]")


# ops that list their output names themselves (FListOutputNames): numbered even when one
_NUMBERED_OUTPUT_OPS = frozenset({"SliceChannel", "split"})


def mxnet_output_name(node_name: str, index: int, count: int, op: str = "") -> str:
    """The name MXNet's get_internals() gives output `index` of a node of `op` with `count` outputs."""
    return f"{node_name}_output" if count == 1 and op not in _NUMBERED_OUTPUT_OPS else f"{node_name}_output{index}"


def output_key(output_name: str, occurrence: int) -> str:
    """The NameMap key of an MXNet output: its name, with "#N" for the N-th node of that name."""
    return output_name if occurrence == 0 else f"{output_name}#{occurrence + 1}"


def output_keys(output_names: Sequence[str]) -> List[str]:
    """Keys for MXNet's list_outputs() in its order: repeated names get #2, #3 ..."""
    seen: Dict[str, int] = {}
    keys = []
    for name in output_names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        keys.append(output_key(name, count))
    return keys


def node_blob(node_name: str, index: int = 0, count: int = 1) -> str:
    """The Caffe blob (and layer) name a converter gives output `index` of a node."""
    return node_name if count == 1 else f"{node_name}_output{index}"


def helper_name(node_name: str, suffix: str) -> str:
    """The name of an extra layer or blob an op needs besides its output."""
    return f"{node_name}/{suffix}"


def valid_name(name: str) -> str:
    """`name` with characters outside the conservative set replaced by '_'."""
    return _INVALID.sub("_", name) or "_"


def fresh_name(base: str, used: Set[str]) -> str:
    """`base` if unused, else base_2, base_3 ...: deterministic, in the order names are claimed."""
    if base not in used:
        return base
    number = 2
    while f"{base}_{number}" in used:
        number += 1
    return f"{base}_{number}"


class NameMap:
    """MXNet output key -> the Caffe blob holding its value, in MXNet's topological order.

    Lowering fills it; every pass that renames or removes a blob updates it (through Net)."""

    def __init__(self, entries: Iterable[Tuple[str, str]] = ()) -> None:
        self._blobs: Dict[str, str] = dict(entries)

    def add(self, key: str, blob: str) -> None:
        self._blobs[key] = blob

    def blob(self, key: str) -> Optional[str]:
        return self._blobs.get(key)

    def rename_blob(self, old: str, new: str) -> None:
        for key, blob in self._blobs.items():
            if blob == old:
                self._blobs[key] = new

    def drop_blob(self, blob: str) -> None:
        """Forgets the outputs held by `blob` (a pass computed it away)."""
        self._blobs = {key: value for key, value in self._blobs.items() if value != blob}

    def items(self) -> Iterator[Tuple[str, str]]:
        return iter(list(self._blobs.items()))

    def as_dict(self) -> Dict[str, str]:
        return dict(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

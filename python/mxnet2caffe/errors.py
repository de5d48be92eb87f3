"""Errors the converter reports to its user.

Every error is a ConversionError; the CLI prints its message and exits non-zero, so
messages must name the file, node and op a user has to look at.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence, Tuple

# Messages quote what the user's file holds; hostile files hold megabytes. These helpers keep
# every quoted value to a few dozen characters, so a message stays a line or two.
_QUOTED_CHARACTERS = 60
_LISTED_ITEMS = 6
_LONGEST_MESSAGE = 2000
# longer than any path a user would type
_LONG_WORD = re.compile(r"\S{300,}")


def shortened(value: Any, limit: int = _QUOTED_CHARACTERS) -> str:
    """str(value), cut to `limit` characters with the length said."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def listed(items: Sequence[Any], limit: int = _LISTED_ITEMS) -> str:
    """A tuple or list as (a, b, c), each item cut, the first `limit` items then the count of the rest."""
    shown = [shortened(repr(item) if isinstance(item, str) else item, 40) for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"... {len(items) - limit} more")
    return "(" + ", ".join(shown) + ("," if len(items) == 1 else "") + ")"


def shortened_mapping(values: Mapping[str, str], limit: int = _LISTED_ITEMS) -> str:
    """{key: value, ...} with each value cut and at most `limit` entries."""
    shown = ", ".join(f"{shortened(k, 40)}: {shortened(v, 40)}" for k, v in list(values.items())[:limit])
    more = len(values) - limit
    return "{" + shown + (f", ... {more} more" if more > 0 else "") + "}"


def log_summarized(log: logging.Logger, lines: Sequence[str], limit: int = 5) -> None:
    """Warns the first `limit` lines, then how many more there were, in one line."""
    for line in lines[:limit]:
        log.warning("%s", line)
    if len(lines) > limit:
        log.warning("... and %d more like these", len(lines) - limit)


class ConversionError(Exception):
    """Base of every error the converter reports to the user."""

    def __str__(self) -> str:
        # the last guard, for a quote that did not go through the helpers above: long runs
        # without a space (an attribute's value, a name) are cut, then the whole message
        text = _LONG_WORD.sub(lambda match: shortened(match.group(), 100), super().__str__())
        return shortened(text, _LONGEST_MESSAGE)


class InputFileError(ConversionError):
    """A model file is missing, unreadable or malformed."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


class OutputFileError(ConversionError):
    """An output file cannot be written (no space, no permission, a directory in the way)."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


class NodeError(ConversionError):
    """A node of the graph cannot be converted as it stands."""

    def __init__(self, node_name: str, op: str, message: str) -> None:
        super().__init__(f"node '{shortened(node_name)}' (op {shortened(op)}): {message}")
        self.node_name = node_name
        self.op = op


class UnsupportedOpsError(ConversionError):
    """The graph uses ops without a converter; lists all of them at once."""

    def __init__(self, nodes: Iterable[Tuple[str, str]], hint: str = "") -> None:
        nodes = list(nodes)
        counts = Counter(op for op, _ in nodes)
        lines = []
        for op, count in sorted(counts.items()):
            names = [name for node_op, name in nodes if node_op == op]
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            lines.append(f"  {op} x{count}: {shown}")
        super().__init__(
            f"{len(nodes)} node(s) use unsupported ops:\n" + "\n".join(lines) + (f"\n{hint}" if hint else "")
        )
        self.ops = dict(counts)


class RuntimeMissingError(ConversionError):
    """A runtime needed for verification (MXNet, OpenCV, pycaffe) is not installed."""


class ShapeError(ConversionError):
    """Input shapes given by the user do not fit the graph."""


class NativeLayerError(ConversionError):
    """The native Caffe layers cannot be built or loaded."""


class CaffeHomeError(NativeLayerError):
    """There is no Caffe home (headers and a shared libcaffe) to build the layers against."""


class PluginBuildError(NativeLayerError):
    """CMake or the compiler failed on the layer sources."""


class PluginError(ConversionError):
    """A plugin cannot be loaded, or what it registers clashes with mxnet2caffe's or another plugin's."""

"""Errors the converter reports to its user.

Every error is a ConversionError; the CLI prints its message and exits non-zero, so
messages must name the file, node and op a user has to look at.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable, Tuple


class ConversionError(Exception):
    """Base of every error the converter reports to the user."""


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
        super().__init__(f"node '{node_name}' (op {op}): {message}")
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

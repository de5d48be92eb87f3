"""mxnet2caffe: convert MXNet models to Caffe models that give the same numbers.

The public names are imported when first used (PEP 562), so `import mxnet2caffe` and the
command line's start-up stay cheap: numpy, protobuf and the pipeline load only when a
conversion needs them, and the command line is already guarding against interrupts by then.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module

TYPE_CHECKING = False  # typing is not imported: this runs before the command line's interrupt guard
if TYPE_CHECKING:
    from typing import Any, Dict, List

    from .convert import ConversionSummary, convert
    from .errors import (
        ConversionError,
        InputFileError,
        NodeError,
        PluginError,
        ShapeError,
        UnsupportedOpsError,
    )
    from .options import ConvertOptions
    from .verify.report import VerifyReport, verify

# public name -> the module that defines it
_HOMES: Dict[str, str] = {
    "ConversionError": ".errors",
    "ConversionSummary": ".convert",
    "ConvertOptions": ".options",
    "InputFileError": ".errors",
    "NodeError": ".errors",
    "PluginError": ".errors",
    "ShapeError": ".errors",
    "UnsupportedOpsError": ".errors",
    "VerifyReport": ".verify.report",
    "convert": ".convert",
    "verify": ".verify.report",
}

__all__ = [
    "ConversionError",
    "ConversionSummary",
    "ConvertOptions",
    "InputFileError",
    "NodeError",
    "PluginError",
    "ShapeError",
    "UnsupportedOpsError",
    "VerifyReport",
    "convert",
    "verify",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_HOMES))


class _Package(types.ModuleType):
    """`convert` and `verify` name both a function and a submodule. Importing a submodule
    sets the package attribute of its name to the module; the function keeps the name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""mxnet2caffe: convert MXNet models to Caffe models that give the same numbers."""

from .convert import ConversionSummary, convert
from .errors import (
    ConversionError,
    InputFileError,
    NodeError,
    ShapeError,
    UnsupportedOpsError,
)
from .options import ConvertOptions
from .verify.report import VerifyReport, verify

__all__ = [
    "ConversionError",
    "ConversionSummary",
    "ConvertOptions",
    "InputFileError",
    "NodeError",
    "ShapeError",
    "UnsupportedOpsError",
    "VerifyReport",
    "convert",
    "verify",
]

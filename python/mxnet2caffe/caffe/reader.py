"""Reading Caffe models back: for verification and for tests that inspect our output."""

from __future__ import annotations

import os
from typing import Any, Dict, Tuple

from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from ..errors import InputFileError
from .schema import NetParameter


def _read(path: str | os.PathLike[str], mode: str) -> Any:
    try:
        with open(path, mode) as handle:
            return handle.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None


def read_prototxt(path: str | os.PathLike[str]) -> Message:
    """Parses a .prototxt into a NetParameter; fields our schema lacks are skipped, not fatal."""
    try:
        return text_format.Parse(_read(path, "r"), NetParameter(), allow_unknown_field=True)
    except (text_format.ParseError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not a Caffe prototxt: {exc}") from None


def read_caffemodel(path: str | os.PathLike[str]) -> Message:
    """Parses a .caffemodel into a NetParameter."""
    try:
        return NetParameter.FromString(_read(path, "rb"))
    except DecodeError as exc:
        raise InputFileError(path, f"not a Caffe model: {exc}") from None


def input_shapes(net: Message) -> Dict[str, Tuple[int, ...]]:
    """Shapes of a NetParameter's Input layers (the form our writer emits)."""
    return {
        layer.top[0]: tuple(layer.input_param.shape[0].dim)
        for layer in net.layer
        if layer.type == "Input" and layer.input_param.shape
    }

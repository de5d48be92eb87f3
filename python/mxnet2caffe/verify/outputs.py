"""Output-level verification: the converted model's outputs against MXNet's."""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Sequence

import numpy as np
from google.protobuf import text_format

from ..caffe.schema import NetParameter
from ..errors import ConversionError, InputFileError
from .compare import Comparison, compare
from .runtimes import mxnet_forward, opencv_forward

BACKENDS = {"opencv": opencv_forward}


def random_inputs(shapes: Mapping[str, Sequence[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """A seeded standard-normal tensor per input: the same on every run."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(tuple(shape)).astype(np.float32) for name, shape in shapes.items()}


def verify_outputs(
    symbol: "str | os.PathLike[str]",
    params: "str | os.PathLike[str]",
    prototxt: "str | os.PathLike[str]",
    caffemodel: "str | os.PathLike[str]",
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    backend: str = "opencv",
) -> List[Comparison]:
    """Runs both models on `inputs`; one Comparison per output, in the symbol's head order."""
    if backend not in BACKENDS:
        raise ConversionError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    expected = mxnet_forward(symbol, params, inputs)
    actual = BACKENDS[backend](prototxt, caffemodel, inputs, outputs)
    if len(expected) != len(outputs):
        raise ConversionError(
            f"{symbol}: MXNet gives {len(expected)} outputs but the Caffe model has {len(outputs)}"
        )
    return [compare(name, got, want) for name, got, want in zip(outputs, actual, expected)]


def read_prototxt(path: "str | os.PathLike[str]"):
    """Parses a .prototxt with our schema; errors name the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return text_format.Parse(text, NetParameter(), allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise InputFileError(path, f"not a Caffe prototxt: {exc}") from None


def input_shapes(prototxt: "str | os.PathLike[str]") -> Dict[str, tuple]:
    """Shapes of a net's Input layers (the form our writer emits)."""
    net = read_prototxt(prototxt)
    return {
        layer.top[0]: tuple(layer.input_param.shape[0].dim)
        for layer in net.layer
        if layer.type == "Input" and layer.input_param.shape
    }

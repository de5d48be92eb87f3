"""Assembles ONNX nodes and initializers with unique names, and tracks every value's shape.

Values are named after the Caffe blobs holding them (verify looks them up that way); helper values
and initializers get names no blob, no layer and no other value has (fresh_name), so a weight can
never shadow a value, which MXNet's own exporter lets happen.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Set

import numpy as np

from ..caffe.net import Shape
from ..errors import ConversionError
from ..naming import fresh_name
from ..runtimes.imports import require


class GraphBuilder:
    def __init__(self, reserved: Set[str], batch: int, dynamic_batch: bool) -> None:
        """`reserved`: names of the net's blobs and layers; `batch`: the converted batch size,
        which a dynamic batch makes symbolic."""
        self.helper = require("onnx").helper
        self.numpy_helper = require("onnx").numpy_helper
        self.nodes: List[Any] = []  # onnx.NodeProto
        self.initializers: List[Any] = []  # onnx.TensorProto
        self.shapes: Dict[str, Shape] = {}  # value -> shape at the converted batch size
        self.integer_values: Set[str] = set()  # computed int64 values (a Shape's); the rest are float32
        self.batch = batch
        self.dynamic_batch = dynamic_batch
        self._used = set(reserved)
        self._values: Dict[str, str] = {}  # Caffe blob -> the ONNX value holding it now

    def fresh(self, base: str) -> str:
        name = fresh_name(base, self._used)
        self._used.add(name)
        return name

    def value(self, blob: str) -> str:
        if blob not in self._values:
            raise ConversionError(f"blob '{blob}' is read before any layer writes it")
        return self._values[blob]

    def shape(self, blob: str) -> Shape:
        return self.shapes[self.value(blob)]

    def define(self, blob: str, shape: Shape) -> str:
        """The value a layer writes blob `blob` to: the blob's name, or a fresh one for a blob
        written again (an in-place layer of a hand-written prototxt)."""
        name = blob if blob not in self._values else self.fresh(blob)
        self._used.add(name)
        self._values[blob] = name
        self.shapes[name] = tuple(shape)
        return name

    def constant(self, base: str, array: Any, dtype: Any = np.float32) -> str:
        """An initializer of `array` (an array or a number) as `dtype`, under a fresh name."""
        name = self.fresh(base)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array, dtype=dtype), name))
        self.shapes[name] = tuple(np.shape(array))
        return name

    def ints(self, base: str, values: Sequence[int]) -> str:
        return self.constant(base, np.asarray(list(values)), np.int64)

    def node(self, op: str, inputs: Sequence[str], output: str, shape: Shape, **attrs: Any) -> str:
        """Adds one node writing `output` (a name from define or fresh), of the given shape."""
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=output, **attrs))
        self.shapes[output] = tuple(shape)
        return output

    def step(self, op: str, inputs: Sequence[str], base: str, shape: Shape, **attrs: Any) -> str:
        """A helper node writing a fresh value named after `base`."""
        return self.node(op, inputs, self.fresh(base), shape, **attrs)

    def reshape_dims(self, shape: Shape, where: str, batched: bool = True) -> List[int]:
        """Reshape's target dims: the shape itself, or for a `batched` tensor with a dynamic
        batch -1 on axis 0, which must then hold the batch (alone or folded with later axes)."""
        dims = list(shape)
        if not self.dynamic_batch or not batched:
            return dims
        if not dims or dims[0] % self.batch:
            raise ConversionError(
                f"{where}: a dynamic batch needs the batch on axis 0, but the layer reshapes to {tuple(shape)}"
            )
        dims[0] = -1
        return dims

    def reshape(self, value: str, shape: Shape, output: str, where: str, batched: bool = True) -> str:
        dims = self.ints(f"{output}/shape", self.reshape_dims(shape, where, batched))
        return self.node("Reshape", [value, dims], output, shape)

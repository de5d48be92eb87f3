"""A Caffe model (.prototxt + .caffemodel) read back into the Net IR: what the writer writes, and
the forms people write by hand.

- inputs: Input layers, or the net-level `input` with `input_shape` or four `input_dim` per input;
- params: nested dicts keyed by our caffe.proto field names, only the fields set, enums by name
  (what caffe/writer.py's _fill takes); Convolution/Pooling `kernel_size`/`pad`/`stride` become
  the _h/_w fields;
- in-place layers (top == bottom): every value gets its own name (SSA). The last value written to
  a blob keeps the blob's name, because that is what the blob holds after a forward pass in Caffe;
  the earlier ones get fresh names;
- weights: the .caffemodel's blobs of the layer with the same name, as float32 arrays.

`net.shapes` holds the inputs' shapes and `net.outputs` (the tops no layer reads) have no shape
yet (shape ()): shapes follow from running the layers, which the ONNX emitter does
(onnx.emit.infer_shapes). The NameMap and input transforms of our header are read as well.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence, Set, Union

import numpy as np
from google.protobuf.message import Message

from ..errors import ConversionError
from ..naming import fresh_name
from .annotations import read_annotations
from .net import Layer, Net, Shape, Tensor
from .reader import read_caffemodel, read_prototxt

PathLike = Union[str, "os.PathLike[str]"]
# LayerParameter fields that are the layer itself, not its parameters
_LAYER_FIELDS = frozenset({"name", "type", "bottom", "top", "blobs"})
# fields given once for both axes, and the per-axis fields they stand for
_PER_AXIS = (("kernel_size", "kernel"), ("pad", "pad"), ("stride", "stride"))
_GEOMETRY_PARAMS = ("convolution_param", "pooling_param")


def _plain(field: Any, item: Any) -> Any:
    """One value of a field (a FieldDescriptor): a message as a dict, an enum by name."""
    if field.message_type is not None:
        return message_dict(item)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[item].name
    return item


def message_dict(message: Message) -> Dict[str, Any]:
    """The set fields of a message as nested dicts: repeated fields as lists, enums by name."""
    values: Dict[str, Any] = {}
    for field, value in message.ListFields():
        # protobuf 6 added is_repeated and later ones dropped label
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        values[field.name] = [_plain(field, item) for item in value] if repeated else _plain(field, value)
    return values


def _per_axis(param: Mapping[str, Any]) -> Dict[str, Any]:
    """kernel_size/pad/stride (one value, or one per axis) as NAME_h/NAME_w fields."""
    normalized = dict(param)
    for single, prefix in _PER_AXIS:
        if single not in normalized:
            continue
        given = normalized.pop(single)
        values = list(given) if isinstance(given, list) else [given]
        if f"{prefix}_h" in param or f"{prefix}_w" in param or not values:
            continue  # Caffe lets the _h/_w fields win
        if len(values) > 2:
            raise ConversionError(f"{single} {values}: only 2-d convolution and pooling are supported")
        normalized[f"{prefix}_h"], normalized[f"{prefix}_w"] = values[0], values[-1]
    return normalized


def _params(message: Message) -> Dict[str, Dict[str, Any]]:
    params = {key: value for key, value in message_dict(message).items() if key not in _LAYER_FIELDS}
    for key in _GEOMETRY_PARAMS:
        if key in params:
            params[key] = _per_axis(params[key])
    return params


def blob_array(blob: Message, where: str) -> np.ndarray:
    """A BlobProto's values as float32, in its shape."""
    if not blob.HasField("shape"):
        # the legacy 4-d num/channels/height/width cannot tell a weight's real axes from padding ones
        raise ConversionError(
            f"{where} has the legacy num/channels/height/width shape: re-save it with a current Caffe"
        )
    shape = tuple(int(d) for d in blob.shape.dim)
    array = np.asarray(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if array.size != int(np.prod(shape)):
        raise ConversionError(f"{where}: {array.size} values for shape {shape}")
    return array.reshape(shape)


def _net_level_inputs(message: Message) -> List[Tensor]:
    """`input:` names with `input_shape` blocks, or four `input_dim` values per input."""
    names: Sequence[str] = list(message.input)
    if message.input_shape:
        shapes = [tuple(shape.dim) for shape in message.input_shape]
    else:
        dims = list(message.input_dim)
        shapes = [tuple(dims[i : i + 4]) for i in range(0, len(dims), 4)]
    if len(shapes) != len(names):
        raise ConversionError(f"net-level inputs {list(names)} come with {len(shapes)} shapes")
    return [Tensor(name, tuple(int(d) for d in shape)) for name, shape in zip(names, shapes)]


class _Values:
    """SSA names for blobs written more than once: the last writer keeps the blob's name, except
    for a net input, which always does (it is what users feed)."""

    def __init__(self, inputs: Sequence[str], writes: Mapping[str, int], used: Set[str]) -> None:
        self._inputs = set(inputs)
        self._left = dict(writes)  # blob -> layer writes still to come
        self._current = {blob: blob for blob in inputs}
        self._used = used

    def read(self, blob: str) -> str:
        if blob not in self._current:
            raise ConversionError(f"blob '{blob}' is read before any layer or input writes it")
        return self._current[blob]

    def write(self, blob: str) -> str:
        self._left[blob] -= 1
        last = self._left[blob] == 0 and blob not in self._inputs
        name = blob if last else fresh_name(f"{blob}/inplace", self._used)
        self._used.add(name)
        self._current[blob] = name
        return name


def read_net(prototxt: PathLike, caffemodel: PathLike) -> Net:
    """The Caffe model as a Net (see the module docstring for what is and is not filled in)."""
    message = read_prototxt(prototxt)
    weights = {layer.name: layer for layer in read_caffemodel(caffemodel).layer}
    with open(prototxt, encoding="utf-8", errors="replace") as handle:
        annotations = read_annotations(handle.read())
    inputs = _net_level_inputs(message)
    layers = []
    for layer in message.layer:
        if layer.type != "Input":
            layers.append(layer)
            continue
        shapes = list(layer.input_param.shape)
        if len(shapes) not in (1, len(layer.top)):
            raise ConversionError(f"Input layer '{layer.name}': {len(shapes)} shapes for {len(layer.top)} tops")
        dims = [tuple(int(d) for d in shapes[min(i, len(shapes) - 1)].dim) for i in range(len(layer.top))]
        inputs += [Tensor(top, shape) for top, shape in zip(layer.top, dims)]
    writes: Dict[str, int] = {}
    for layer in layers:
        for top in layer.top:
            writes[top] = writes.get(top, 0) + 1
    used = set(writes) | {t.blob for t in inputs} | {layer.name for layer in layers}
    values = _Values([t.blob for t in inputs], writes, used)
    net = Net(message.name or "net", inputs=inputs)
    for layer in layers:
        stored = weights.get(layer.name)
        blobs = tuple(
            blob_array(blob, f"layer '{layer.name}' blob {index}")
            for index, blob in enumerate(stored.blobs if stored is not None else layer.blobs)
        )
        bottoms = tuple(values.read(bottom) for bottom in layer.bottom)
        tops = tuple(values.write(top) for top in layer.top)
        net.layers.append(Layer(layer.name, layer.type, bottoms, tops, _params(layer), blobs))
    read = {bottom for layer in net.layers for bottom in layer.bottoms}
    net.outputs = [Tensor(top, ()) for layer in net.layers for top in layer.tops if top not in read]
    net.shapes = {tensor.blob: tensor.shape for tensor in net.inputs}
    if annotations.names is not None:
        net.names = annotations.names
    net.input_transforms = dict(annotations.inputs)
    return net


def output_shapes(net: Net, shapes: Mapping[str, Shape]) -> None:
    """Gives the net's outputs and every blob in `shapes` their shapes (computed by a runtime)."""
    net.shapes.update(shapes)
    net.outputs = [Tensor(tensor.blob, tuple(shapes[tensor.blob])) for tensor in net.outputs]

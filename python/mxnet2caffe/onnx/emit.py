"""Net -> onnx.ModelProto: inputs, one emitter per layer (layers.py), outputs in the net's order.

Weights are initializers only, never graph inputs; every value has its shape in value_info, which
the checker's full shape inference then confirms. With a dynamic batch, axis 0 of the inputs and
outputs is the symbol "N" and helper shapes leave it open.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence

from ..caffe.net import Net, Shape
from ..errors import ConversionError
from ..runtimes.imports import require
from .builder import GraphBuilder
from .layers import emit_layer
from .tensorrt import DEFAULT_OPSET, IR_VERSION, OPSETS

log = logging.getLogger(__name__)
BATCH_SYMBOL = "N"


def _value_info(onnx: Any, name: str, shape: Shape, dynamic: bool, batch: Optional[str] = BATCH_SYMBOL) -> Any:
    """A float tensor's type; `dynamic`: axis 0 is `batch` (a symbol, or None: unknown)."""
    dims = [batch if dynamic and index == 0 else size for index, size in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def _emit_layers(net: Net, batch: int, dynamic_batch: bool) -> GraphBuilder:
    """Every layer's nodes, each top's shape checked against the net's where it has one."""
    builder = GraphBuilder(net.used_names(), batch, dynamic_batch)
    for tensor in net.inputs:
        builder.define(tensor.blob, tensor.shape)
    for layer in net.layers:
        emit_layer(builder, layer)
        for top in layer.tops:
            known = net.shapes.get(top)
            if known is not None and tuple(known) != builder.shape(top):
                raise ConversionError(
                    f"layer '{layer.name}' ({layer.type}): ONNX shape {builder.shape(top)} of '{top}' "
                    f"differs from the net's {tuple(known)}"
                )
    return builder


def infer_shapes(net: Net) -> Dict[str, Shape]:
    """Every blob's shape, as the emitter computes it (a Caffe model read back has only its inputs')."""
    if not net.inputs:
        raise ConversionError(f"net '{net.name}' has no inputs")
    builder = _emit_layers(net, net.inputs[0].shape[0] if net.inputs[0].shape else 1, dynamic_batch=False)
    blobs = [t.blob for t in net.inputs] + [top for layer in net.layers for top in layer.tops]
    return {blob: builder.shape(blob) for blob in blobs}


def net_to_onnx(
    net: Net, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False, extra_outputs: Sequence[str] = ()
) -> Any:
    """The ONNX model (onnx.ModelProto) computing what the Net computes; `extra_outputs`: blobs
    to expose as graph outputs too, after the net's (verify reads intermediate values so)."""
    onnx = require("onnx")
    if opset not in OPSETS:
        raise ConversionError(f"opset {opset} is not supported; choose {OPSETS.start}..{OPSETS.stop - 1}")
    if not net.inputs:
        raise ConversionError(f"net '{net.name}' has no inputs")
    batch = net.inputs[0].shape[0] if net.inputs[0].shape else 1
    if dynamic_batch and (batch < 2 or any(not t.shape or t.shape[0] != batch for t in net.inputs)):
        raise ConversionError(
            "a dynamic batch needs a net converted at one batch of 2 or more on axis 0 of every input "
            "(at batch 1 the batch axis cannot be told from other axes of size 1)"
        )
    builder = _emit_layers(net, batch, dynamic_batch)
    outputs = [_value_info(onnx, builder.value(t.blob), t.shape, dynamic_batch) for t in net.outputs]
    exposed = {t.blob for t in net.outputs}
    for blob in dict.fromkeys(extra_outputs):
        if blob not in exposed:
            outputs.append(_value_info(onnx, builder.value(blob), builder.shape(blob), dynamic_batch))
            exposed.add(blob)
    graph_values = {t.blob for t in net.inputs} | {value.name for value in outputs}
    initializers = {tensor.name for tensor in builder.initializers}
    value_info = [
        _value_info(onnx, name, shape, dynamic_batch, batch=None)
        for name, shape in builder.shapes.items()
        if name not in graph_values and name not in initializers and name not in builder.integer_values
    ]
    graph = onnx.helper.make_graph(
        builder.nodes,
        net.name,
        [_value_info(onnx, t.blob, t.shape, dynamic_batch) for t in net.inputs],
        outputs,
        initializer=builder.initializers,
        value_info=value_info,
    )
    model = onnx.helper.make_model(
        graph, producer_name="mxnet2caffe", opset_imports=[onnx.helper.make_opsetid("", opset)]
    )
    model.ir_version = IR_VERSION
    log.info("ONNX graph: %d nodes, %d initializers, opset %d", len(builder.nodes), len(builder.initializers), opset)
    return model

"""The conversion driver: Graph + params + input shapes -> Caffe Net -> files."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np

from . import converters  # noqa: F401  (registers every converter)
from .caffe.net import Layer, Net, Shape, Tensor
from .caffe.writer import write_net
from .converters.context import NodeContext
from .converters.options import ConvertOptions
from .converters.registry import is_supported, lookup
from .errors import ConversionError, NodeError, ShapeError, UnsupportedOpsError
from .graph import Graph, Node, TensorRef
from .mxnet.params import read_params
from .mxnet.symbol import read_symbol

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ConversionSummary:
    prototxt: Optional[Path]
    caffemodel: Optional[Path]
    inputs: Dict[str, Shape]
    outputs: Dict[str, Shape]
    layer_count: int
    # MXNet output name (as get_internals() lists it) -> Caffe blob with its value
    blob_of_output: Dict[str, str] = field(default_factory=dict)


def unsupported_nodes(graph: Graph) -> List[Tuple[str, str]]:
    """(op, node name) for every node the heads need that no converter handles."""
    return [
        (node.op, node.name)
        for node in graph.reachable()
        if not node.is_variable and not is_supported(node.op)
    ]


# names MXNet gives weights, aux states and training labels: never a data input
_NOT_DATA_SUFFIXES = ("weight", "bias", "gamma", "beta", "moving_mean", "moving_var", "alpha", "label")


def candidate_inputs(graph: Graph, params: Mapping[str, np.ndarray]) -> List[str]:
    """Variables with no value in the params: the data inputs (and labels, lost weights)."""
    return [node.name for node in graph.variables() if node.name not in params]


def likely_data_inputs(graph: Graph, params: Mapping[str, np.ndarray]) -> List[str]:
    """The candidates not named like a weight or label: what a bare input shape is for."""
    return [name for name in candidate_inputs(graph, params) if not name.endswith(_NOT_DATA_SUFFIXES)]


def resolve_input_shapes(
    graph: Graph, params: Mapping[str, np.ndarray], shapes: Mapping[str, Sequence[int]]
) -> Dict[str, Shape]:
    """Checks user-given shapes; the name '' stands for the graph's only data input."""
    candidates = candidate_inputs(graph, params)
    resolved: Dict[str, Shape] = {}
    for name, shape in shapes.items():
        if name == "":
            data = likely_data_inputs(graph, params)
            if len(data) != 1:
                raise ShapeError(
                    f"{graph.source}: a shape without a name needs exactly one data input, "
                    f"the graph has {data or 'none'}: use --input-shape NAME:DIMS"
                )
            name = data[0]
        if name not in candidates:
            raise ShapeError(
                f"{graph.source}: '{name}' is not an input of the graph "
                f"(inputs without params: {candidates or 'none'})"
            )
        resolved[name] = tuple(int(d) for d in shape)
    if not resolved:
        raise ShapeError(f"{graph.source}: no input shape given (inputs: {candidates})")
    return resolved


def build_net(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    options: Optional[ConvertOptions] = None,
    name: str = "",
) -> Net:
    """Converts every node the heads need; raises before building if any op is unsupported."""
    options = options or ConvertOptions()
    missing = unsupported_nodes(graph)
    if missing:
        raise UnsupportedOpsError(missing)
    shapes = resolve_input_shapes(graph, params, input_shapes)
    net = Net(name=name or Path(graph.source).stem.replace("-symbol", ""))
    tensors: Dict[TensorRef, Tensor] = {}
    used_params: Set[str] = set()
    for node in graph.reachable():
        if node.is_variable:
            if node.name in shapes:
                tensor = Tensor(node.name, shapes[node.name])
                net.inputs.append(tensor)
                tensors[TensorRef(node.id, 0)] = tensor
            continue
        context = _context(graph, node, tensors, params, options)
        converted = lookup(node.op)(context)
        used_params |= context.used_params
        net.layers.extend(converted.layers)
        for index, tensor in enumerate(converted.outputs):
            tensors[TensorRef(node.id, index)] = tensor
            net.blob_of_output[_mxnet_output_name(node, index, len(converted.outputs))] = tensor.blob
        _log_unread_attributes(node)
    _add_outputs(graph, net, tensors)
    _log_unused_params(params, used_params)
    return net


def _context(
    graph: Graph,
    node: Node,
    tensors: Mapping[TensorRef, Tensor],
    params: Mapping[str, np.ndarray],
    options: ConvertOptions,
) -> NodeContext:
    inputs: List[Optional[Tensor]] = []
    weight_names: List[Optional[str]] = []
    for ref in node.inputs:
        source = graph.node(ref)
        tensor = tensors.get(ref)
        inputs.append(tensor)
        weight_names.append(source.name if source.is_variable and tensor is None else None)
    return NodeContext(node, inputs, weight_names, params, options)


def _mxnet_output_name(node: Node, index: int, count: int) -> str:
    return f"{node.name}_output" if count == 1 else f"{node.name}_output{index}"


def _add_outputs(graph: Graph, net: Net, tensors: Mapping[TensorRef, Tensor]) -> None:
    """Heads become net outputs named after their node.

    An identity op (Dropout at inference, _copy) at a head leaves its input's blob, so a
    Power layer with its defaults (y = x) gives the output its own name.
    """
    for ref in graph.heads:
        node = graph.node(ref)
        tensor = tensors.get(ref)
        if tensor is None and node.is_variable:
            raise ConversionError(f"{graph.source}: head '{node.name}' is a weight variable, not an output")
        if tensor is None:
            raise NodeError(node.name, node.op, f"output {ref.index} is a head but has no Caffe equivalent")
        if not node.is_variable and tensor in [tensors.get(r) for r in node.inputs]:
            net.layers.append(Layer(node.name, "Power", (tensor.blob,), (node.name,)))
            tensor = Tensor(node.name, tensor.shape)
        net.outputs.append(tensor)


def _log_unread_attributes(node: Node) -> None:
    unread = node.attrs.unread()
    if unread:
        log.warning("node '%s' (op %s): attributes not used by the converter: %s", node.name, node.op, unread)


def _log_unused_params(params: Mapping[str, np.ndarray], used: Set[str]) -> None:
    unused = sorted(set(params) - used)
    if unused:
        log.info("%d params not used by the graph's outputs: %s", len(unused), ", ".join(unused[:10]))


def convert(
    symbol: Union[PathLike, Graph],
    params: Union[PathLike, Mapping[str, np.ndarray]],
    input_shapes: Mapping[str, Sequence[int]],
    output: Optional[PathLike] = None,
    options: Optional[ConvertOptions] = None,
) -> ConversionSummary:
    """Converts an MXNet model; writes OUTPUT.prototxt and OUTPUT.caffemodel if `output`.

    `symbol` and `params` are file paths (or an already read Graph / name->array dict);
    `input_shapes` maps input names to shapes ('' for the only input).
    """
    graph = symbol if isinstance(symbol, Graph) else read_symbol(symbol)
    arrays = params if isinstance(params, Mapping) else read_params(params)
    name = Path(output).name if output is not None else ""
    net = build_net(graph, arrays, input_shapes, options, name=name)
    prototxt = caffemodel = None
    if output is not None:
        prototxt, caffemodel = write_net(net, output)
        log.info("wrote %s and %s (%d layers)", prototxt, caffemodel, len(net.layers))
    return ConversionSummary(
        prototxt=prototxt,
        caffemodel=caffemodel,
        inputs={t.blob: t.shape for t in net.inputs},
        outputs={t.blob: t.shape for t in net.outputs},
        layer_count=len(net.layers),
        blob_of_output=dict(net.blob_of_output),
    )

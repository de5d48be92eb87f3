"""Lowering: the MXNet Graph -> a Caffe Net, one converter call per node.

Lowering also makes names unique and valid: files repeat node names (a Convolution and a
Flatten both named fc7), name nodes like our helper layers, or use characters OpenCV cannot
address. Each name a converter proposes is claimed in graph order; a taken or invalid one is
renamed deterministically (fc7, fc7_2), the NameMap records where every MXNet output went,
and a note says what was renamed.
"""

from __future__ import annotations

import logging
import math
import operator
from collections import Counter
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

from . import converters  # noqa: F401  (registers every converter)
from .caffe.net import InputTransform, Layer, Net, Shape, Tensor
from .converters.context import Converted, NodeContext
from .converters.registry import BUILTIN, is_supported, lookup, op_origin
from .errors import (
    ConversionError,
    NodeError,
    ShapeError,
    UnsupportedOpsError,
    listed,
    log_summarized,
    shortened,
    shortened_mapping,
)
from .mxnet.graph import Graph, Node, TensorRef
from .naming import fresh_name, helper_name, mxnet_output_name, output_key, valid_name
from .options import MAX_BLOB_ELEMENTS, ConvertOptions
from .plugins import exception_summary

log = logging.getLogger(__name__)

# names MXNet gives weights, aux states and training labels: never a data input
_NOT_DATA_SUFFIXES = ("weight", "bias", "gamma", "beta", "moving_mean", "moving_var", "alpha", "label")
# at most this many renamings are listed one by one in the note
_RENAMES_LISTED = 10
# at most this many cut points are suggested when ops are unsupported
_CUTS_LISTED = 20
# converters see input i under this blob name. Every name a converter proposes starts with its
# node's name, so a helper it names like the blob of an input (a node "s" reshaping into "s/reshape"
# while another node named "s/reshape" feeds it) cannot be mistaken for that input
_INPUT_PLACEHOLDER = "\0input{}"


def unsupported_nodes(graph: Graph) -> List[Tuple[str, str]]:
    """(op, node name) for every node the heads need that no converter handles."""
    return _unsupported(graph.reachable())


def _unsupported(nodes: Sequence[Node]) -> List[Tuple[str, str]]:
    return [
        (node.converter_key, node.name)
        for node in nodes
        if not node.is_variable and not is_supported(node.converter_key)
    ]


def cut_points(graph: Graph) -> List[str]:
    """Where --outputs can cut a graph with unsupported ops: the outputs computed by supported
    ops only that an unsupported op (or an op after one) reads, in graph order, then the heads
    computed so; written as --outputs takes them ("name#2" for a repeated name)."""
    nodes = graph.reachable()
    clean: Set[int] = set()  # nodes computed by supported ops only
    for node in nodes:
        if node.is_variable or (is_supported(node.converter_key) and all(ref.node in clean for ref in node.inputs)):
            clean.add(node.id)
    cuts: List[TensorRef] = []
    for node in nodes:
        if node.id in clean:
            continue
        for ref in node.inputs:
            if ref.node in clean and not graph.node(ref).is_variable and ref not in cuts:
                cuts.append(ref)
    cuts += [ref for ref in graph.heads if ref.node in clean and ref not in cuts]
    counts = Counter(node.name for node in graph.nodes if not node.is_variable)
    return [_output_text(graph.node(ref), ref.index, counts) for ref in cuts]


def _output_text(node: Node, index: int, counts: Mapping[str, int]) -> str:
    """How --outputs names output `index` of a node (select_outputs.resolve_output reads it)."""
    text = node.name if index == 0 else f"{node.name}_output{index}"
    repeated = node.occurrence > 0 or counts[node.name] > 1
    return f"{text}#{node.occurrence + 1}" if repeated else text


def cut_hint(graph: Graph) -> str:
    """What to tell a user whose graph has unsupported ops about --outputs ('' if nothing helps)."""
    cuts = cut_points(graph)
    if not cuts:
        return ""
    more = len(cuts) - _CUTS_LISTED
    listed = ",".join(cuts[:_CUTS_LISTED]) + (f" (and {more} more)" if more > 0 else "")
    return (
        "to convert the part before them (a detector's raw heads, say), name the last supported "
        f"outputs: --outputs {listed}"
    )


def _unsupported_ops_error(graph: Graph, missing: List[Tuple[str, str]]) -> UnsupportedOpsError:
    return UnsupportedOpsError(missing, cut_hint(graph))


def candidate_inputs(graph: Graph, params: Mapping[str, np.ndarray]) -> List[str]:
    """Variables with no value in the params: the data inputs (and labels, lost weights)."""
    return [node.name for node in graph.variables() if node.name not in params]


def likely_data_inputs(graph: Graph, params: Mapping[str, np.ndarray]) -> List[str]:
    """The candidates not named like a weight or label: what a bare input shape is for."""
    return _named_like_data(candidate_inputs(graph, params))


def _named_like_data(candidates: Sequence[str]) -> List[str]:
    return [name for name in candidates if not name.endswith(_NOT_DATA_SUFFIXES)]


def _checked_shape(graph: Graph, name: str, shape: Sequence[int], limit: int) -> Shape:
    """A user-given input shape: positive integer dims, at most `limit` elements in all."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ShapeError(f"{graph.source}: input '{shortened(name)}': shape {listed(shape)} is not integers") from None
    if not dims or min(dims) <= 0:
        raise ShapeError(f"{graph.source}: input '{shortened(name)}': shape {listed(dims)} needs positive dims")
    if math.prod(dims) > limit:
        raise ShapeError(
            f"{graph.source}: input '{shortened(name)}': shape {listed(dims)} has {math.prod(dims)} elements, "
            f"more than the limit of {limit} (ConvertOptions.max_blob_elements, --max-blob-elements)"
        )
    return dims


def resolve_input_shapes(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    shapes: Mapping[str, Sequence[int]],
    limit: int = MAX_BLOB_ELEMENTS,
) -> Dict[str, Shape]:
    """Checks user-given shapes (at most `limit` elements each); the name '' stands for the
    graph's only data input."""
    candidates = candidate_inputs(graph, params)
    resolved: Dict[str, Shape] = {}
    for name, shape in shapes.items():
        if name == "":
            data = _named_like_data(candidates)
            if len(data) != 1:
                raise ShapeError(
                    f"{graph.source}: a shape without a name needs exactly one data input, "
                    f"the graph has {listed(data) if data else 'none'}: use --input-shape NAME:DIMS"
                )
            name = data[0]
            if name in shapes:
                raise ShapeError(
                    f"{graph.source}: two shapes for input '{shortened(name)}': one without a name, one with it"
                )
        if name not in candidates:
            raise ShapeError(
                f"{graph.source}: '{shortened(name)}' is not an input of the graph "
                f"(inputs without params: {listed(candidates) if candidates else 'none'})"
            )
        resolved[name] = _checked_shape(graph, name, shape, limit)
    if not resolved:
        raise ShapeError(f"{graph.source}: no input shape given (inputs: {listed(candidates)})")
    return resolved


class _Names:
    """The names claimed so far, and the renamings made."""

    def __init__(self) -> None:
        self.used: Set[str] = set()
        self.renamed: List[Tuple[str, str]] = []

    def claim(self, wanted: str) -> str:
        name = fresh_name(valid_name(wanted), self.used)
        self.used.add(name)
        if name != wanted:
            self.renamed.append((wanted, name))
        return name

    def claim_converted(self, converted: Converted, inputs: Mapping[str, str]) -> Converted:
        """The converter's layers and outputs with every top and layer name claimed.

        `inputs` maps the placeholders the converter saw as its inputs' blobs to the real
        blobs. A top renamed here is renamed in the later bottoms of the same node."""
        renames: Dict[str, str] = dict(inputs)
        layers = []
        for layer in converted.layers:
            bottoms = tuple(renames.get(bottom, bottom) for bottom in layer.bottoms)
            tops = tuple(self.claim(top) for top in layer.tops)
            renames.update(zip(layer.tops, tops))
            # a layer is named after its first top (OpenCV addresses outputs by layer name)
            if layer.tops and layer.name == layer.tops[0]:
                name = tops[0]
            else:
                name = self.claim(layer.name)
            layers.append(Layer(name, layer.type, bottoms, tops, layer.params, layer.blobs))
        outputs = tuple(Tensor(renames.get(t.blob, t.blob), t.shape) for t in converted.outputs)
        helper_shapes = {renames.get(blob, blob): shape for blob, shape in converted.helper_shapes.items()}
        return Converted(layers=tuple(layers), outputs=outputs, helper_shapes=helper_shapes)

    def note(self) -> Optional[str]:
        if not self.renamed:
            return None
        listed = ", ".join(f"'{old}' -> '{new}'" for old, new in self.renamed[:_RENAMES_LISTED])
        more = len(self.renamed) - _RENAMES_LISTED
        extra = f" and {more} more" if more > 0 else ""
        return f"renamed {len(self.renamed)} repeated or invalid name(s): {listed}{extra}"


def lower(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    options: ConvertOptions,
    name: str,
) -> Net:
    """Converts every node the heads need; raises before converting if any op is unsupported."""
    nodes = graph.reachable()  # the graph does not change while it is lowered
    missing = _unsupported(nodes)
    if missing:
        raise _unsupported_ops_error(graph, missing)
    shapes = resolve_input_shapes(graph, params, input_shapes, options.max_blob_elements)
    for variable, axes in graph.input_axes.items():  # MXNet's layout given, the Caffe model's taken
        if variable in shapes:
            if len(shapes[variable]) != len(axes):
                raise ShapeError(f"{graph.source}: input '{variable}' has shape {shapes[variable]}, not {len(axes)}-d")
            shapes[variable] = tuple(shapes[variable][axis] for axis in axes)
    net = Net(name=name)
    names = _Names()
    tensors: Dict[TensorRef, Tensor] = {}
    inputs: Dict[str, Tensor] = {}  # by variable name
    used_params: Set[str] = set()
    for node in nodes:
        if node.is_variable:
            if node.name in shapes:
                # MXNet binds variables by name: two variable nodes of one name are one input
                tensor = inputs.get(node.name) or Tensor(names.claim(node.name), shapes[node.name])
                if node.name not in inputs:
                    inputs[node.name] = tensor
                    net.inputs.append(tensor)
                    net.shapes[tensor.blob] = tensor.shape
                    net.names.add(node.name, tensor.blob)  # MXNet lists a variable by its name
                    if node.name in graph.input_axes:  # verify lays Caffe's input out as MXNet's
                        inverse = tuple(int(axis) for axis in np.argsort(graph.input_axes[node.name]))
                        net.input_transforms[tensor.blob] = InputTransform(axes=inverse)
                tensors[TensorRef(node.id, 0)] = tensor
            continue
        context, placeholders = _context(graph, node, tensors, params, options)
        converted = names.claim_converted(_convert(node, context), placeholders)
        _check_sizes(context, converted)
        used_params |= context.used_params
        net.layers.extend(converted.layers)
        net.shapes.update(converted.helper_shapes)
        count = len(converted.outputs)
        for index, tensor in enumerate(converted.outputs):
            tensors[TensorRef(node.id, index)] = tensor
            net.shapes[tensor.blob] = tensor.shape
            if node.id not in graph.relaid:  # else Caffe holds the value in another layout
                key = output_key(mxnet_output_name(node.name, index, count, node.op), node.occurrence)
                net.names.add(key, tensor.blob)
    for key, ref in graph.aliases.items():
        if ref in tensors and not graph.node(ref).is_variable:
            net.names.add(key, tensors[ref].blob)
    net.outputs = _terminal(net, _outputs(graph, tensors), names)
    note = names.note()
    if note:
        net.notes.append(note)
    _log_unread_attributes(nodes)
    _log_unused_params(params, used_params)
    return net


def _check_sizes(context: NodeContext, converted: Converted) -> None:
    """Every blob a converter made, within options.max_blob_elements."""
    for tensor in converted.outputs:
        context.check_size(tensor.shape)
    for blob, shape in converted.helper_shapes.items():
        context.check_size(shape, f"helper blob '{shortened(blob)}'")
    limit = context.options.max_blob_elements
    for layer in converted.layers:
        for array in layer.blobs:
            if math.prod(array.shape) > limit:  # the message costs more than the check: made for a refusal only
                context.check_size(array.shape, f"weight of layer '{shortened(layer.name)}'")


def _context(
    graph: Graph,
    node: Node,
    tensors: Mapping[TensorRef, Tensor],
    params: Mapping[str, np.ndarray],
    options: ConvertOptions,
) -> Tuple[NodeContext, Dict[str, str]]:
    """The converter's view of a node, and the placeholder -> blob map of its inputs."""
    inputs: List[Optional[Tensor]] = []
    weight_names: List[Optional[str]] = []
    placeholders: Dict[str, str] = {}
    for index, ref in enumerate(node.inputs):
        source = graph.node(ref)
        tensor = tensors.get(ref)
        if tensor is not None:
            placeholder = _INPUT_PLACEHOLDER.format(index)
            placeholders[placeholder] = tensor.blob
            tensor = Tensor(placeholder, tensor.shape)
        inputs.append(tensor)
        weight_names.append(source.name if source.is_variable and tensor is None else None)
    return NodeContext(node, inputs, weight_names, params, options), placeholders


def _convert(node: Node, context: NodeContext) -> Converted:
    """The node's converter's result; a plugin's converter that fails (other than with a
    ConversionError) or returns something else is a NodeError naming the plugin."""
    origin = op_origin(node.converter_key)
    if origin == BUILTIN:
        return lookup(node.converter_key)(context)
    try:
        converted = lookup(node.converter_key)(context)
    except ConversionError:
        raise
    except Exception as error:
        raise NodeError(
            node.name, node.op, f"the converter of plugin '{origin}' failed: {exception_summary(error)}"
        ) from error
    if not isinstance(converted, Converted):
        raise NodeError(
            node.name, node.op,
            f"the converter of plugin '{origin}' returned {type(converted).__name__}, not a Converted",
        )
    return converted


def _outputs(graph: Graph, tensors: Mapping[TensorRef, Tensor]) -> List[Tensor]:
    """The heads' tensors, in head order, each once."""
    outputs: List[Tensor] = []
    for ref in graph.heads:
        node = graph.node(ref)
        if node.is_variable:
            raise ConversionError(
                f"{graph.source}: head '{node.name}' is a variable (an input or weight), not a computed output"
            )
        tensor = tensors.get(ref)
        if tensor is None:
            raise NodeError(node.name, node.op, f"output {ref.index} is a head but the op has no such output")
        if tensor not in outputs:
            outputs.append(tensor)
    return outputs


def _terminal(net: Net, outputs: List[Tensor], names: _Names) -> List[Tensor]:
    """Caffe and OpenCV take as outputs the blobs no layer reads: an output that a layer reads
    too (an intermediate named in --outputs), or that is an input, gets a copy that is one. So do
    the outputs of a layer with several tops (a Slice) that OpenCV cannot list: it reaches such a
    layer by its name, the first top, and lists it only when none of its tops is read."""
    read = {bottom for layer in net.layers for bottom in layer.bottoms} | {t.blob for t in net.inputs}
    producers = {top: layer for layer in net.layers for top in layer.tops}
    # an output that is not its layer's first top gets a copy, which reads it
    read |= {t.blob for t in outputs if t.blob in producers and producers[t.blob].tops[0] != t.blob}
    terminal = []
    for tensor in outputs:
        producer = producers.get(tensor.blob)
        tops = producer.tops if producer is not None else ()
        if tensor.blob in read or any(top in read for top in tops if top != tensor.blob):
            copy = names.claim(helper_name(tensor.blob, "output"))
            net.layers.append(Layer(copy, "Power", (tensor.blob,), (copy,)))  # y = x
            net.shapes[copy] = tensor.shape
            net.names.rename_blob(tensor.blob, copy)  # the same values; verify marks it an output
            tensor = Tensor(copy, tensor.shape)
        terminal.append(tensor)
    return terminal


def _log_unread_attributes(nodes: Sequence[Node]) -> None:
    """One warning per node with attributes no converter read; a few, then a count."""
    lines = []
    for node in nodes:
        unread = {} if node.is_variable else node.attrs.unread()
        if unread:
            lines.append(
                f"node '{shortened(node.name)}' (op {shortened(node.op)}): attributes not used by the converter: "
                f"{shortened_mapping(unread)}"
            )
    log_summarized(log, lines)


def _log_unused_params(params: Mapping[str, np.ndarray], used: Set[str]) -> None:
    unused = sorted(set(params) - used)
    if unused:
        listed_names = ", ".join(shortened(name) for name in unused[:10])
        log.info("%d params not used by the graph's outputs: %s", len(unused), listed_names)

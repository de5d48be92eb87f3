"""The stable API for plugins: converters for MXNet ops mxnet2caffe lacks, and the Caffe layer
types they emit. Everything a plugin needs is imported from this module; the rest of the package
may change between releases.

What a plugin is
    A Python module that registers converters (and layer types) when it is imported. Load it with
    `--plugin MODULE` or `--plugin FILE.py` on the command line (convert, verify, inspect, onnx,
    caffe2onnx), with `plugins=["module", "path/file.py"]` in mxnet2caffe.convert(), verify() and
    the ONNX API, or install it: a distribution whose metadata names the module in the entry-point
    group "mxnet2caffe.plugins" is loaded before the first conversion of every process
    (pyproject.toml: `[project.entry-points."mxnet2caffe.plugins"] my_ops = "my_ops"`; a value
    "my_ops:setup" calls setup() after the import). MXNET2CAFFE_NO_ENTRY_POINTS=1 in the
    environment skips installed plugins. A plugin is loaded once per process; what it registers
    is recorded as its own (`mxnet2caffe inspect` lists which op comes from which plugin).

Registering a converter
    @converter("log1p")
    def convert_log1p(ctx: NodeContext) -> Converted:
        data = ctx.input(0)
        return ctx.single("Log", [data.blob], data.shape, {"log_param": {"shift": 1.0}})

    A converter takes the NodeContext of one MXNet node and returns a Converted: the Caffe
    layers computing the node and the Tensors (blob, shape) holding its outputs, in the node's
    output order. It never writes files and never looks at other nodes. Registering an op that
    mxnet2caffe converts already is a PluginError unless `override=True` (then yours replaces
    ours, and inspect says so); two plugins registering one op is a PluginError naming both.
    `register_converter(op, function)` does the same without a decorator.

    MXNet's Custom op (a mx.operator.CustomOp written in Python or C++ for MXNet) is one op name
    for every custom operator; its attribute op_type says which. Register its converter under
    "Custom:<op_type>": @converter("Custom:gelu_erf") converts the nodes of
    mx.sym.Custom(data, op_type="gelu_erf"). The CustomOp's other arguments are the node's
    attributes (strings, as MXNet passes them to its CustomOpProp).

What NodeContext offers
    ctx.name, ctx.node.op          the node's name and op
    ctx.attrs                      typed attributes with MXNet's defaults: attrs.int("k", 1),
                                   attrs.float("eps", 1e-3), attrs.bool("flag", False),
                                   attrs.str("mode", "x"), attrs.int_tuple("kernel"); a missing
                                   required one or a malformed value is a NodeError naming the node;
                                   attributes no converter read are logged as a warning
    ctx.num_inputs, ctx.input(i)   the Tensor (blob, shape) of a computed input i
    ctx.is_weight(i), ctx.param(i, shape), ctx.named_param(name, shape)
                                   weights from the params file, as float32, shape-checked
    ctx.spatial_attr(key, default, rank)
                                   a per-spatial-axis attribute (kernel, stride, pad)
    ctx.single(type, bottoms, shape, params, blobs)
                                   the common result: one layer named after the node, one output
    ctx.layer(type, bottoms, tops, params, blobs, suffix), ctx.chain(bottom, steps)
                                   several layers; ctx.layer_name(suffix) names helper layers and
                                   blobs ("node/suffix"), ctx.output_blob(i, count) the node's outputs
    ctx.alias(tensor)              an op that is the identity at inference: no layer
    ctx.error(message)             a NodeError naming the node and op, to raise on bad input
    ctx.options                    the ConvertOptions of the conversion
    Layer params are LayerParameter fields of Caffe's caffe.proto as nested dicts
    ({"power_param": {"scale": 2.0}}); reshape_param(dims) builds a Reshape layer's.
    Names a converter proposes are made unique afterwards: use the ones ctx gives.

The MXNet side of a Custom op
    verify runs MXNet on the model, so MXNet must know your CustomOp in that process; converting
    never imports MXNet. Register it in a function decorated with @mxnet_setup: verify calls it
    with the mxnet module before MXNet reads the model.
        @mxnet_setup
        def register_mxnet_ops(mx):
            mx.operator.register("gelu_erf")(GeluErfProp)

Errors
    Raise NodeError (ctx.error) or ConversionError for input you cannot convert. Any other
    exception from a plugin's converter, or a result that is not a Converted, becomes a NodeError
    naming the node, the op and the plugin; no output is written.

Layer types of your own
    A converter may emit a layer type no Caffe has, once it is declared:
    register_layer(UserLayer(type="MyOp", sources=Path(...), opencv=MyOpLayer, onnx=emit_my_op)).
    `sources` is the folder of its C++ Caffe layer (built with `mxnet2caffe build-layers`), `opencv`
    its cv2.dnn custom layer class, `onnx` a function (GraphBuilder, Layer) -> None adding the
    ONNX nodes that compute it and defining its tops (builder.define(top, shape)). A layer type
    without an ONNX form stops an ONNX export with an error naming the layer, type and plugin.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable

from . import converters as _converters  # noqa: F401  (the built-in converters first: clashes are found)
from .attrs import Attrs
from .caffe.net import Layer, Shape, Tensor
from .caffe.user_layers import UserLayer
from .caffe.user_layers import register_layer as _register_layer
from .converters import registry
from .converters.context import Converted, NodeContext, reshape_param
from .converters.registry import Converter
from .errors import ConversionError, NodeError, PluginError
from .onnx.builder import GraphBuilder
from .plugins import MXNetSetup, add_mxnet_setup, loading_plugin

__all__ = [
    "Attrs",
    "ConversionError",
    "Converted",
    "Converter",
    "GraphBuilder",
    "Layer",
    "NodeContext",
    "NodeError",
    "PluginError",
    "Shape",
    "Tensor",
    "UserLayer",
    "converter",
    "mxnet_setup",
    "register_converter",
    "register_layer",
    "reshape_param",
]


def register_converter(op: str, function: Converter, override: bool = False) -> None:
    """Registers `function` as the converter of MXNet op `op` for the plugin being loaded (the
    function's module, outside plugin loading). `override=True` replaces a built-in converter."""
    origin = loading_plugin() or getattr(function, "__module__", None) or "an unnamed plugin"
    registry.register_converter(op, function, origin=origin, override=override)


def converter(*op_names: str, override: bool = False) -> Callable[[Converter], Converter]:
    """Decorator: registers the function as the converter of each MXNet op name (aliases too)."""

    def register(function: Converter) -> Converter:
        for op in op_names:
            register_converter(op, function, override=override)
        return function

    return register


def register_layer(layer: UserLayer) -> UserLayer:
    """Declares a Caffe layer type the plugin's converters emit; returns it with its plugin set
    (the plugin being loaded, else layer.plugin, else the calling module)."""
    plugin = loading_plugin() or layer.plugin or sys._getframe(1).f_globals.get("__name__", "")
    return _register_layer(dataclasses.replace(layer, plugin=plugin))


def mxnet_setup(function: MXNetSetup) -> MXNetSetup:
    """Decorator: `function(mx)` registers the MXNet side of the plugin's ops (its CustomOps);
    verify calls it once, before MXNet reads a model. Converting never calls it."""
    add_mxnet_setup(function)
    return function

"""Layer types of plugins on the ONNX route: the emitter a plugin declares (UserLayer.onnx) writes
the layer's ONNX form, checked in real onnxruntime against real MXNet; a layer type without one,
or whose emitter fails, stops the export with an error naming the layer, its type and the plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import mxnet as mx
import onnxruntime
import pytest

from mxnet2caffe import ConversionError, convert
from mxnet2caffe.onnx import convert_to_onnx
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

from harness import TOLERANCE, mxnet_forward, random_params, save_model

SHAPE = (2, 3, 5, 5)

# MXNet's a * x^2 + b * x + c as one layer of the plugin's type; ONNX: (a * x + b) * x + c
QUADRATIC_PLUGIN = """
import numpy as np

from mxnet2caffe.extend import Converted, GraphBuilder, Layer, NodeContext, UserLayer, converter, register_layer


def emit_quadratic(builder: GraphBuilder, layer: Layer) -> None:
    a, b, c = (float(value) for value in layer.blobs[0])
    x = builder.value(layer.bottoms[0])
    shape = builder.shape(layer.bottoms[0])
    ax = builder.step("Mul", [x, builder.constant(layer.name + "/a", a)], layer.name + "/ax", shape)
    axb = builder.step("Add", [ax, builder.constant(layer.name + "/b", b)], layer.name + "/axb", shape)
    axbx = builder.step("Mul", [axb, x], layer.name + "/axbx", shape)
    builder.node("Add", [axbx, builder.constant(layer.name + "/c", c)], builder.define(layer.tops[0], shape), shape)


register_layer(UserLayer(type="TestQuadratic", onnx=emit_quadratic))


@converter("_contrib_quadratic")
def convert_quadratic(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    coefficients = np.array([ctx.attrs.float(name, 0.0) for name in "abc"], dtype=np.float32)
    return ctx.single("TestQuadratic", [data.blob], data.shape, blobs=[coefficients])
"""


def write_plugin(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="module")
def quadratic_plugin(tmp_path_factory) -> Path:
    """One file for the module's tests: a process takes each layer type from one plugin only."""
    return write_plugin(tmp_path_factory.mktemp("plugin"), "quadratic_plugin", QUADRATIC_PLUGIN)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mxnet2caffe", *map(str, args)], capture_output=True, text=True)


def quadratic_model(directory: Path):
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv")
    sym = mx.sym.contrib.quadratic(conv, a=0.75, b=-1.5, c=0.25, name="head")
    args, aux = random_params(sym, {"data": SHAPE})
    return save_model(sym, args, aux, directory)


def assert_onnx_matches_mxnet(path: Path, symbol: Path, params: Path) -> None:
    inputs = random_inputs({"data": SHAPE})
    (want,) = mxnet_forward(symbol, params, inputs)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, inputs)
    assert got.shape == want.shape
    result = compare("head", got, want)
    assert result.within(TOLERANCE), f"relative max error {result.relative_error:.3g}"


def test_plugin_layer_type_reaches_onnx_through_its_emitter(tmp_path, quadratic_plugin):
    symbol, params = quadratic_model(tmp_path)
    model = convert_to_onnx(symbol, params, {"data": SHAPE}, tmp_path / "model", plugins=[quadratic_plugin])
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Conv", "Mul", "Add", "Mul", "Add"]
    assert_onnx_matches_mxnet(tmp_path / "model.onnx", symbol, params)


def test_cli_onnx_with_the_plugin_writes_its_form(tmp_path, quadratic_plugin):
    symbol, params = quadratic_model(tmp_path)
    result = run_cli("onnx", symbol, params, "--input-shape", "data:2,3,5,5", "--output", tmp_path / "model",
                     "--plugin", quadratic_plugin)
    assert result.returncode == 0, result.stderr
    assert_onnx_matches_mxnet(tmp_path / "model.onnx", symbol, params)
    without = run_cli("onnx", symbol, params, "--input-shape", "data:2,3,5,5", "--output", tmp_path / "bare")
    assert without.returncode == 1 and "_contrib_quadratic x1: head" in without.stderr, without.stderr


def test_caffe2onnx_with_the_plugin_reads_the_plugin_layer_back(tmp_path, quadratic_plugin):
    """The Caffe model keeps the plugin's layer (type and coefficients blob); caffe2onnx --plugin
    gives it its ONNX form again."""
    symbol, params = quadratic_model(tmp_path)
    summary = convert(symbol, params, {"data": SHAPE}, tmp_path / "caffe", plugins=[quadratic_plugin])
    assert 'type: "TestQuadratic"' in summary.prototxt.read_text()
    result = run_cli("caffe2onnx", summary.prototxt, summary.caffemodel, "--output", tmp_path / "back",
                     "--plugin", quadratic_plugin)
    assert result.returncode == 0, result.stderr
    assert_onnx_matches_mxnet(tmp_path / "back.onnx", symbol, params)
    bare = run_cli("caffe2onnx", summary.prototxt, summary.caffemodel, "--output", tmp_path / "bare")
    assert bare.returncode == 1 and "layer 'head' (type TestQuadratic): no ONNX form" in bare.stderr, bare.stderr
    assert "a plugin's type needs the plugin: --plugin" in bare.stderr


def test_plugin_layer_type_without_onnx_form_is_named(tmp_path):
    plugin = write_plugin(
        tmp_path, "cbrt_caffe_only",
        """
        from mxnet2caffe.extend import UserLayer, converter, register_layer

        register_layer(UserLayer(type="TestCbrtCaffeOnly"))

        @converter("cbrt")
        def convert_cbrt(ctx):
            data = ctx.input(0)
            return ctx.single("TestCbrtCaffeOnly", [data.blob], data.shape)
        """,
    )
    mx.sym.cbrt(mx.sym.Variable("data"), name="head").save(str(tmp_path / "model-symbol.json"))
    with pytest.raises(ConversionError) as raised:
        convert_to_onnx(tmp_path / "model-symbol.json", {}, {"data": SHAPE}, tmp_path / "model", plugins=[plugin])
    assert str(raised.value) == (
        f"layer 'head' (type TestCbrtCaffeOnly): plugin '{plugin.resolve()}' declares this layer type "
        "without an ONNX form"
    )
    assert not (tmp_path / "model.onnx").exists()


def test_plugin_emitter_that_raises_is_named(tmp_path):
    plugin = write_plugin(
        tmp_path, "degrees_broken_onnx",
        """
        from mxnet2caffe.extend import UserLayer, converter, register_layer

        def emit_degrees(builder, layer):
            raise KeyError("radians")

        register_layer(UserLayer(type="TestDegrees", onnx=emit_degrees))

        @converter("degrees")
        def convert_degrees(ctx):
            data = ctx.input(0)
            return ctx.single("TestDegrees", [data.blob], data.shape)
        """,
    )
    mx.sym.degrees(mx.sym.Variable("data"), name="head").save(str(tmp_path / "model-symbol.json"))
    with pytest.raises(ConversionError) as raised:
        convert_to_onnx(tmp_path / "model-symbol.json", {}, {"data": SHAPE}, plugins=[plugin])
    assert str(raised.value) == (
        f"layer 'head' (type TestDegrees): the ONNX form of plugin '{plugin.resolve()}' failed: KeyError: 'radians'"
    )

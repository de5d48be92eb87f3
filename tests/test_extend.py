"""mxnet2caffe.extend, the plugin API: what it offers, and the rules of registering converters and
layer types (origins, clashes with built-in ops and between plugins, overrides).

Every test runs on a copy of the registry (conftest's `isolated_plugins`), so that no other
test sees the ops it registers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import mxnet2caffe.extend as extend
from mxnet2caffe.caffe.user_layers import user_layer
from mxnet2caffe.converters import registry
from mxnet2caffe.converters.registry import BUILTIN, lookup, op_origin, overridden_ops, plugin_ops
from mxnet2caffe.errors import ConversionError, PluginError
from mxnet2caffe.plugins import load_plugin


def identity(ctx: extend.NodeContext) -> extend.Converted:
    return ctx.alias(ctx.input(0))


def other_identity(ctx: extend.NodeContext) -> extend.Converted:
    return ctx.alias(ctx.input(0))


def write_plugin(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_the_public_names():
    assert set(extend.__all__) == {
        "Attrs", "ConversionError", "Converted", "Converter", "GraphBuilder", "Layer", "NodeContext", "NodeError",
        "PluginError", "Shape", "Tensor", "UserLayer", "converter", "register_converter", "register_layer",
        "reshape_param", "mxnet_setup",
    }
    assert all(hasattr(extend, name) for name in extend.__all__)
    assert issubclass(extend.PluginError, extend.ConversionError)
    assert extend.reshape_param([1, -1]) == {"reshape_param": {"shape": {"dim": [1, -1]}}}


def test_converter_outside_plugin_loading_belongs_to_its_module():
    @extend.converter("_m2c_op", "_m2c_op_alias")
    def convert_m2c_op(ctx: extend.NodeContext) -> extend.Converted:
        return ctx.alias(ctx.input(0))

    assert lookup("_m2c_op") is lookup("_m2c_op_alias") is convert_m2c_op
    assert op_origin("_m2c_op") == op_origin("_m2c_op_alias") == __name__
    assert plugin_ops()["_m2c_op"] == plugin_ops()["_m2c_op_alias"] == __name__
    assert op_origin("Convolution") == BUILTIN


def test_registering_the_same_function_again_changes_nothing():
    extend.register_converter("_m2c_op", identity)
    extend.register_converter("_m2c_op", identity)
    assert lookup("_m2c_op") is identity


def test_two_functions_of_one_plugin_for_one_op_is_an_error():
    extend.register_converter("_m2c_op", identity)
    with pytest.raises(PluginError) as raised:
        extend.register_converter("_m2c_op", other_identity)
    assert str(raised.value) == (
        f"plugin '{__name__}' registers two converters for op '_m2c_op': identity and other_identity"
    )


def test_a_builtin_op_needs_override_and_is_left_alone_without():
    ours = lookup("relu")
    with pytest.raises(PluginError) as raised:
        extend.register_converter("relu", identity)
    assert str(raised.value) == (
        f"plugin '{__name__}' registers a converter for op 'relu', which mxnet2caffe converts already: "
        "register it with override=True to replace the built-in converter"
    )
    assert lookup("relu") is ours and op_origin("relu") == BUILTIN and not overridden_ops()


def test_override_replaces_a_builtin_op_and_is_recorded(caplog):
    caplog.set_level("INFO", logger="mxnet2caffe.converters.registry")
    extend.converter("relu", override=True)(identity)
    assert lookup("relu") is identity
    assert op_origin("relu") == __name__
    assert overridden_ops() == {"relu": __name__}
    assert f"plugin '{__name__}' replaces mxnet2caffe's converter of op 'relu'" in caplog.text


def test_two_plugins_for_one_op_is_an_error_naming_both(tmp_path):
    source = """
        from mxnet2caffe.extend import converter

        @converter("_m2c_shared_op")
        def convert_shared(ctx):
            return ctx.alias(ctx.input(0))
        """
    first = load_plugin(write_plugin(tmp_path, "first", source))
    with pytest.raises(PluginError) as raised:
        load_plugin(write_plugin(tmp_path, "second", source))
    second = str((tmp_path / "second.py").resolve())
    assert str(raised.value) == f"op '_m2c_shared_op' has converters from two plugins: '{first}' and '{second}'"
    assert op_origin("_m2c_shared_op") == first


def test_override_of_an_op_another_plugin_overrode_names_that_plugin():
    registry.register_converter("relu", identity, origin="first_plugin", override=True)
    with pytest.raises(PluginError, match="op 'relu' has converters from two plugins: 'first_plugin' and 'second'"):
        registry.register_converter("relu", other_identity, origin="second", override=True)


def test_register_layer_records_the_plugin_being_loaded(tmp_path):
    plugin = load_plugin(
        write_plugin(
            tmp_path, "declares_layer",
            """
            from mxnet2caffe.extend import UserLayer, register_layer

            register_layer(UserLayer(type="M2cExtendTestLayer"))
            """,
        )
    )
    declared = user_layer("M2cExtendTestLayer")
    assert declared is not None and declared.plugin == plugin == str((tmp_path / "declares_layer.py").resolve())


def test_register_layer_outside_loading_records_the_calling_module():
    declared = extend.register_layer(extend.UserLayer(type="M2cExtendLocalLayer"))
    assert declared.plugin == __name__
    assert user_layer("M2cExtendLocalLayer") == declared


def test_a_caffe_layer_type_cannot_be_declared(tmp_path):
    with pytest.raises(ConversionError, match="layer type 'ReLU' is already a Caffe or mxnet2caffe layer type"):
        extend.register_layer(extend.UserLayer(type="ReLU"))
    plugin = write_plugin(
        tmp_path, "declares_relu",
        """
        from mxnet2caffe.extend import UserLayer, register_layer

        register_layer(UserLayer(type="ReLU"))
        """,
    )
    with pytest.raises(PluginError) as raised:
        load_plugin(plugin)
    assert str(raised.value) == (
        f"plugin '{plugin.resolve()}' (file): layer type 'ReLU' is already a Caffe or mxnet2caffe layer type"
    )

"""Plugins loaded from a module name, a .py file and an installed distribution's entry point, on
the command line and through the API; what a broken or clashing plugin tells the user.

Each plugin's source is written out by its test. The ops the plugins convert are real MXNet ops
that mxnet2caffe does not convert itself; their numbers are checked against real MXNet in real
Caffe and OpenCV DNN (harness.assert_runtimes_match_mxnet, relative max error <= TOLERANCE)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

import mxnet as mx
import pytest

from mxnet2caffe.caffe.user_layers import user_layer
from mxnet2caffe.converters.registry import BUILTIN, is_supported, lookup, op_origin, overridden_ops
from mxnet2caffe.errors import PluginError
from mxnet2caffe.plugins import NO_ENTRY_POINTS, load_plugin, loaded_plugins
from mxnet2caffe.verify.inputs import random_inputs

from harness import assert_converts_exactly, assert_runtimes_match_mxnet, random_params, save_model

SHAPE = (1, 3, 6, 6)

# log(1 + x): a Power layer adding 1, then Log (Caffe's Log has a shift too, but OpenCV DNN ignores it)
LOG1P_PLUGIN = '''
from mxnet2caffe.extend import Converted, NodeContext, Tensor, converter


@converter("log1p")
def convert_log1p(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    steps = [("plus_one", "Power", {"power_param": {"shift": 1.0}}), ("", "Log", {})]
    return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), data.shape),))
'''

# x / sqrt(the last axis's size): one Power layer scaling by 1 / sqrt(d)
DIV_SQRT_DIM_PLUGIN = '''
import math

from mxnet2caffe.extend import Converted, NodeContext, converter


@converter("_contrib_div_sqrt_dim")
def convert_div_sqrt_dim(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    scale = 1.0 / math.sqrt(data.shape[-1])
    return ctx.single("Power", [data.blob], data.shape, {"power_param": {"scale": scale}})
'''


def write_plugin(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def run_cli(*args, pythonpath: Optional[Path] = None, env: Optional[Dict[str, str]] = None):
    environment = dict(os.environ, **(env or {}))
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), environment.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", *map(str, args)], capture_output=True, text=True, env=environment
    )


def assert_one_line_error(result, *fragments) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def listing(stdout: str) -> list:
    """The lines of inspect's output, each with its runs of spaces made one."""
    return [" ".join(line.split()) for line in stdout.splitlines()]


def builtin(op: str) -> bool:
    return is_supported(op) and op_origin(op) == BUILTIN


def conv_then(directory: Path, unary) -> tuple:
    """data -> Convolution -> `unary` (name "head"), saved with random weights."""
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv")
    sym = unary(conv, name="head")
    args, aux = random_params(sym, {"data": SHAPE})
    return save_model(sym, args, aux, directory)


def convert_cli(directory: Path, symbol: Path, params: Path, *plugin_args, **kwargs):
    return run_cli(
        "convert", symbol, params, "--input-shape", f"data:{','.join(map(str, SHAPE))}",
        "--output", directory / "out", *plugin_args, **kwargs,
    )


def assert_no_output(directory: Path) -> None:
    assert not list(directory.glob("out*")), "a failed conversion left files behind"


# --- --plugin on the command line ---------------------------------------------------------


def test_cli_plugin_module_converts_log1p_exactly(tmp_path):
    assert not builtin("log1p")
    write_plugin(tmp_path, "m2c_cli_log1p", LOG1P_PLUGIN)
    # log(1 + x) needs x > -1: relu first
    symbol, params = conv_then(tmp_path, lambda x, name: mx.sym.log1p(mx.sym.relu(x), name=name))
    result = convert_cli(tmp_path, symbol, params, "--plugin", "m2c_cli_log1p", pythonpath=tmp_path)
    assert result.returncode == 0, result.stderr
    prototxt = (tmp_path / "out.prototxt").read_text()
    assert 'type: "Log"' in prototxt and "shift: 1" in prototxt
    assert_runtimes_match_mxnet(
        symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel", random_inputs({"data": SHAPE}), ["head"]
    )


def test_cli_plugin_file_converts_div_sqrt_dim_exactly_and_verify_takes_it(tmp_path):
    assert not builtin("_contrib_div_sqrt_dim")
    plugin = write_plugin(tmp_path, "div_sqrt_dim_plugin", DIV_SQRT_DIM_PLUGIN)
    symbol, params = conv_then(tmp_path, mx.sym.contrib.div_sqrt_dim)
    result = convert_cli(tmp_path, symbol, params, "--plugin", plugin)
    assert result.returncode == 0, result.stderr
    assert "scale: 0.408248" in (tmp_path / "out.prototxt").read_text()  # 1 / sqrt(6)
    assert_runtimes_match_mxnet(
        symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel", random_inputs({"data": SHAPE}), ["head"]
    )
    verified = run_cli("verify", symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel", "--plugin", plugin)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "every one within tolerance" in verified.stdout


def test_verify_loads_its_plugins(tmp_path):
    """verify --plugin imports the plugin: one that cannot load stops it with the plugin's name."""
    symbol, params = conv_then(tmp_path, mx.sym.relu)
    assert convert_cli(tmp_path, symbol, params).returncode == 0
    broken = write_plugin(tmp_path, "broken_verify_plugin", "raise ImportError('needs libfoo')\n")
    result = run_cli("verify", symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel", "--plugin", broken)
    assert_one_line_error(result, f"plugin '{broken.resolve()}' (file) failed to load: ImportError: needs libfoo")


def test_cli_without_the_plugin_lists_the_op_as_unsupported(tmp_path):
    symbol, params = conv_then(tmp_path, lambda x, name: mx.sym.log1p(mx.sym.relu(x), name=name))
    result = convert_cli(tmp_path, symbol, params)
    assert_no_output(tmp_path)
    assert result.returncode == 1 and "log1p x1: head" in result.stderr, result.stderr


# --- the API: plugins=[...] ---------------------------------------------------------------


def test_api_plugins_module_converts_log1p_exactly(tmp_path, monkeypatch):
    write_plugin(tmp_path, "m2c_api_log1p", LOG1P_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = mx.sym.Variable("data")
    sym = mx.sym.log1p(mx.sym.abs(data), name="head")
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, plugins=["m2c_api_log1p"])
    assert op_origin("log1p") == "m2c_api_log1p"
    assert summary.outputs == {"head": SHAPE}


def test_api_plugins_file_converts_div_sqrt_dim_exactly(tmp_path):
    plugin = write_plugin(tmp_path, "api_div_sqrt_dim", DIV_SQRT_DIM_PLUGIN)
    data = mx.sym.Variable("data")
    sym = mx.sym.contrib.div_sqrt_dim(mx.sym.FullyConnected(data, num_hidden=16, name="fc"), name="head")
    assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, plugins=[plugin])
    assert op_origin("_contrib_div_sqrt_dim") == str(plugin.resolve())


# y = x * factor + 1, as an MXNet CustomOp written in Python: MXNet runs it (the reference), the
# plugin converts its nodes ("Custom:<op_type>") to one Power layer
class _AffineOp(mx.operator.CustomOp):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * self.factor + 1.0)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * self.factor)


@mx.operator.register("m2c_test_affine")
class _AffineProp(mx.operator.CustomOpProp):
    def __init__(self, factor: str = "1") -> None:
        super().__init__(need_top_grad=True)
        self.factor = float(factor)

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _AffineOp(self.factor)


CUSTOM_AFFINE_PLUGIN = '''
from mxnet2caffe.extend import Converted, NodeContext, converter


@converter("Custom:m2c_test_affine")
def convert_affine(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    factor = ctx.attrs.float("factor", 1.0)
    return ctx.single("Power", [data.blob], data.shape, {"power_param": {"scale": factor, "shift": 1.0}})
'''


def test_api_plugin_converts_an_mxnet_custom_op_by_its_op_type(tmp_path):
    plugin = write_plugin(tmp_path, "api_custom_affine", CUSTOM_AFFINE_PLUGIN)
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    sym = mx.sym.Custom(conv, op_type="m2c_test_affine", factor="-2.5", name="head")
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, plugins=[plugin])
    assert op_origin("Custom:m2c_test_affine") == str(plugin.resolve())
    assert summary.outputs == {"head": (1, 4, 4, 4)}


# the same plugin with the MXNet side of the op: verify (a fresh process) must know the CustomOp
CUSTOM_AFFINE_WITH_MXNET_PLUGIN = CUSTOM_AFFINE_PLUGIN + '''
from mxnet2caffe.extend import mxnet_setup


@mxnet_setup
def register_affine(mx):
    class AffineOp(mx.operator.CustomOp):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0] * self.factor + 1.0)

    @mx.operator.register("m2c_test_affine")
    class AffineProp(mx.operator.CustomOpProp):
        def __init__(self, factor="1"):
            super().__init__(need_top_grad=False)
            self.factor = float(factor)

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return AffineOp(self.factor)
'''


@pytest.mark.parametrize("with_mxnet_side", [True, False])
def test_verify_runs_the_plugins_mxnet_setup_for_its_custom_op(tmp_path, with_mxnet_side):
    source = CUSTOM_AFFINE_WITH_MXNET_PLUGIN if with_mxnet_side else CUSTOM_AFFINE_PLUGIN
    plugin = write_plugin(tmp_path, "verify_custom_affine", source)
    sym = mx.sym.Custom(
        mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv"),
        op_type="m2c_test_affine", factor="3", name="head",
    )
    args, aux = random_params(sym, {"data": SHAPE})
    symbol, params = save_model(sym, args, aux, tmp_path)
    assert convert_cli(tmp_path, symbol, params, "--plugin", plugin).returncode == 0
    result = run_cli(
        "verify", symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel",
        "--backend", "opencv", "--plugin", plugin,
    )
    if with_mxnet_side:
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stdout, result.stdout
    else:  # MXNet cannot read the graph: one line saying why, not MXNet's C++ traceback
        assert_one_line_error(result, "Cannot find custom operator m2c_test_affine", "@mxnet_setup")


def test_a_custom_op_without_a_converter_is_listed_by_its_op_type(tmp_path):
    sym = mx.sym.Custom(mx.sym.Variable("data"), op_type="m2c_test_affine", name="head")
    args, aux = random_params(sym, {"data": SHAPE})
    symbol, params = save_model(sym, args, aux, tmp_path)
    result = run_cli("inspect", symbol)
    assert result.returncode == 1
    assert "Custom:m2c_test_affine x1" in result.stdout, result.stdout


# --- loading ------------------------------------------------------------------------------


def test_loading_a_plugin_twice_imports_it_once(tmp_path):
    # a second import would register a second function for the op: an error
    plugin = write_plugin(
        tmp_path, "twice",
        """
        from mxnet2caffe.extend import converter

        @converter("_m2c_test_loaded_twice")
        def convert_loaded_twice(ctx):
            return ctx.alias(ctx.input(0))
        """,
    )
    name = load_plugin(plugin)
    assert load_plugin(str(plugin)) == name == str(plugin.resolve())
    assert loaded_plugins()[name] == "file"
    assert op_origin("_m2c_test_loaded_twice") == name


def test_two_files_of_one_name_load_as_two_plugins(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "other").mkdir()
    first = write_plugin(tmp_path / "one", "same_name", 'from mxnet2caffe.extend import converter\n'
                         '@converter("_m2c_test_first")\ndef first(ctx):\n    return ctx.alias(ctx.input(0))\n')
    second = write_plugin(tmp_path / "other", "same_name", 'from mxnet2caffe.extend import converter\n'
                          '@converter("_m2c_test_second")\ndef second(ctx):\n    return ctx.alias(ctx.input(0))\n')
    load_plugin(first)
    load_plugin(second)
    assert op_origin("_m2c_test_first") == str(first.resolve())
    assert op_origin("_m2c_test_second") == str(second.resolve())


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no/such/plugin.py", "plugin file no/such/plugin.py does not exist"),
        ("not a module", "plugin 'not a module' is neither a module name nor a .py file"),
        ("m2c_no_such_module", "plugin 'm2c_no_such_module' (module) failed to load: "
                               "ModuleNotFoundError: No module named 'm2c_no_such_module'"),
    ],
)
def test_a_plugin_that_cannot_be_found_is_a_plugin_error(spec, message):
    with pytest.raises(PluginError) as raised:
        load_plugin(spec)
    assert str(raised.value) == message


def test_cli_plugin_that_raises_at_import_is_named(tmp_path):
    broken = write_plugin(tmp_path, "needs_licence", "raise RuntimeError('no licence key\\nsecond line')\n")
    symbol, params = conv_then(tmp_path, mx.sym.relu)
    result = convert_cli(tmp_path, symbol, params, "--plugin", broken)
    assert_one_line_error(result, f"error: plugin '{broken.resolve()}' (file) failed to load: RuntimeError: no licence key ...")
    assert_no_output(tmp_path)
    result = convert_cli(tmp_path, symbol, params, "--plugin", "m2c_missing_module")
    assert_one_line_error(result, "plugin 'm2c_missing_module' (module) failed to load: ModuleNotFoundError")


def test_a_plugin_that_fails_halfway_leaves_nothing_registered(tmp_path):
    """Converters, an override and a layer type registered before the failure are all undone:
    the built-in converter is back, and loading the fixed plugin later works."""
    source = """
        from mxnet2caffe.extend import UserLayer, converter, register_layer

        @converter("log1p")
        def convert_log1p(ctx):
            return ctx.alias(ctx.input(0))

        @converter("relu", override=True)
        def convert_relu(ctx):
            return ctx.alias(ctx.input(0))

        register_layer(UserLayer(type="HalfwayLayer"))
        {failure}
        """
    builtin_relu = lookup("relu")
    plugin = write_plugin(tmp_path, "halfway", source.format(failure="raise ImportError('a missing dependency')"))
    with pytest.raises(PluginError, match="failed to load: ImportError: a missing dependency"):
        load_plugin(plugin)
    assert not is_supported("log1p") and user_layer("HalfwayLayer") is None
    assert lookup("relu") is builtin_relu and op_origin("relu") == BUILTIN and "relu" not in overridden_ops()
    assert str(plugin.resolve()) not in loaded_plugins()

    fixed = write_plugin(tmp_path, "halfway_fixed", source.format(failure=""))
    load_plugin(fixed)
    assert op_origin("log1p") == op_origin("relu") == str(fixed.resolve())
    assert user_layer("HalfwayLayer").plugin == str(fixed.resolve())


def test_cli_clash_with_a_builtin_op_is_an_error(tmp_path):
    plugin = write_plugin(
        tmp_path, "clash_relu",
        """
        from mxnet2caffe.extend import converter

        @converter("relu")
        def convert_relu(ctx):
            return ctx.alias(ctx.input(0))
        """,
    )
    symbol, params = conv_then(tmp_path, mx.sym.relu)
    result = convert_cli(tmp_path, symbol, params, "--plugin", plugin)
    assert_one_line_error(
        result,
        f"error: plugin '{plugin.resolve()}' registers a converter for op 'relu', which mxnet2caffe converts already: "
        "register it with override=True",
    )
    assert_no_output(tmp_path)


def test_cli_two_plugins_converting_one_op_is_an_error_naming_both(tmp_path):
    source = """
        from mxnet2caffe.extend import converter

        @converter("cbrt")
        def convert_cbrt(ctx):
            return ctx.alias(ctx.input(0))
        """
    first = write_plugin(tmp_path, "cbrt_a", source)
    second = write_plugin(tmp_path, "cbrt_b", source)
    symbol, params = conv_then(tmp_path, mx.sym.cbrt)
    result = convert_cli(tmp_path, symbol, params, "--plugin", first, "--plugin", second)
    assert_one_line_error(result, f"op 'cbrt' has converters from two plugins: '{first.resolve()}' and '{second.resolve()}'")
    assert_no_output(tmp_path)


def test_cli_override_of_a_builtin_op_is_used_and_listed(tmp_path):
    """negative(x) as -x/2 then *2 (exact: powers of two): the override's layers are in the model."""
    plugin = write_plugin(
        tmp_path, "override_negative",
        """
        from mxnet2caffe.extend import Converted, Tensor, converter

        @converter("negative", override=True)
        def convert_negative_in_halves(ctx):
            data = ctx.input(0)
            steps = [("half", "Power", {"power_param": {"scale": -0.5}}), ("", "Power", {"power_param": {"scale": 2.0}})]
            return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), data.shape),))
        """,
    )
    symbol, params = conv_then(tmp_path, mx.sym.negative)
    result = convert_cli(tmp_path, symbol, params, "--plugin", plugin, "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'name: "head/half"' in (tmp_path / "out.prototxt").read_text()
    assert_runtimes_match_mxnet(
        symbol, params, tmp_path / "out.prototxt", tmp_path / "out.caffemodel", random_inputs({"data": SHAPE}), ["head"]
    )
    listed = run_cli("inspect", symbol, "--plugin", plugin)
    assert f"negative 1 from plugin '{plugin.resolve()}' (replaces the built-in converter)" in listing(listed.stdout)


def test_cli_converter_that_raises_names_plugin_node_and_op(tmp_path):
    plugin = write_plugin(
        tmp_path, "raising_cbrt",
        """
        from mxnet2caffe.extend import converter

        @converter("cbrt")
        def convert_cbrt(ctx):
            raise ValueError("negative inputs are not handled")
        """,
    )
    symbol, params = conv_then(tmp_path, mx.sym.cbrt)
    result = convert_cli(tmp_path, symbol, params, "--plugin", plugin)
    assert_one_line_error(
        result,
        f"error: node 'head' (op cbrt): the converter of plugin '{plugin.resolve()}' failed: "
        "ValueError: negative inputs are not handled",
    )
    assert_no_output(tmp_path)


def test_cli_converter_returning_no_converted_is_an_error(tmp_path):
    plugin = write_plugin(
        tmp_path, "list_cbrt",
        """
        from mxnet2caffe.extend import converter

        @converter("cbrt")
        def convert_cbrt(ctx):
            return [ctx.input(0)]
        """,
    )
    symbol, params = conv_then(tmp_path, mx.sym.cbrt)
    result = convert_cli(tmp_path, symbol, params, "--plugin", plugin)
    assert_one_line_error(
        result, f"node 'head' (op cbrt): the converter of plugin '{plugin.resolve()}' returned list, not a Converted"
    )
    assert_no_output(tmp_path)


def test_cli_inspect_lists_which_plugin_converts_which_op(tmp_path):
    write_plugin(tmp_path, "m2c_inspect_log1p", LOG1P_PLUGIN)
    data = mx.sym.Variable("data")
    sym = mx.sym.log1p(mx.sym.relu(mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="conv")), name="head")
    symbol = tmp_path / "model-symbol.json"
    sym.save(str(symbol))
    result = run_cli("inspect", symbol, "--plugin", "m2c_inspect_log1p", pythonpath=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = listing(result.stdout)
    assert "log1p 1 from plugin 'm2c_inspect_log1p'" in lines
    assert "Convolution 1" in lines
    assert "m2c_inspect_log1p (module): ops log1p; layer types none" in lines
    assert "all ops supported" in lines


# --- entry points of installed distributions ----------------------------------------------

INSTALL = "pip install --no-deps ./tests/plugin_package"


def _installed_test_plugin() -> str:
    try:
        return importlib.metadata.version("mxnet2caffe-test-plugin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"the test plugin distribution is not installed in this environment: run `{INSTALL}`")


def test_installed_plugin_converts_expm1_exactly_through_its_entry_point(tmp_path):
    version = _installed_test_plugin()
    data = mx.sym.Variable("data")
    sym = mx.sym.expm1(mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv"), name="head")
    assert_converts_exactly(sym, {"data": SHAPE}, tmp_path)  # no plugins named: the entry point loads
    assert op_origin("expm1") == "test_expm1"
    where = loaded_plugins()["test_expm1"]
    assert where == f"entry point test_expm1 = mxnet2caffe_test_plugin of mxnet2caffe-test-plugin {version}"


def test_cli_inspect_lists_the_installed_plugin_and_the_switch_turns_it_off(tmp_path):
    _installed_test_plugin()
    sym = mx.sym.expm1(mx.sym.Variable("data"), name="head")
    symbol = tmp_path / "model-symbol.json"
    sym.save(str(symbol))
    result = run_cli("inspect", symbol)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "expm1 1 from plugin 'test_expm1'" in listing(result.stdout)
    off = run_cli("inspect", symbol, env={NO_ENTRY_POINTS: "1"})
    assert off.returncode == 1
    assert "unsupported: expm1 x1" in off.stdout


def fake_distribution(directory: Path, name: str, entry_points: str) -> None:
    """An installed distribution as importlib.metadata finds it on sys.path: a .dist-info folder."""
    info = directory / f"{name.replace('-', '_')}-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text(f"[mxnet2caffe.plugins]\n{entry_points}\n")


def test_entry_point_naming_a_function_calls_it(tmp_path):
    write_plugin(
        tmp_path, "m2c_setup_module",
        """
        from mxnet2caffe.extend import register_converter

        def convert_cbrt(ctx):
            return ctx.alias(ctx.input(0))

        def setup():
            register_converter("cbrt", convert_cbrt)
        """,
    )
    fake_distribution(tmp_path, "m2c-setup-dist", "setup_entry = m2c_setup_module:setup")
    sym = mx.sym.cbrt(mx.sym.Variable("data"), name="head")
    symbol = tmp_path / "model-symbol.json"
    sym.save(str(symbol))
    result = run_cli("inspect", symbol, pythonpath=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = listing(result.stdout)
    assert "cbrt 1 from plugin 'setup_entry'" in lines
    assert "setup_entry (entry point setup_entry = m2c_setup_module:setup of m2c-setup-dist 0.2): ops cbrt; " \
           "layer types none" in lines


def test_installed_plugin_that_raises_names_entry_point_and_distribution(tmp_path):
    write_plugin(tmp_path, "m2c_broken_module", "import json\njson.loads('{')\n")
    fake_distribution(tmp_path, "m2c-broken-dist", "broken_entry = m2c_broken_module")
    symbol, params = conv_then(tmp_path, mx.sym.relu)
    result = convert_cli(tmp_path, symbol, params, pythonpath=tmp_path)
    assert_one_line_error(
        result,
        "error: plugin 'broken_entry' (entry point broken_entry = m2c_broken_module of m2c-broken-dist 0.2) "
        "failed to load: JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1) "
        f"(set {NO_ENTRY_POINTS}=1 to skip installed plugins)",
    )
    assert_no_output(tmp_path)
    skipped = convert_cli(tmp_path, symbol, params, pythonpath=tmp_path, env={NO_ENTRY_POINTS: "1"})
    assert skipped.returncode == 0, skipped.stderr

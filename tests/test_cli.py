"""The command line on good and bad input: messages, exit codes, and files left behind."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import mxnet as mx
import pytest

from harness import random_params, save_model


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", *map(str, args)],
        capture_output=True, text=True, cwd=cwd,
    )


def conv_model(directory, name="model"):
    data = mx.sym.Variable("data")
    sym = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    sym = mx.sym.Convolution(sym, kernel=(1, 1), num_filter=2, name="head")
    args, aux = random_params(sym, {"data": (1, 3, 8, 8)})
    return save_model(sym, args, aux, directory, name), sym, args


def assert_clean_failure(result, *fragments, directory=None):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    if directory is not None:
        assert not list(directory.glob("out*")), "a failed conversion left files behind"


def test_convert_writes_both_files_and_reports(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "data:1,3,8,8", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.prototxt").is_file() and (tmp_path / "out.caffemodel").is_file()
    assert "outputs head 1x2x6x6" in result.stdout


def test_checkpoint_form_and_bare_shape(tmp_path):
    conv_model(tmp_path, "net")
    result = run_cli("convert", tmp_path / "net", "0", "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "inputs data 1x3x8x8" in result.stdout


def test_convert_verify_passes(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    result = run_cli(
        "convert", symbol, params, "--input-shape", "data:1,3,8,8", "--output", tmp_path / "out", "--verify"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 2 blobs compared, every one within tolerance" in result.stdout
    assert "in opencv" in result.stdout


def test_console_script_is_installed(tmp_path):
    script = shutil.which("mxnet2caffe", path=os.path.dirname(sys.executable))
    assert script, "pip install . must install the mxnet2caffe console script"
    result = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "convert" in result.stdout


def test_missing_symbol_file(tmp_path):
    (_, params), _, _ = conv_model(tmp_path)
    missing = tmp_path / "nope-symbol.json"
    result = run_cli("convert", missing, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, str(missing), directory=tmp_path)


def test_missing_params_file(tmp_path):
    (symbol, _), _, _ = conv_model(tmp_path)
    missing = tmp_path / "nope.params"
    result = run_cli("convert", symbol, missing, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, str(missing), directory=tmp_path)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (json.dumps({"hello": 1}).encode(), "not an MXNet symbol"),
        (json.dumps([1, 2, 3]).encode(), "not an MXNet symbol"),
    ],
)
def test_bad_symbol_json(tmp_path, content, fragment):
    (symbol, params), _, _ = conv_model(tmp_path)
    symbol.write_bytes(content)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, str(symbol), fragment, directory=tmp_path)


def test_truncated_params(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    params.write_bytes(params.read_bytes()[:100])
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, str(params), "truncated", directory=tmp_path)


def test_params_with_wrong_magic(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    params.write_bytes(b"\x00" * 64)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, str(params), "magic", directory=tmp_path)


def test_weight_shape_disagrees_with_graph(tmp_path):
    (symbol, params), sym, args = conv_model(tmp_path)
    args = dict(args, conv_weight=mx.nd.ones((4, 3, 5, 5)))
    save_model(sym, args, {}, tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, "node 'conv'", "Convolution", "conv_weight", "(4, 3, 5, 5)", "(4, 3, 3, 3)", directory=tmp_path)


def test_missing_weight(tmp_path):
    (symbol, params), sym, args = conv_model(tmp_path)
    save_model(sym, {k: v for k, v in args.items() if k != "head_bias"}, {}, tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, "node 'head'", "head_bias", "missing", directory=tmp_path)


def test_unsupported_ops_listed_at_once_with_counts(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.sin(mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="conv"), name="sin_a")
    x = mx.sym.sin(x, name="sin_b")
    x = mx.sym.arccos(x, name="acos")
    args, aux = random_params(x, {"data": (1, 3, 4, 4)})
    symbol, params = save_model(x, args, aux, tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,4,4", "--output", tmp_path / "out")
    assert_clean_failure(result, "3 node(s) use unsupported ops", "sin x2: sin_a, sin_b", "arccos x1: acos", directory=tmp_path)


def test_unknown_input_name(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "image:1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, "'image' is not an input", "data", directory=tmp_path)


def test_failed_conversion_keeps_existing_good_output(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    out = tmp_path / "out"
    assert run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", out).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.glob("out.*")}
    params.write_bytes(params.read_bytes()[:-7])
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", out)
    assert result.returncode == 1
    assert {p.name: p.read_bytes() for p in tmp_path.glob("out*")} == before


def test_inspect_lists_ops_and_unsupported(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.sin(mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="conv"), name="s")
    x.save(str(tmp_path / "m-symbol.json"))
    result = run_cli("inspect", tmp_path / "m-symbol.json")
    assert result.returncode == 1
    assert "Convolution" in result.stdout and "sin" in result.stdout and "UNSUPPORTED" in result.stdout
    assert "heads: s" in result.stdout


def test_converts_where_mxnet_cannot_be_imported(tmp_path):
    """The reader and writer are ours: conversion works with MXNet unimportable."""
    (symbol, params), _, _ = conv_model(tmp_path)
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["mxnet"] = None  # any 'import mxnet' now raises ImportError
        try:
            import mxnet
        except ImportError:
            pass
        else:
            raise SystemExit("mxnet still importable")
        import mxnet2caffe
        summary = mxnet2caffe.convert({str(symbol)!r}, {str(params)!r}, {{"data": (1, 3, 8, 8)}}, {str(tmp_path / 'out')!r})
        assert "mxnet" not in sys.modules or sys.modules["mxnet"] is None
        print(summary.outputs)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "{'head': (1, 2, 6, 6)}" in result.stdout
    assert (tmp_path / "out.caffemodel").stat().st_size > 4 * (4 * 3 * 9 + 2 * 4)


def test_unwritable_output_is_a_clean_error(tmp_path):
    (symbol, params), _, _ = conv_model(tmp_path)
    (tmp_path / "out.caffemodel").mkdir()  # a directory where the caffemodel must go
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out")
    assert_clean_failure(result, "cannot write the model")
    assert not (tmp_path / "out.prototxt").exists()


def test_native_form_converts_and_verifies_in_real_caffe(tmp_path):
    from harness import EXAMPLE

    result = run_cli(
        "convert", EXAMPLE, "0", "--input-shape", "1,1,108,108", "--output", tmp_path / "out",
        "--broadcast-mul", "native", "--verify", "--backend", "caffe",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in caffe" in result.stdout and "OK: 119 blobs compared" in result.stdout
    assert (tmp_path / "out.prototxt").read_text().count('type: "MXBroadcastMul"') == 8


def test_build_layers_prints_the_plugin_path():
    result = run_cli("build-layers")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("libmxnet2caffe_layers.so")


def test_build_layers_without_a_caffe_home_is_a_clean_error(tmp_path):
    result = run_cli("build-layers", "--caffe-home", tmp_path)
    assert_clean_failure(result, str(tmp_path), "lib/libcaffe.so")


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--std", "58,0,57"], ["--std", "divides by zero"]),
        (["--scale", "0"], ["--scale", "erases the input"]),
        (["--mean", "1,nan,3"], ["--mean", "finite"]),
    ],
)
def test_bad_preprocessing_values_are_clean_errors(tmp_path, flags, fragments):
    (symbol, params), _, _ = conv_model(tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out", *flags)
    assert_clean_failure(result, *fragments, directory=tmp_path)


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--std", "1", "--scale", "1"], "not allowed with argument"),
        (["--mean", "a,b"], "bad values 'a,b'"),
        (["--profile", "tensorrt"], "invalid choice: 'tensorrt'"),
        (["--outputs", ","], "no output names given"),
    ],
)
def test_bad_option_syntax_is_a_usage_error(tmp_path, flags, fragment):
    (symbol, params), _, _ = conv_model(tmp_path)
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "--output", tmp_path / "out", *flags)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr
    assert not list(tmp_path.glob("out*"))


def test_opencv_profile_emits_ceil_mode_and_verifies(tmp_path):
    """7x7 input, 2x2/2 pooling: MXNet gives 3x3 where Caffe rounds up to 4x4."""
    data = mx.sym.Variable("data")
    sym = mx.sym.Pooling(mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="conv"), kernel=(2, 2),
                         stride=(2, 2), name="pool")
    args, aux = random_params(sym, {"data": (1, 3, 7, 7)})
    symbol, params = save_model(sym, args, aux, tmp_path)
    out = tmp_path / "out"
    result = run_cli("convert", symbol, params, "--input-shape", "1,3,7,7", "-o", out, "--profile", "opencv", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ceil_mode: false" in (tmp_path / "out.prototxt").read_text()
    assert "round down with ceil_mode: false" in result.stdout and "OK: 2 blobs compared" in result.stdout


def traced_calls(trace_file, command):
    """The child's (and its threads') fsync and sync_file_range calls, as strace -f lists them."""
    result = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,sync_file_range", "-o", str(trace_file),
                             sys.executable, "-m", "mxnet2caffe", *map(str, command)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return re.findall(r"\b(fsync|fdatasync|sync_file_range)\(", trace_file.read_text())


@pytest.mark.parametrize("command", ["convert", "onnx"])
def test_no_fsync_writes_the_same_files_without_flushing_them(tmp_path, command):
    assert shutil.which("strace"), "strace is installed by scripts/setup_env.sh for the tests"
    (symbol, params), _, _ = conv_model(tmp_path)
    common = [command, symbol, params, "--input-shape", "data:1,3,8,8", "--output"]
    flushed = traced_calls(tmp_path / "durable.trace", [*common, tmp_path / "durable" / "out"])
    quick = traced_calls(tmp_path / "quick.trace", [*common, tmp_path / "quick" / "out", "--no-fsync"])
    assert flushed.count("fsync") >= (5 if command == "convert" else 3)  # temporaries, journal, folder
    assert quick == []
    written = sorted(path.name for path in (tmp_path / "durable").iterdir())
    assert written == (["out.caffemodel", "out.prototxt"] if command == "convert" else ["out.onnx"])
    assert sorted(path.name for path in (tmp_path / "quick").iterdir()) == written
    for name in written:
        assert (tmp_path / "quick" / name).read_bytes() == (tmp_path / "durable" / name).read_bytes()

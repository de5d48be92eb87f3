"""Hostile and broken models, bad output paths and interrupts through the command line (issue 11).

Every bad input must end in one short message naming the node, attribute or file, exit code 1
(never 2, "internal error"), and no file written or changed: the tests run with outputs of an
earlier conversion in place and check the directory is byte for byte what it was.
"""

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time

import mxnet as mx
import pytest

from harness import random_params, save_model

MAX_MESSAGE = 300  # characters: a message is a line or two, never a dump


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def small_model(directory):
    """data 1x3x8x8 -> conv (3x3, 4) -> bn -> pool (2x2, stride 2) -> concat (pool, pool) -> head (1x1)."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.BatchNorm(x, eps=1e-5, fix_gamma=False, name="bn")
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool")
    x = mx.sym.Concat(x, x, dim=1, name="concat")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=2, name="head")
    args, aux = random_params(x, {"data": (1, 3, 8, 8)})
    return save_model(x, args, aux, directory)


def snapshot(directory):
    return {path.name: path.read_bytes() for path in directory.iterdir()}


@pytest.fixture
def model(tmp_path):
    """The model files and outputs of a good conversion, as a bad run must leave them."""
    symbol, params = small_model(tmp_path)
    good = run_cli("convert", symbol, params, "--input-shape", "1,3,8,8", "-o", tmp_path / "out")
    assert good.returncode == 0, good.stderr
    return symbol, params


def assert_rejected(directory, args, *fragments):
    before = snapshot(directory)
    result = run_cli(*args)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr) < MAX_MESSAGE, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert snapshot(directory) == before, "a failed conversion wrote or changed a file"
    return result.stderr


def edit_symbol(symbol, edit):
    document = json.loads(symbol.read_text())
    edit(document)
    symbol.write_text(json.dumps(document))


def set_attribute(node_name, key, value):
    def edit(document):
        (node,) = [node for node in document["nodes"] if node["name"] == node_name]
        node["attrs"][key] = value

    return edit


def convert_args(symbol, params, directory, *extra):
    return ("convert", symbol, params, "--input-shape", "1,3,8,8", "-o", directory / "out", *extra)


@pytest.mark.parametrize(
    "node, key, value",
    [
        ("conv", "stride", "(0, 0)"),  # ZeroDivisionError before
        ("conv", "dilate", "(0, 0)"),  # accepted before
        ("conv", "num_group", "0"),  # ZeroDivisionError before
        ("conv", "num_filter", "0"),
        ("conv", "stride", "(4294967296, 1)"),  # protobuf "Value out of range" before
        ("conv", "pad", "(-1, -1)"),
        ("conv", "kernel", "(0, 0)"),
        ("conv", "stride", "("),  # malformed tuples read as the default before
        ("conv", "stride", "(,)"),
        ("conv", "kernel", "[]"),  # a required tuple given empty
        ("conv", "num_filter", "1" * 5000),  # a 5000-digit integer
        ("conv", "stride", f"({2**63}, 1)"),  # beyond int64
        ("pool", "stride", "(0, 0)"),
        ("pool", "kernel", "(0, 0)"),
        ("pool", "pad", "(-1, 0)"),
        ("bn", "eps", "nan"),  # accepted before
        ("bn", "eps", "inf"),
        ("bn", "eps", "-1e-05"),
        ("bn", "axis", "None"),  # MXNet refuses it (axis is a plain int); read as the default 1 before
        ("concat", "num_args", "0"),  # IndexError before
    ],
)
def test_bad_attribute_is_a_clean_error(model, tmp_path, node, key, value):
    symbol, params = model
    edit_symbol(symbol, set_attribute(node, key, value))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), f"node '{node}'", f"attribute '{key}'")


def upsampling_model(directory):
    """data 1x3x5x5 -> deconv (3x3, stride 2, pad 1, adj 1, 4) -> instance norm -> l2 norm."""
    data = mx.sym.Variable("data")
    x = mx.sym.Deconvolution(data, kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=4, name="deconv")
    x = mx.sym.InstanceNorm(x, eps=1e-3, name="inorm")
    x = mx.sym.L2Normalization(x, mode="channel", eps=1e-10, name="l2")
    args, aux = random_params(x, {"data": (1, 3, 5, 5)})
    return save_model(x, args, aux, directory, "upsampling")


@pytest.mark.parametrize(
    "node, key, value",
    [
        ("deconv", "pad", "(-1, -1)"),  # a Caffe pad of -1 before
        ("deconv", "pad", "(0, -2)"),
        ("deconv", "adj", "(-1, 0)"),  # a Crop at offset -1 before
        ("inorm", "eps", "nan"),  # accepted before
        ("inorm", "eps", "-inf"),
        ("inorm", "eps", "-0.001"),
        ("l2", "eps", "inf"),
        ("l2", "eps", "-1e-10"),
    ],
)
def test_bad_upsampling_attribute_is_a_clean_error(tmp_path, node, key, value):
    symbol, params = upsampling_model(tmp_path)
    args = ("convert", symbol, params, "--input-shape", "1,3,5,5", "-o", tmp_path / "out")
    good = run_cli(*args)
    assert good.returncode == 0, good.stderr
    edit_symbol(symbol, set_attribute(node, key, value))
    assert_rejected(tmp_path, args, f"node '{node}'", f"attribute '{key}'")


@pytest.mark.parametrize("value", [None, [1, 2], {"a": "b"}])
def test_attribute_that_is_not_a_string(model, tmp_path, value):
    symbol, params = model
    edit_symbol(symbol, set_attribute("bn", "axis", value))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), str(symbol), "node 'bn'", "attribute 'axis'")


@pytest.mark.parametrize(
    "replace, fragment",
    [
        # nested 2000 deep: RecursionError before
        (lambda text: text.replace('"heads"', '"deep": ' + "[" * 2000 + "]" * 2000 + ', "heads"', 1), "nested 2001"),
        (lambda text: text.replace('"heads"', '"big": ' + "9" * 5000 + ', "heads"', 1), "5000 characters"),
        # OverflowError before
        (lambda text: text.replace('["int", 10901]', '["int", 1e400]'), "1e400 is out of range"),
        (lambda text: text.replace('["int", 10901]', '["int", Infinity]'), "Infinity is not a JSON number"),
    ],
    ids=["deep", "long-integer", "huge-float", "infinity"],
)
def test_hostile_json_is_a_clean_error(model, tmp_path, replace, fragment):
    symbol, params = model
    text = symbol.read_text()
    assert '"mxnet_version": ["int", 10901]' in text
    symbol.write_text(replace(text))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), str(symbol), fragment)


def test_params_array_with_more_dimensions_than_numpy_holds(model, tmp_path):
    symbol, _ = model
    ndim = 33
    array = struct.pack("<Iii", 0xF993FACA, 0, ndim) + struct.pack(f"<{ndim}q", *[1] * ndim)
    array += struct.pack("<iii", 1, 0, 0) + struct.pack("<f", 1.0)
    name = b"arg:conv_weight"
    content = struct.pack("<QQQ", 0x112, 0, 1) + array + struct.pack("<QQ", 1, len(name)) + name
    params = tmp_path / "ndim33.params"
    params.write_bytes(content)
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), str(params), "33 dimensions")


@pytest.mark.parametrize("output", ["", ".", "/", "..", "sub/"])
def test_output_that_is_not_a_file_prefix(model, tmp_path, output):
    symbol, params = model
    args = ("convert", symbol, params, "--input-shape", "1,3,8,8", "-o", output)
    assert_rejected(tmp_path, args, f"--output {output!r}")


def test_write_error_names_the_requested_output(model, tmp_path):
    """/sys refuses new files even to root: the error names model.prototxt, not the hidden
    temporary (".model.prototxt.xxxx") the writer made it as."""
    symbol, params = model
    stderr = assert_rejected(tmp_path, convert_args(symbol, params, tmp_path)[:-1] + ("/sys/model",), "/sys/model.prototxt:")
    assert "/sys/.model" not in stderr, stderr


def test_output_under_a_regular_file(model, tmp_path):
    symbol, params = model
    (tmp_path / "file.txt").write_text("not a directory")
    args = convert_args(symbol, params, tmp_path)[:-1] + (tmp_path / "file.txt" / "model",)
    assert_rejected(tmp_path, args, f"{tmp_path / 'file.txt'}: cannot write the model")


def test_input_shape_beyond_int64(model, tmp_path):
    symbol, params = model
    args = ("convert", symbol, params, "--input-shape", f"data:1,3,8,{2**63}", "-o", tmp_path / "out")
    assert_rejected(tmp_path, args, "--input-shape data:", "exceeds")


def test_bare_and_named_shape_for_the_same_input(model, tmp_path):
    symbol, params = model
    args = ("convert", symbol, params, "--input-shape", "1,3,8,8", "--input-shape", "data:2,3,8,8")
    assert_rejected(tmp_path, (*args, "-o", tmp_path / "out"), "two shapes for input 'data'")


# --- file modes ----------------------------------------------------------------------------------

def convert_with_umask(umask, symbol, params, output):
    """The CLI in a process whose umask is `umask` (os.umask is process-wide)."""
    code = "import os, sys; from mxnet2caffe.cli import main; os.umask(int(sys.argv[1], 8)); sys.exit(main(sys.argv[2:]))"
    args = ["convert", str(symbol), str(params), "--input-shape", "1,3,8,8", "-o", str(output)]
    return subprocess.run([sys.executable, "-c", code, f"{umask:o}", *args], capture_output=True, text=True)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o000, 0o666)])
def test_new_outputs_get_the_umask_mode(model, tmp_path, umask, mode):
    symbol, params = model
    result = convert_with_umask(umask, symbol, params, tmp_path / "fresh")
    assert result.returncode == 0, result.stderr
    for suffix in (".prototxt", ".caffemodel"):
        assert stat.S_IMODE(os.stat(tmp_path / f"fresh{suffix}").st_mode) == mode


def test_overwritten_outputs_keep_their_mode(model, tmp_path):
    symbol, params = model
    os.chmod(tmp_path / "out.prototxt", 0o640)
    os.chmod(tmp_path / "out.caffemodel", 0o604)
    result = convert_with_umask(0o077, symbol, params, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "out.prototxt").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "out.caffemodel").st_mode) == 0o604


# --- interrupts ----------------------------------------------------------------------------------

def large_model(directory):
    """Six 512-filter 3x3 convolutions: a 57 MB caffemodel, long enough to interrupt while writing."""
    x = mx.sym.Variable("data")
    for index in range(6):
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=512, name=f"conv{index}")
    args, aux = random_params(x, {"data": (1, 512, 4, 4)})
    return save_model(x, args, aux, directory, "large")


OLD_PROTOTXT, OLD_CAFFEMODEL = b"old prototxt", b"old caffemodel"


def interrupted_run(symbol, params, directory, signum, delay):
    """Starts a conversion over old outputs; sends `signum` `delay` seconds after its temporary
    file appears (conversion is under way then); returns the finished process."""
    (directory / "out.prototxt").write_bytes(OLD_PROTOTXT)
    (directory / "out.caffemodel").write_bytes(OLD_CAFFEMODEL)
    process = subprocess.Popen(
        [sys.executable, "-m", "mxnet2caffe", "convert", str(symbol), str(params),
         "--input-shape", "1,512,4,4", "-o", str(directory / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not any(name.startswith(".out.") for name in os.listdir(directory)):
        if process.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.0005)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize("signum, code, line", [(signal.SIGINT, 130, "interrupted\n"), (signal.SIGTERM, 143, "terminated\n")])
def test_interrupt_leaves_old_or_new_outputs_and_no_temporary(tmp_path, signum, code, line):
    models, outputs = tmp_path / "models", tmp_path / "outputs"
    models.mkdir()
    outputs.mkdir()
    symbol, params = large_model(models)
    reference = run_cli("convert", symbol, params, "--input-shape", "1,512,4,4", "-o", models / "out")
    assert reference.returncode == 0, reference.stderr
    new = ((models / "out.prototxt").read_bytes(), (models / "out.caffemodel").read_bytes())
    outcomes = []
    for delay in (0.0, 0.001, 0.003, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25):
        returncode, stderr = interrupted_run(symbol, params, outputs, signum, delay)
        assert sorted(os.listdir(outputs)) == ["out.caffemodel", "out.prototxt"], "a temporary file remains"
        pair = ((outputs / "out.prototxt").read_bytes(), (outputs / "out.caffemodel").read_bytes())
        if returncode in (0, -signum):  # the signal came too late, or as the interpreter shut down
            assert pair == new
            outcomes.append("finished")
            continue
        assert (returncode, stderr) == (code, line)
        # an interrupt that arrives while both files are being installed waits for the install
        assert pair in ((OLD_PROTOTXT, OLD_CAFFEMODEL), new)
        outcomes.append("old" if pair[0] == OLD_PROTOTXT else "new")
    assert outcomes.count("old") >= 3, f"too few runs were interrupted while writing: {outcomes}"

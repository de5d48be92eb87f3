"""Hostile and broken models, bad output paths and interrupts through the command line (issue 11).

Every bad input must end in one short message naming the node, attribute or file, exit code 1
(never 2, "internal error"), and no file written or changed: the tests run with outputs of an
earlier conversion in place and check the directory is byte for byte what it was.
"""

import json
import os
import resource
import signal
import stat
import struct
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from mxnet2caffe import convert
from mxnet2caffe.errors import ShapeError

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


# --- sizes: overflow checks and the blob limit ---------------------------------------------------

def reshape_model(directory):
    """data 1x16x27x27 -> Reshape (16, -1) -> head: Flatten."""
    x = mx.sym.Reshape(mx.sym.Variable("data"), shape=(16, -1), name="reshape")
    x = mx.sym.Flatten(x, name="head")
    return save_model(x, {}, {}, directory, "reshape")


def test_reshape_beyond_int64_is_refused(tmp_path):
    """16 x 1152921504606847705 is 2**64 + 11664: in int64 it wraps to the input's 11664 elements and
    passed the element-count check before. MXNet refuses the attribute (its Reshape dims are int)."""
    symbol, params = reshape_model(tmp_path)
    args = ("convert", symbol, params, "--input-shape", "1,16,27,27", "-o", tmp_path / "out")
    assert run_cli(*args).returncode == 0
    with pytest.raises(mx.base.MXNetError, match="Invalid Parameter format for shape"):
        mx.sym.Reshape(mx.sym.Variable("data"), shape="(16, 1152921504606847705)")
    edit_symbol(symbol, set_attribute("reshape", "shape", "(16, 1152921504606847705)"))
    assert_rejected(tmp_path, args, "node 'reshape'", "32-bit dims")


def test_reshape_product_is_exact(tmp_path):
    """Dims within int32 whose product wraps in int64: (2**30 + 1) * (2**30 + 1) * 16 is
    2**64 + 2**35 + 16, which np.prod gives as the 2**35 + 16 elements of the input (1, 16, 2**31 + 1):
    the check passed before. Products are exact now. (The limit is raised so that the input passes.)"""
    symbol, params = reshape_model(tmp_path)
    args = ("convert", symbol, params, "--input-shape", f"1,16,{2**31 + 1}", "-o", tmp_path / "out",
            "--max-blob-elements", str(2**36))
    edit_symbol(symbol, set_attribute("reshape", "shape", f"({2**30 + 1}, {2**30 + 1}, 16)"))
    assert_rejected(tmp_path, args, "node 'reshape'", "cannot reshape (1, 16, 2147483649) into")


def avg_pooling_model(directory, kernel=(3, 3), pad=(1, 1)):
    """data -> avg Pooling (count_include_pad=False: a per-position divisor map) named pool."""
    x = mx.sym.Pooling(
        mx.sym.Variable("data"), kernel=kernel, stride=(1, 1), pad=pad, pool_type="avg",
        count_include_pad=False, name="pool",
    )
    return save_model(x, {}, {}, directory, "pool")


def test_huge_avg_pooling_input_is_refused_before_any_allocation(tmp_path):
    """100000x100000 asked for 74.5 GiB before (MemoryError, exit 2): the input is past the blob
    limit (Caffe's INT_MAX elements by default), refused at once, before anything is allocated."""
    symbol, params = avg_pooling_model(tmp_path)
    started = time.monotonic()
    args = ("convert", symbol, params, "--input-shape", "1,1,100000,100000", "-o", tmp_path / "out")
    assert_rejected(tmp_path, args, "input 'data'", "10000000000 elements", "--max-blob-elements")
    assert time.monotonic() - started < 30


def test_pooling_output_past_the_limit_is_refused_before_its_divisor_map(tmp_path):
    """Input 1000x1000 within a limit of 1e6 elements; pad 2 makes the output 1002x1002, past it."""
    symbol, params = avg_pooling_model(tmp_path, kernel=(3, 3), pad=(2, 2))
    args = ("convert", symbol, params, "--input-shape", "1,1,1000,1000", "-o", tmp_path / "out",
            "--max-blob-elements", "1000000")
    assert_rejected(tmp_path, args, "node 'pool'", "(1, 1, 1002, 1002)", "1004004 elements", "limit of 1000000")


def test_large_divisor_map_within_the_limit_converts(tmp_path):
    """The decision for the 4000x4000 case: the map is MXNet's exact divisor per output position,
    16M floats (a 64 MB caffemodel from a 494-byte symbol), within Caffe's limit: converted. A user
    who wants no such model lowers --max-blob-elements, which refuses it naming the node."""
    symbol, params = avg_pooling_model(tmp_path)
    args = ("convert", symbol, params, "--input-shape", "1,1,4000,4000", "-o", tmp_path / "out")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.caffemodel").stat().st_size > 4000 * 4000 * 4
    (tmp_path / "out.caffemodel").unlink()
    (tmp_path / "out.prototxt").unlink()
    assert_rejected(tmp_path, args + ("--max-blob-elements", "10000000"), "input 'data'", "limit of 10000000")


@pytest.mark.parametrize("limit", ["0", "-5", f"{2**63}"])
def test_blob_limit_out_of_range(model, tmp_path, limit):
    symbol, params = model
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path, "--max-blob-elements", limit), "max_blob_elements")


# --- messages: short whatever the file holds -----------------------------------------------------

def params_with_array_header(header):
    """A .params file of one array named conv_weight whose header (after the u32 magic) is `header`."""
    name = b"arg:conv_weight"
    return struct.pack("<QQQ", 0x112, 0, 1) + header + struct.pack("<QQ", 1, len(name)) + name


@pytest.mark.parametrize(
    "header, fragment",
    [
        # one flipped bit in the V2 magic 0xF993FAC9 makes it the legacy layout's ndim 2039741129:
        # a 1.4 MB message listing the "shape" before
        (struct.pack("<I", 0xF993FAC9 ^ (1 << 31)) + b"\x01" * 64, "2039741129 dimensions"),
        # a crafted ndim: 5.1 MB before
        (struct.pack("<Iii", 0xF993FACA, 0, 1 << 20) + b"\x00" * 64, "1048576 dimensions"),
        # a shape of 32 negative dims: short enough, cut anyway
        (struct.pack("<Iii", 0xF993FACA, 0, 32) + struct.pack("<32q", *[-(2**62)] * 32), "26 more"),
    ],
    ids=["flipped-magic", "crafted-ndim", "negative-dims"],
)
def test_params_header_messages_are_short(model, tmp_path, header, fragment):
    symbol, _ = model
    params = tmp_path / "bad.params"
    params.write_bytes(params_with_array_header(header))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), str(params), "array 0", fragment)


def test_huge_kernel_tuple_message_is_short(model, tmp_path):
    """A 20M-entry kernel tuple: a 63 MB message before; refused unparsed now."""
    symbol, params = model
    edit_symbol(symbol, set_attribute("conv", "kernel", "(" + "3," * 20_000_000 + ")"))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), "node 'conv'", "attribute 'kernel'", "at most 256")


@pytest.mark.parametrize("key", ["pool_type", "pooling_convention"])
def test_huge_string_attribute_message_is_short(model, tmp_path, key):
    symbol, params = model
    edit_symbol(symbol, set_attribute("pool", key, "x" * 1_000_000))
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), "node 'pool'", key, "(1000002 characters)")


def test_huge_node_name_message_is_short(model, tmp_path):
    symbol, params = model
    edit_symbol(symbol, set_attribute("pool", "stride", "(0, 0)"))
    edit_symbol(symbol, lambda document: [node.update(name="p" * 1_000_000) for node in document["nodes"]
                                          if node["name"] == "pool"])
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), "(1000000 characters)", "attribute 'stride'")


def test_many_uninitialised_arrays_give_a_few_warnings(model, tmp_path):
    """250k uninitialised ("none") arrays beside the real ones: 250k warning lines before; five and
    a count now, and the conversion succeeds."""
    symbol, params = model
    content = params.read_bytes()
    (count,) = struct.unpack_from("<Q", content, 16)
    arrays_end = _arrays_end(content, count)
    extra = 250_000
    none_array = struct.pack("<Iii", 0xF993FAC9, 0, 0)
    names = content[arrays_end + 8 :] + b"".join(
        struct.pack("<Q", len(name)) + name for name in (f"arg:unused{i}".encode() for i in range(extra))
    )
    crowded = tmp_path / "crowded.params"
    crowded.write_bytes(
        content[:16] + struct.pack("<Q", count + extra) + content[24:arrays_end] + none_array * extra
        + struct.pack("<Q", count + extra) + names
    )
    result = run_cli(*convert_args(symbol, crowded, tmp_path))
    assert result.returncode == 0, result.stderr[:500]
    lines = result.stderr.splitlines()
    assert len(lines) == 6, lines[:10]
    assert lines[0].startswith("WARNING: ") and "array " in lines[0] and "uninitialized" in lines[0]
    assert lines[-1] == f"WARNING: ... and {extra - 5} more like these"


def _arrays_end(content, count):
    """Offset of the name count in a .params file of `count` float32 V2 arrays."""
    position = 24
    for _ in range(count):
        (ndim,) = struct.unpack_from("<i", content, position + 8)
        dims = struct.unpack_from(f"<{ndim}q", content, position + 12)
        position += 12 + 8 * ndim + 12 + 4 * int(np.prod(dims))
    return position


def test_unread_attributes_warning_is_short(model, tmp_path):
    """Attributes no converter reads are logged; a huge one is cut, and many nodes give five lines."""
    symbol, params = model
    edit_symbol(symbol, set_attribute("conv", "unknown", "u" * 1_000_000))
    result = run_cli(*convert_args(symbol, params, tmp_path))
    assert result.returncode == 0, result.stderr[:500]
    assert "node 'conv' (op Convolution): attributes not used" in result.stderr
    assert "(1000000 characters)" in result.stderr and len(result.stderr) < MAX_MESSAGE


# --- input shapes given through the API ----------------------------------------------------------

@pytest.mark.parametrize(
    "shape, fragment",
    [((1, 3, 0, 8), "needs positive dims"), ((1, 3, -8, 8), "needs positive dims"),
     ((1, 3, 8, 2**63), "more than the limit"), ((1, 3, 8.5, 8), "not integers"), ((), "needs positive dims")],
)
def test_api_input_shape_is_checked(model, tmp_path, shape, fragment):
    symbol, params = model
    before = snapshot(tmp_path)
    with pytest.raises(ShapeError, match=fragment):
        convert(symbol, params, {"data": shape}, tmp_path / "out")
    assert snapshot(tmp_path) == before


def test_upsampling_scale_past_the_limit_is_refused_before_its_weights(model, tmp_path):
    """Found by the fuzzer: scale 4294967296 made numpy refuse the (C, 1, scale, scale) weights
    ("array is too big", exit 2). The output's size is checked first."""
    symbol, params = model

    def add_upsampling(document):
        head = document["heads"][0][0]
        document["nodes"].append({
            "op": "UpSampling", "name": "up", "inputs": [[head, 0, 0]],
            "attrs": {"scale": "4294967296", "sample_type": "nearest", "num_args": "1"},
        })
        document["heads"] = [[len(document["nodes"]) - 1, 0, 0]]

    edit_symbol(symbol, add_upsampling)
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), "node 'up'", "more than the limit")


@pytest.mark.parametrize(
    "op, attrs, fragment",
    [
        # found by the fuzzer: a Concat of 4294967296 copies was built (MemoryError, exit 2)
        ("tile", {"reps": "(1, 1, 1, 4294967296)"}, "more than the limit"),
        ("tile", {"reps": "(1, 5000)"}, "5000 copies, more than the 4096"),
        ("repeat", {"repeats": "4294967296", "axis": "1"}, "more than the limit"),
        ("repeat", {"repeats": "5000", "axis": "1"}, "5000 copies"),
    ],
)
def test_copies_past_the_limits_are_refused_before_any_layer(model, tmp_path, op, attrs, fragment):
    symbol, params = model

    def add_copies(document):
        head = document["heads"][0][0]
        document["nodes"].append({"op": op, "name": "copies", "inputs": [[head, 0, 0]], "attrs": attrs})
        document["heads"] = [[len(document["nodes"]) - 1, 0, 0]]

    edit_symbol(symbol, add_copies)
    assert_rejected(tmp_path, convert_args(symbol, params, tmp_path), "node 'copies'", fragment)


def test_divisor_map_beyond_memory_is_a_clean_error(tmp_path):
    """With the blob limit raised past the 100000x100000 output, the 40 GB divisor map cannot be
    made (here: 3 GiB of address space): a clean error naming the node, not a MemoryError."""
    symbol, params = avg_pooling_model(tmp_path)
    before = snapshot(tmp_path)

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    result = subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", "convert", str(symbol), str(params), "--input-shape",
         "1,1,100000,100000", "--max-blob-elements", str(2**40), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, preexec_fn=limit_memory, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == "error: node 'pool' (op Pooling): not enough memory for the divisor map of the " \
        "(1, 1, 100000, 100000) output\n"
    assert snapshot(tmp_path) == before

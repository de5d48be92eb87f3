"""The plugin example of examples/gelu_erf, run as its README runs it: a model with two MXNet
CustomOps "gelu_erf" (Python), converted with the plugin of examples/gelu_erf/gelu_erf_layer into
GeluErf layers of its own, and verified against real MXNet in real Caffe (the layer library built
with the example's folder), OpenCV DNN (its custom layer) and, through the plugin's ONNX form, ONNX
Runtime. Each command runs in a process of its own, as a user runs it: Caffe loads one layer
library per process, and this process loads none."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import onnx
import pytest

from harness import ROOT

FOLDER = ROOT / "examples" / "gelu_erf"
PLUGIN = FOLDER / "gelu_erf_layer" / "gelu_erf_plugin.py"
SYMBOL, PARAMS = FOLDER / "model" / "gelu_net-symbol.json", FOLDER / "model" / "gelu_net-0000.params"
INPUT_SHAPE = "data:1,3,32,32"
TOLERANCE = 1e-4  # relative max error against MXNet, for every compared blob
# what verify compares: every op output of the model, the two gelu_erf nodes among them
BLOBS = ["conv0", "bn0", "gelu0", "conv1", "bn1", "gelu1", "pool", "fc"]


def run(command, cwd=ROOT, returncode=0):
    """Runs a command as a user would (no bytecode left in the example's folders); what it printed
    (stdout; stderr too when it is to fail)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == returncode, f"{shlex.join(map(str, command))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout if returncode == 0 else result.stdout + result.stderr


def mxnet2caffe(*args, returncode=0):
    return run([sys.executable, "-m", "mxnet2caffe", *map(str, args)], returncode=returncode)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The bundled model converted with the plugin: (prototxt, caffemodel)."""
    prefix = tmp_path_factory.mktemp("gelu_erf") / "gelu_net"
    mxnet2caffe("convert", SYMBOL, PARAMS, "--input-shape", INPUT_SHAPE, "--plugin", PLUGIN, "-o", prefix)
    return prefix.with_suffix(".prototxt"), prefix.with_suffix(".caffemodel")


def test_without_the_plugin_the_custom_op_is_unsupported(tmp_path):
    """The converter comes from the plugin only: mxnet2caffe alone refuses the model."""
    output = mxnet2caffe("convert", SYMBOL, PARAMS, "--input-shape", INPUT_SHAPE, "-o", tmp_path / "gelu_net",
                         returncode=1)
    assert "Custom:gelu_erf x2: gelu0, gelu1" in output, output
    assert not list(tmp_path.iterdir())


def test_inspect_names_the_plugin_of_the_op():
    output = mxnet2caffe("inspect", SYMBOL, "--plugin", PLUGIN)
    assert re.search(rf"Custom:gelu_erf +2 +from plugin '{re.escape(str(PLUGIN))}'", output), output


def test_each_custom_op_becomes_one_gelu_erf_layer(converted):
    prototxt, _ = converted
    types = re.findall(r'^\s*type: "(\w+)"', prototxt.read_text(), re.MULTILINE)
    assert types.count("GeluErf") == 2, types
    assert "Custom" not in types and "gelu_erf" not in types, types


@pytest.mark.parametrize("backend", ["caffe", "opencv", "onnxruntime"])
def test_verify_matches_mxnet_layer_by_layer(converted, backend):
    """verify exits 0 only when every blob is within the tolerance; its rows name each blob
    compared, so the GeluErf layers' outputs are checked, not only the model's output."""
    prototxt, caffemodel = converted
    report = mxnet2caffe("verify", SYMBOL, PARAMS, prototxt, caffemodel, "--plugin", PLUGIN,
                         "--backend", backend, "--tolerance", TOLERANCE)
    # rows: blob, shape, max abs err, rel err, cosine
    rows = {blob: float(error) for blob, error in re.findall(r"^  (\w+) +\d\S* +\S+ +(\S+) +\S+", report, re.MULTILINE)}
    assert list(rows) == BLOBS, report
    assert max(rows.values()) <= TOLERANCE, report
    assert report.rstrip().endswith(f"OK: {len(BLOBS)} blobs compared, every one within tolerance"), report


def test_onnx_export_matches_mxnet_in_onnxruntime(tmp_path):
    """`onnx --plugin` writes the GeluErf layers as ONNX's own ops (Div, Erf, Add, Mul), and
    --trt-check writes MXNet's outputs for seeded inputs with the polygraphy command a TensorRT
    user runs; here polygraphy's ONNX Runtime runner stands in for TensorRT (absolute tolerance
    TOLERANCE * max|MXNet output|, no relative one: the relative max error)."""
    printed = mxnet2caffe("onnx", SYMBOL, PARAMS, "--input-shape", INPUT_SHAPE, "--plugin", PLUGIN,
                          "-o", tmp_path / "gelu_net", "--trt-check", tmp_path / "check", "--tolerance", TOLERANCE)
    ops = [node.op_type for node in onnx.load(str(tmp_path / "gelu_net.onnx")).graph.node]
    assert ops.count("Erf") == 2 and "GeluErf" not in ops, ops
    (command,) = [line for line in printed.splitlines() if line.startswith("polygraphy run ")]
    words = shlex.split(command)
    words[words.index("--trt")] = "--onnxrt"
    polygraphy = shutil.which("polygraphy", path=os.path.dirname(sys.executable))
    assert polygraphy, "polygraphy is in the test extra"
    output = run([polygraphy, *words[1:]])
    assert "PASSED | Output: 'fc'" in output, output


def test_the_layer_folder_tests_pass():
    """The example layer's own tests (test_gelu_erf.py: kernel vs numpy and known values, the
    gradient by finite differences, Caffe and OpenCV vs numpy, a model verified against MXNet),
    in a process of their own since they load the layer library into Caffe; none may skip."""
    output = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "."],
                 cwd=FOLDER / "gelu_erf_layer")
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ passed(, \d+ warnings?)? in .*", summary), output
    assert int(summary.strip("= ").split()[0]) >= 13, output


def test_the_bundled_model_is_what_make_model_builds(tmp_path):
    """make_model.py rebuilds the model under examples/ bit for bit (seeded weights)."""
    run([sys.executable, FOLDER / "make_model.py", tmp_path / "gelu_net"], cwd=FOLDER)
    assert (tmp_path / "gelu_net-symbol.json").read_text() == SYMBOL.read_text()
    assert (tmp_path / "gelu_net-0000.params").read_bytes() == PARAMS.read_bytes()

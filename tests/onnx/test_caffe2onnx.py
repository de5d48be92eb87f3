"""Caffe models read back and emitted as ONNX: `mxnet2caffe caffe2onnx` on converted models (stock
and native layers) against real MXNet, a hand-written prototxt (in-place layers, net-level input,
kernel_size) against real Caffe, `verify --backend onnxruntime`, and the `--trt-check` files run
by polygraphy's onnxruntime runner. Tolerance: relative max error 1e-4 (max|a-b| / max|b|)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from caffe_models import hand_written
from conftest import assert_tensorrt_ready
from verify.test_renamed_models import broken_copy

import mxnet2caffe
from mxnet2caffe.cli import main
from mxnet2caffe.verify.backends import caffe_blobs, onnxruntime_blobs
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

from harness import EXAMPLE, TOLERANCE, mxnet_forward

SYMBOL, PARAMS = f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params"


@pytest.fixture(scope="module", params=["stock", "native"])
def example(request, tmp_path_factory):
    """The bundled SE-ResNet converted to Caffe, with its broadcast_mul in each form."""
    options = mxnet2caffe.ConvertOptions(forms={"broadcast_mul": request.param})
    summary = mxnet2caffe.convert(SYMBOL, PARAMS, {"data": (1, 1, 108, 108)}, tmp_path_factory.mktemp("se") / "se", options)
    return request.param, summary.prototxt, summary.caffemodel


def relative_error(got, want):
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_caffe2onnx_of_the_example_matches_mxnet(example, tmp_path):
    form, prototxt, caffemodel = example
    assert main(["caffe2onnx", str(prototxt), str(caffemodel), "-o", str(tmp_path / "se")]) == 0
    model = onnx.load(str(tmp_path / "se.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert_tensorrt_ready(model)
    inputs = random_inputs({"data": (1, 1, 108, 108)}, seed=5)
    (want,) = mxnet_forward(SYMBOL, PARAMS, inputs)
    (got,) = onnxruntime.InferenceSession(str(tmp_path / "se.onnx"), providers=["CPUExecutionProvider"]).run(None, inputs)
    assert relative_error(got, want) <= TOLERANCE


def test_dynamic_batch_of_a_native_model_runs_at_1_and_4(example, tmp_path):
    """Native MXBroadcastMul keeps the batch axis; the stock form's Reshape to (C,) fixes batch 1."""
    form, prototxt, caffemodel = example
    argv = ["caffe2onnx", str(prototxt), str(caffemodel), "-o", str(tmp_path / "se"), "--dynamic-batch"]
    if form == "stock":
        with pytest.raises(mxnet2caffe.ConversionError, match=r"se_mul/reshape.*cannot reshape \(2, 16, 1, 1\) to \(16,\).*--dynamic-batch"):
            mxnet2caffe.onnx.api.caffe_to_onnx(prototxt, caffemodel, dynamic_batch=True)
        assert main(argv) == 1
        return
    assert main(argv) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "se.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        inputs = random_inputs({"data": (batch, 1, 108, 108)}, seed=batch)
        (want,) = mxnet_forward(SYMBOL, PARAMS, inputs)
        (got,) = session.run(None, inputs)
        assert got.shape == (batch, 64) and relative_error(got, want) <= TOLERANCE


def test_hand_written_prototxt_matches_real_caffe(tmp_path):
    """In-place ReLU/Power, net-level input_dim, kernel_size/pad/stride: every blob as Caffe has
    it after a forward pass (an in-place blob holds its last value)."""
    prototxt, caffemodel = hand_written(tmp_path)
    inputs = random_inputs({"data": (1, 2, 7, 8)})
    names = ["conv", "pool"]
    want = caffe_blobs(prototxt, caffemodel, inputs, names)
    got = onnxruntime_blobs(prototxt, caffemodel, inputs, names)
    assert np.all(want["conv"] >= 0)  # what the in-place ReLU wrote, not the convolution
    for name in names:
        assert compare(name, got[name], want[name]).within(TOLERANCE), name


def test_verify_with_onnxruntime_passes_the_example_and_names_a_broken_weight(example, tmp_path):
    form, prototxt, caffemodel = example
    report = mxnet2caffe.verify(SYMBOL, PARAMS, prototxt, caffemodel, backend="onnxruntime")
    assert report.ok, report.format()
    assert len(report.rows) == 119 and max(row.comparison.relative_error for row in report.rows) <= TOLERANCE
    broken = mxnet2caffe.verify(SYMBOL, PARAMS, prototxt, broken_copy(caffemodel, "stage2_unit1_conv2", tmp_path), backend="onnxruntime")
    assert broken.first_failure.comparison.name == "stage2_unit1_conv2"
    names = [row.comparison.name for row in broken.rows]
    assert all(row.within(TOLERANCE) for row in broken.rows[: names.index("stage2_unit1_conv2")])


def polygraphy(command_line: str, model: Path) -> subprocess.CompletedProcess:
    """The printed `polygraphy run ... --trt ...` line, run with the onnxruntime runner on `model`."""
    argv = command_line.split()
    assert argv[:4] == ["polygraphy", "run", argv[2], "--trt"]
    executable = str(Path(sys.executable).parent / "polygraphy")
    return subprocess.run([executable, "run", str(model), "--onnxrt", *argv[4:]], capture_output=True, text=True)


def test_trt_check_files_pass_polygraphy_onnxrt(tmp_path, capsys):
    out = tmp_path / "se"
    assert main(["onnx", str(EXAMPLE), "0", "--input-shape", "data:1,1,108,108", "-o", str(out), "--trt-check", str(tmp_path / "trt")]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("polygraphy run")]
    trt = tmp_path / "trt"
    assert line.startswith(f"polygraphy run {out}.onnx --trt --load-inputs {trt}/inputs.json --load-outputs {trt}/outputs.json --atol fc1:")
    assert line.endswith(" --rtol 0")
    atol = float(line.split("--atol fc1:")[1].split()[0])
    (want,) = mxnet_forward(SYMBOL, PARAMS, random_inputs({"data": (1, 1, 108, 108)}))
    assert atol == pytest.approx(TOLERANCE * np.abs(want).max(), rel=1e-5)  # seed 0: the inputs verify uses
    good = polygraphy(line, Path(f"{out}.onnx"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASSED | Output: 'fc1'" in good.stdout
    # the same check fails for a model with one wrong weight
    summary = mxnet2caffe.convert(SYMBOL, PARAMS, {"data": (1, 1, 108, 108)}, tmp_path / "caffe")
    broken = broken_copy(summary.caffemodel, "stage3_unit1_conv1", tmp_path)
    assert main(["caffe2onnx", str(summary.prototxt), str(broken), "-o", str(tmp_path / "broken")]) == 0
    bad = polygraphy(line, tmp_path / "broken.onnx")
    assert bad.returncode != 0 and "FAILED | Output: 'fc1'" in bad.stdout, bad.stdout[-2000:]

"""`mxnet2caffe convert --format`: the Caffe model, an ONNX model of it, or both from one command."""

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
from conftest import assert_tensorrt_ready

from harness import EXAMPLE, TOLERANCE, mxnet_forward

SHAPE = "1,1,108,108"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mxnet2caffe", *map(str, args)], capture_output=True, text=True)


def test_both_formats_from_one_command(tmp_path):
    out = tmp_path / "se_resnet"
    result = run_cli("convert", EXAMPLE, "0", "--input-shape", SHAPE, "-o", out, "--format", "caffe,onnx", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 119 blobs compared" in result.stdout  # the Caffe model, layer by layer
    for suffix in (".prototxt", ".caffemodel", ".onnx"):
        assert (tmp_path / f"se_resnet{suffix}").is_file()
    model = onnx.load(str(tmp_path / "se_resnet.onnx"))
    x = np.random.default_rng(0).standard_normal((1, 1, 108, 108)).astype(np.float32)
    (want,) = mxnet_forward(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": x})
    (got,) = onnxruntime.InferenceSession(str(tmp_path / "se_resnet.onnx")).run(None, {"data": x})
    assert np.max(np.abs(got - want)) / np.max(np.abs(want)) <= TOLERANCE
    assert_tensorrt_ready(model)


def test_onnx_only_writes_no_caffe_files_and_refuses_verify(tmp_path):
    out = tmp_path / "m"
    assert run_cli("convert", EXAMPLE, "0", "--input-shape", SHAPE, "-o", out, "--format", "onnx").returncode == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.onnx"]
    refused = run_cli("convert", EXAMPLE, "0", "--input-shape", SHAPE, "-o", tmp_path / "n", "--format", "onnx", "--verify")
    assert refused.returncode == 1 and "use --format caffe,onnx" in refused.stderr

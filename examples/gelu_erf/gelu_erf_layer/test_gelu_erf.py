"""Tests of GeluErf with mxnet2caffe.testing: the kernel against known values of GELU and against
the numpy reference (gelu_erf_op.gelu, what the MXNet CustomOp computes), its gradient against
central differences in float64; the layer in real Caffe (the layer library built with this
folder) and in OpenCV DNN (the custom layer) against numpy; Caffe's backward against finite
differences and the kernel, in place too; and a model with the op, converted with the plugin and
verified against MXNet. Run: python -m pytest -q (in this folder). Caffe loads one layer library
per process, so run these in a process of their own, not with tests that load another."""

from pathlib import Path

import numpy as np
import pytest
from gelu_erf_plugin import LAYER_TYPE, MXNET_OP_TYPE, gelu_erf_op, kernel_backward, kernel_forward, register_mxnet_op

import mxnet2caffe
from mxnet2caffe import testing

PLUGIN = "gelu_erf_plugin"  # what convert and verify load: this module, imported already

# the layer as the converter writes it (convert_gelu_erf): bottom x, top y, no parameters
LAYER = testing.layer(LAYER_TYPE)
# 2.5 sigma wide: both tails, where erf saturates, and the curved middle
X = (np.random.default_rng(0).normal(size=(2, 3, 4, 5)) * 2.5).astype(np.float32)


def reference(x: np.ndarray) -> np.ndarray:
    """What GeluErf computes, in float64 (the MXNet CustomOp's own numpy code)."""
    return gelu_erf_op.gelu(x)


@pytest.mark.parametrize(
    ("x", "y"),
    # x Phi(x) from tables of the normal distribution: Phi(1) = 0.8413447460685429,
    # Phi(3) = 0.9986501019683699, Phi(-x) = 1 - Phi(x)
    [(0.0, 0.0), (1.0, 0.8413447460685429), (-1.0, -0.15865525393145707), (3.0, 2.9959503059051097),
     (-3.0, -0.0040496940948903)],
)
def test_kernel_at_known_values(x: float, y: float) -> None:
    assert kernel_forward(np.array([x]))[0] == pytest.approx(y, rel=1e-14, abs=1e-16)
    assert kernel_forward(np.array([x], np.float32))[0] == pytest.approx(y, rel=1e-6, abs=1e-7)


def test_kernel_matches_numpy() -> None:
    testing.assert_close(kernel_forward(X), reference(X), tolerance=1e-6)
    x64 = X.astype(np.float64)
    testing.assert_close(kernel_forward(x64), reference(x64), tolerance=1e-14)


def test_kernel_gradient_matches_finite_differences() -> None:
    testing.check_gradients(
        lambda inputs: [kernel_forward(inputs[0])],
        lambda inputs, top_diffs: [kernel_backward(inputs[0], top_diffs[0])],
        [X.astype(np.float64)],
    )


def test_caffe_forward_matches_numpy() -> None:
    testing.check_forward(LAYER, {"x": X}, {"y": reference(X)}, tolerance=1e-6, runtimes=["caffe"])


def test_opencv_forward_matches_numpy() -> None:
    testing.check_forward(LAYER, {"x": X}, {"y": reference(X)}, tolerance=1e-6, runtimes=["opencv"])


def test_caffe_backward_matches_finite_differences() -> None:
    testing.check_caffe_backward(LAYER, {"x": X})


@pytest.mark.parametrize("top", ["y", "x"], ids=["separate top", "in place"])
def test_caffe_backward_matches_the_kernel(top: str) -> None:
    """In place, the layer differentiates at its input, which the forward pass overwrote."""
    dy = np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    diffs = testing.caffe_backward(testing.layer(LAYER_TYPE, tops=(top,)), {"x": X}, {top: dy})
    testing.assert_close(diffs["x"], kernel_backward(X.astype(np.float64), dy), tolerance=1e-6)


def test_a_model_with_the_op_converts_and_verifies_against_mxnet(tmp_path: Path) -> None:
    """MXNet's Custom op, its converter, and the layer in Caffe and OpenCV: every output within
    1e-4 of MXNet's (needs MXNet: pip install 'mxnet2caffe[verify]')."""
    import mxnet as mx  # only this test runs MXNet

    register_mxnet_op(mx)
    data = mx.sym.Variable("data")
    mx.sym.Custom(data, op_type=MXNET_OP_TYPE, name="gelu").save(str(tmp_path / "model-symbol.json"))
    mx.nd.save(str(tmp_path / "model-0000.params"), {})  # a model with no weights
    symbol, params = tmp_path / "model-symbol.json", tmp_path / "model-0000.params"
    summary = mxnet2caffe.convert(symbol, params, {"data": X.shape}, tmp_path / "model", plugins=[PLUGIN])
    prototxt, caffemodel = tmp_path / "model.prototxt", tmp_path / "model.caffemodel"
    assert (summary.prototxt, summary.caffemodel) == (prototxt, caffemodel)
    assert prototxt.read_text().count(f'type: "{LAYER_TYPE}"') == 1
    for backend in ("caffe", "opencv"):
        report = mxnet2caffe.verify(symbol, params, prototxt, caffemodel, backend=backend, plugins=[PLUGIN])
        assert report.ok, report.format()
        assert len(report.rows) == 1, report.format()

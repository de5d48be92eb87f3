"""Where MXNet 1.9.1's own ONNX exporter (mx.onnx.export_model, run here with onnx 1.17) is wrong
and ours is right, both files run in real onnxruntime against real MXNet; ours must be within
relative max error 1e-4 (max|onnx - mxnet| / max|mxnet|, harness.TOLERANCE).

- BatchNorm(fix_gamma=True) with a stored gamma of 3.0: MXNet computes with gamma = 1, its
  exporter writes the stored 3.0 into BatchNormalization's scale.
- PReLU (LeakyReLU act_type=prelu) with (C,) slopes: MXNet applies them per channel (axis 1),
  its exporter writes them unchanged into ONNX PRelu, which broadcasts a (C,) slope on the LAST
  axis: wrong values when W == C, a broadcasting failure in onnxruntime otherwise."""

from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from conftest import run_onnx
from onnxruntime.capi.onnxruntime_pybind11_state import Fail

from mxnet2caffe.onnx import convert_to_onnx
from mxnet2caffe.verify.inputs import random_inputs

from harness import TOLERANCE, mxnet_forward, random_params, save_model

DATA = mx.sym.Variable("data")
WRONG = 0.1  # MXNet's exporter is off by more than this: a thousand times the tolerance


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


def both_exports(sym, args, aux, shape, tmp_path: Path):
    """(MXNet's output, MXNet's exporter's ONNX file, our ONNX file, the input) for `sym` saved
    with `args` and `aux`."""
    symbol, params = save_model(sym, args, aux, tmp_path)
    inputs = random_inputs({"data": shape})
    (want,) = mxnet_forward(symbol, params, inputs)
    theirs = mx.onnx.export_model(
        sym, {**args, **aux}, in_shapes=[shape], in_types=np.float32, onnx_file_path=str(tmp_path / "mxnet.onnx")
    )
    convert_to_onnx(symbol, params, {"data": shape}, tmp_path / "ours")
    return want, Path(theirs), tmp_path / "ours.onnx", inputs


def test_fix_gamma_batch_norm(tmp_path):
    sym = mx.sym.BatchNorm(mx.sym.Convolution(DATA, kernel=(3, 3), num_filter=4, name="conv"), fix_gamma=True, name="bn")
    shape = (1, 3, 8, 8)
    args, aux = random_params(sym, {"data": shape})
    args["bn_gamma"] = mx.nd.full((4,), 3.0)  # stored, but fix_gamma=True makes MXNet use 1
    want, theirs, ours, inputs = both_exports(sym, args, aux, shape, tmp_path)

    (got,) = run_onnx(theirs, inputs)
    error = relative_error(got, want)
    assert error > WRONG, f"MXNet's exporter now gets fix_gamma right: relative error {error:.3g}"
    (got,) = run_onnx(ours, inputs)
    error = relative_error(got, want)
    assert error <= TOLERANCE, f"ours: relative error {error:.3g}"


SLOPES = [0.1, 0.5, 2.0, -1.0]  # one per channel


def test_prelu_slopes_on_channels_wrong_when_width_equals_channels(tmp_path):
    sym = mx.sym.LeakyReLU(DATA, act_type="prelu", name="prelu")
    shape = (1, 4, 6, 4)  # W == C: ONNX broadcasts the slopes over W without complaint
    want, theirs, ours, inputs = both_exports(sym, {"prelu_gamma": mx.nd.array(SLOPES)}, {}, shape, tmp_path)

    (got,) = run_onnx(theirs, inputs)
    error = relative_error(got, want)
    assert error > WRONG, f"MXNet's exporter now gets PReLU right: relative error {error:.3g}"
    (got,) = run_onnx(ours, inputs)
    error = relative_error(got, want)
    assert error <= TOLERANCE, f"ours: relative error {error:.3g}"


def test_prelu_slopes_on_channels_fail_to_broadcast_otherwise(tmp_path):
    sym = mx.sym.LeakyReLU(DATA, act_type="prelu", name="prelu")
    shape = (1, 4, 6, 8)  # W != C
    want, theirs, ours, inputs = both_exports(sym, {"prelu_gamma": mx.nd.array(SLOPES)}, {}, shape, tmp_path)

    with pytest.raises(Fail, match="Attempting to broadcast an axis by a dimension other than 1. 4 by 8"):
        run_onnx(theirs, inputs)
    (got,) = run_onnx(ours, inputs)
    error = relative_error(got, want)
    assert error <= TOLERANCE, f"ours: relative error {error:.3g}"

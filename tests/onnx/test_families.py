"""The public model families of tests/models/families.py (small sizes, random weights with
non-trivial BatchNorm statistics) converted to ONNX with the default options and opset, checked
by onnx.checker (full shape inference), on TensorRT's op list, run in real onnxruntime and
compared with real MXNet 1.9.1: every output within relative max error 1e-4
(max|onnx - mxnet| / max|mxnet|, harness.TOLERANCE). RetinaFace and MobileFace are also verified
layer by layer with `verify(..., backend="onnxruntime")`."""

import numpy as np
import onnx
import pytest
from conftest import assert_tensorrt_ready, run_onnx
from models import families

import mxnet2caffe
from mxnet2caffe.onnx import convert_to_onnx
from mxnet2caffe.onnx.tensorrt import DEFAULT_OPSET
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

from harness import TOLERANCE, mxnet_forward, random_params, save_model

pytestmark = pytest.mark.slow


def pixels(shape) -> np.ndarray:
    """What the families normalizing in the graph are fed: raw 0..255 pixel values."""
    return np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)


# family: (builder, input shape, fed raw 0..255 pixels: the families normalizing in the graph)
FAMILIES = {
    "retinaface": (lambda: families.retinaface(filters=16, anchors=2), (2, 3, 100, 90), False),
    "lffd": (families.lffd, (1, 3, 97, 83), True),
    "mtcnn_lnet": (families.mtcnn_lnet, (2, 15, 24, 24), False),
    "mtcnn_onet": (families.mtcnn_onet, (2, 3, 48, 48), False),
    "mobileface": (lambda: families.mobileface(relu6="scalars", embedding=16), (2, 3, 40, 40), True),
    "mobileface_clip": (lambda: families.mobileface(relu6="clip", embedding=16), (2, 3, 40, 40), True),
    "lightened_cnn": (lambda: families.lightened_cnn(hidden=16), (2, 1, 40, 40), False),
    "gnap_head_batch1": (lambda: families.gnap_head(filters=16, embedding=8), (1, 3, 32, 32), True),
    "gnap_head_batch2": (lambda: families.gnap_head(filters=16, embedding=8), (2, 3, 32, 32), True),
    "iris_unet": (lambda: families.iris_unet(classes=3), (1, 1, 32, 48), False),
    "simple_pose": (lambda: families.simple_pose(joints=5), (1, 3, 128, 96), False),
    "fcn": (lambda: families.fcn(classes=4, input_size=(60, 44)), (1, 3, 60, 44), False),
    "resnest_block_card1": (lambda: families.resnest_block(channels=8, radix=2, cardinality=1), (2, 3, 16, 16), False),
    "resnest_block_card2": (lambda: families.resnest_block(channels=8, radix=2, cardinality=2), (2, 3, 16, 16), False),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_in_onnxruntime(tmp_path, family):
    build, shape, raw_pixels = FAMILIES[family]
    sym = build()
    args, aux = random_params(sym, {"data": shape})
    symbol, params = save_model(sym, args, aux, tmp_path)
    model = convert_to_onnx(symbol, params, {"data": shape}, tmp_path / "model")
    onnx.checker.check_model(onnx.load(str(tmp_path / "model.onnx")), full_check=True)
    assert [opset.version for opset in model.opset_import] == [DEFAULT_OPSET]
    assert_tensorrt_ready(model)

    inputs = {"data": pixels(shape)} if raw_pixels else random_inputs({"data": shape})
    expected = mxnet_forward(symbol, params, inputs)
    actual = run_onnx(tmp_path / "model.onnx", inputs)
    assert len(actual) == len(expected) == len(sym.list_outputs())
    for name, got, want in zip(sym.list_outputs(), actual, expected):
        assert got.shape == want.shape, f"{name}: shape {got.shape} != MXNet {want.shape}"
        assert np.isfinite(want).all() and np.abs(want).max() > 0, f"{name}: MXNet's output says nothing"
        result = compare(name, got, want)
        assert result.within(TOLERANCE), f"{name}: relative error {result.relative_error:.3g}"


VERIFIED = {
    # model: (builder, input shape, op outputs no blob holds, rows compared)
    "retinaface": (families.retinaface, (2, 3, 100, 90), set(), 114),
    # (data - 127.5) * 0.0078125 becomes one Power layer, named after the second op
    "mobileface": (families.mobileface, (2, 3, 40, 40), {"_minusscalar0_output"}, 77),
}


@pytest.mark.parametrize("model", list(VERIFIED))
def test_verifies_layer_by_layer_in_onnxruntime(tmp_path, model):
    """Every MXNet op output that has a blob (as in tests/models/test_face_models.py), every one OK."""
    build, shape, folded, rows = VERIFIED[model]
    sym = build()
    args, aux = random_params(sym, {"data": shape})
    symbol, params = save_model(sym, args, aux, tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": shape}, tmp_path / "converted")
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend="onnxruntime")
    assert report.ok, report.format()
    assert report.tolerance == TOLERANCE
    variables = set(sym.list_arguments()) | set(sym.list_auxiliary_states())
    op_outputs = [name for name in sym.get_internals().list_outputs() if name not in variables]
    assert [row.mxnet_output for row in report.rows] == [name for name in op_outputs if name not in folded]
    assert len(report.rows) == rows
    assert [row.comparison.name for row in report.outputs] == list(summary.outputs)

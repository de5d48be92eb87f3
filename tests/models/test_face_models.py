"""Face detection, landmark and recognition models as their public MXNet symbol code builds them
(tests/models/families.py, small sizes), converted in the DEFAULT mode (stock layers, no
options) with random weights and non-trivial BatchNorm statistics (harness.random_params).

Every head is compared with real MXNet 1.9.1 in real Caffe and real OpenCV DNN by
harness.assert_converts_exactly: relative max error max|caffe - mxnet| / max|mxnet| <= 1e-4
(harness.TOLERANCE), shapes equal, only stock layer types, and OpenCV's unconnected outputs are
exactly the model's heads, in the file's order.
"""

import json

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe

import families
from harness import assert_converts_exactly, random_params, save_model

pytestmark = pytest.mark.slow


# the ops (and attribute values) each family is tested for, with their count in the small graph
STRUCTURE = {
    "retinaface": (
        families.retinaface,
        [
            ("UpSampling", {"sample_type": "nearest", "scale": "2", "num_args": "1"}, 2),
            ("Crop", {"num_args": "2"}, 2),
            ("elemwise_add", {}, 2),
            ("Reshape", {"shape": "(0, 2, -1, 0)"}, 3),
            ("SoftmaxActivation", {"mode": "channel"}, 3),
            ("Reshape", {"shape": "(0, 4, -1, 0)"}, 3),
        ],
    ),
    "lffd": (
        families.lffd,
        [
            ("_minus_scalar", {"scalar": "127.5"}, 1),
            ("_div_scalar", {"scalar": "127.5"}, 1),
            ("Convolution", {"kernel": "(3, 3)", "stride": "(2, 2)", "pad": "(0, 0)"}, 4),
            ("softmax", {"axis": "1"}, 3),
            ("slice_axis", {"axis": "1", "begin": "0", "end": "1"}, 3),
        ],
    ),
    "mtcnn_lnet": (
        families.mtcnn_lnet,
        [
            ("SliceChannel", {"num_outputs": "5"}, 1),
            ("Pooling", {"pool_type": "max", "pooling_convention": "full"}, 10),
        ],
    ),
    "mtcnn_onet": (families.mtcnn_onet, [("SoftmaxActivation", {}, 1), ("Pooling", {"pooling_convention": "full"}, 3)]),
    "mobileface": (
        families.mobileface,
        [
            ("_minus_scalar", {"scalar": "127.5"}, 1),
            ("_mul_scalar", {"scalar": "0.0078125"}, 1),
            ("_maximum_scalar", {"scalar": "0"}, 14),
            ("_minimum_scalar", {"scalar": "6"}, 14),
            ("L2Normalization", {}, 1),
        ],
    ),
    "mobileface_clip": (lambda: families.mobileface(relu6="clip"), [("clip", {"a_min": "0", "a_max": "6"}, 14)]),
    "lightened_cnn": (families.lightened_cnn, [("SliceChannel", {"num_outputs": "2"}, 10), ("_maximum", {}, 10)]),
    "gnap_head": (
        families.gnap_head,
        [
            ("BatchNorm", {"fix_gamma": "True"}, 3),
            ("sum", {"axis": "1", "keepdims": "True"}, 1),
            ("sqrt", {}, 1),
            ("mean", {}, 1),
            ("broadcast_div", {}, 1),
            ("tile", {"reps": "(1, 16, 1, 1)"}, 1),
            ("elemwise_mul", {}, 2),
        ],
    ),
}


@pytest.mark.parametrize("family", sorted(STRUCTURE))
def test_graph_has_the_family_structure(family):
    """What the model tests below are about is in the graphs they convert."""
    build, expected = STRUCTURE[family]
    sym = build()
    assert [(op, attrs, families.count_ops(sym, op, **attrs)) for op, attrs, _ in expected] == expected


def pixels(shape, seed: int = 0) -> np.ndarray:
    """What the models with in-graph normalization are fed: raw 0..255 pixel values."""
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


# --- RetinaFace: FPN (UpSampling + Crop) and SSH heads; channel softmax behind Reshape -------

RETINAFACE_INPUT = (2, 3, 100, 90)  # not a multiple of 32: the Crops cut 8 -> 7 and 14 -> 13 rows


def test_retinaface(tmp_path):
    summary = assert_converts_exactly(families.retinaface(filters=16, anchors=2), {"data": RETINAFACE_INPUT}, tmp_path)
    expected = {}
    for stride, size in ((32, (4, 3)), (16, (7, 6)), (8, (13, 12))):
        expected[f"face_rpn_cls_prob_reshape_stride{stride}"] = (2, 4, *size)
        expected[f"face_rpn_bbox_pred_stride{stride}"] = (2, 8, *size)
        expected[f"face_rpn_landmark_pred_stride{stride}"] = (2, 20, *size)
    assert list(summary.outputs.items()) == list(expected.items())


# --- LFFD: unpadded stride-2 convs, residual adds, softmax + slice_axis score heads -----------


def test_lffd(tmp_path):
    shape = (1, 3, 97, 83)
    summary = assert_converts_exactly(families.lffd(), {"data": shape}, tmp_path, inputs={"data": pixels(shape)})
    shapes = list(summary.outputs.values())
    assert shapes == [(1, 1, 23, 20), (1, 4, 23, 20), (1, 1, 11, 9), (1, 4, 11, 9), (1, 1, 5, 4), (1, 4, 5, 4)]


# --- layer by layer: every MXNet op output that has a blob, in both runtimes -----------------

VERIFIED = {
    # model: (builder, input shape, op outputs that no blob holds by design, rows compared)
    "retinaface": (families.retinaface, RETINAFACE_INPUT, set(), 114),
    # (data - 127.5) / 127.5 is folded into the first convolution's weights
    "lffd": (families.lffd, (1, 3, 97, 83), {"_minusscalar0_output", "_divscalar0_output"}, 53),
    # (data - 127.5) * 0.0078125 becomes one Power layer, named after the second op
    "mobileface": (families.mobileface, (2, 3, 40, 40), {"_minusscalar0_output"}, 77),
}


def op_outputs(sym: mx.sym.Symbol) -> list:
    """Every op output of `sym` as MXNet's get_internals() names it (weights and inputs left out)."""
    variables = set(sym.list_arguments()) | set(sym.list_auxiliary_states())
    return [name for name in sym.get_internals().list_outputs() if name not in variables]


@pytest.mark.parametrize("backend", ["caffe", "opencv"])
@pytest.mark.parametrize("model", sorted(VERIFIED))
def test_verifies_layer_by_layer(tmp_path, model, backend):
    build, shape, folded, rows = VERIFIED[model]
    sym = build()
    args, aux = random_params(sym, {"data": shape})
    symbol, params = save_model(sym, args, aux, tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": shape}, tmp_path / "converted")
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend=backend)
    assert report.ok, report.format()
    assert report.tolerance == 1e-4
    # every op output but the folded ones, in MXNet's order, and the heads in the file's order
    compared = [row.mxnet_output for row in report.rows]
    assert compared == [name for name in op_outputs(sym) if name not in folded]
    assert len(report.rows) == rows
    assert [row.comparison.name for row in report.outputs] == list(summary.outputs)


# --- MTCNN: the landmark net (SliceChannel into five patches) and the output net -------------


def test_mtcnn_lnet(tmp_path):
    summary = assert_converts_exactly(families.mtcnn_lnet(), {"data": (2, 15, 24, 24)}, tmp_path)
    assert summary.outputs == {"landmark_offset": (2, 10)}


def test_mtcnn_onet(tmp_path):
    summary = assert_converts_exactly(families.mtcnn_onet(), {"data": (2, 3, 48, 48)}, tmp_path)
    assert list(summary.outputs.items()) == [("prob", (2, 2)), ("bbox_pred", (2, 4)), ("landmark_pred", (2, 10))]


# --- MobileFace: ReLU6 as max/min scalars (or clip), 2-d BatchNorm, L2Normalization ----------


@pytest.mark.parametrize("relu6", ["scalars", "clip"])
def test_mobileface(tmp_path, relu6):
    sym = families.mobileface(relu6=relu6, embedding=16)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 40, 40)}, tmp_path, inputs={"data": pixels((2, 3, 40, 40))})
    assert summary.outputs == {"l2normalization0": (2, 16)}


# --- Lightened CNN: Max-Feature-Map (SliceChannel into 2 + maximum) --------------------------


def test_lightened_cnn(tmp_path):
    # 40 -> 20 -> 10 -> 5 -> 2 -> 1: the fourth pooling rounds an odd map down
    summary = assert_converts_exactly(families.lightened_cnn(hidden=16), {"data": (2, 1, 40, 40)}, tmp_path)
    assert summary.outputs == {"drop1": (2, 16)}


def test_lightened_cnn_saved_with_legacy_maximum(tmp_path):
    """The same graph as files of its time hold it (`_Maximum`, MXNet < 1.0) converts to the
    very same Caffe model as with `_maximum` (which test_lightened_cnn checks against MXNet)."""
    sym = families.lightened_cnn(hidden=16)
    shapes = {"data": (2, 1, 40, 40)}
    args, aux = random_params(sym, shapes)
    current, params = save_model(sym, args, aux, tmp_path)
    legacy = tmp_path / "legacy-symbol.json"
    legacy.write_text(families.json_with_op_names(sym, {"_maximum": "_Maximum"}))
    ops = [node["op"] for node in json.loads(legacy.read_text())["nodes"]]
    assert ops.count("_Maximum") == 10 and "_maximum" not in ops
    converted = [
        mxnet2caffe.convert(path, params, shapes, tmp_path / path.stem / "model") for path in (current, legacy)
    ]
    assert converted[0].prototxt.read_text() == converted[1].prototxt.read_text()
    assert converted[0].caffemodel.read_bytes() == converted[1].caffemodel.read_bytes()


# --- insightface GNAP: spatial norm, global mean, broadcast_div, tile ------------------------


@pytest.mark.parametrize("batch", [1, 2])  # MXNet's mean without axis also averages over the batch
def test_gnap_head(tmp_path, batch):
    shape = (batch, 3, 32, 32)
    sym = families.gnap_head(filters=16, embedding=8)
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, inputs={"data": pixels(shape)})
    assert summary.outputs == {"fc1": (batch, 8)}

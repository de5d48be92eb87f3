"""Detectors whose box decoding and NMS have no Caffe form: converting the whole symbol fails
naming those ops and says where to cut; with --outputs at the raw heads the FULL symbol file
converts and matches MXNet run on the cut symbol (the heads only), in real Caffe and OpenCV
(relative max error <= harness.TOLERANCE = 1e-4), with the outputs in the order given.

The weights saved are those of the cut symbol only: what --outputs cuts away needs none.
"""

from typing import List, Tuple

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe import ConvertOptions, UnsupportedOpsError
from mxnet2caffe.mxnet.symbol import read_symbol
from mxnet2caffe.passes.select_outputs import resolve_output

from harness import assert_converts_exactly, random_params, save_model

NUM_CLASSES = 3


def conv_bn(x, name: str, channels: int, kernel: int = 3, stride: int = 1, act: str = "leaky"):
    x = mx.sym.Convolution(
        x, kernel=(kernel, kernel), stride=(stride, stride), pad=(kernel // 2, kernel // 2),
        num_filter=channels, no_bias=True, name=f"{name}_conv",
    )
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, momentum=0.9, name=f"{name}_bn")
    if act == "leaky":
        return mx.sym.LeakyReLU(x, act_type="leaky", slope=0.1, name=f"{name}_leaky")
    return mx.sym.Activation(x, act_type=act, name=f"{name}_{act}")


# --- YOLOv3 as gluoncv exports it (darknet blocks, three YOLOOutputV3 heads) ---

YOLO_ANCHORS = 3
YOLO_PRED = 5 + NUM_CLASSES  # box center (2), box size (2), objectness, class scores
YOLO_HEADS = ["yolov30_yolooutputv30_conv0", "yolov30_yolooutputv31_conv0", "yolov30_yolooutputv32_conv0"]


def yolo_decode(raw, index: int, cells: int, stride: int):
    """gluoncv's YOLOOutputV3 at inference: (N, cells*anchors, 6) rows of class id, score, box."""
    prefix = f"yolov30_yolooutputv3{index}"
    pred = mx.sym.reshape(raw, shape=(0, YOLO_ANCHORS * YOLO_PRED, -1), name=f"{prefix}_reshape0")
    pred = mx.sym.transpose(pred, axes=(0, 2, 1), name=f"{prefix}_transpose0")
    pred = mx.sym.reshape(pred, shape=(0, -1, YOLO_ANCHORS, YOLO_PRED), name=f"{prefix}_reshape1")
    centers = mx.sym.slice_axis(pred, axis=-1, begin=0, end=2, name=f"{prefix}_slice_axis0")
    scales = mx.sym.slice_axis(pred, axis=-1, begin=2, end=4, name=f"{prefix}_slice_axis1")
    objectness = mx.sym.slice_axis(pred, axis=-1, begin=4, end=5, name=f"{prefix}_slice_axis2")
    classes = mx.sym.slice_axis(pred, axis=-1, begin=5, end=None, name=f"{prefix}_slice_axis3")
    offsets = mx.sym.Variable(f"{prefix}_offset", shape=(1, cells, 1, 2))
    anchors = mx.sym.Variable(f"{prefix}_anchors", shape=(1, 1, YOLO_ANCHORS, 2))
    centers = mx.sym.broadcast_add(mx.sym.sigmoid(centers), offsets) * stride
    sizes = mx.sym.broadcast_mul(mx.sym.exp(scales), anchors) / 2
    boxes = mx.sym.concat(centers - sizes, centers + sizes, dim=-1)
    scores = mx.sym.broadcast_mul(mx.sym.sigmoid(classes), mx.sym.sigmoid(objectness))
    scores = mx.sym.reshape(scores, shape=(0, -1, NUM_CLASSES))
    ids = mx.sym.argmax(scores, axis=-1, keepdims=True)
    best = mx.sym.max(scores, axis=-1, keepdims=True)
    return mx.sym.concat(ids, best, mx.sym.reshape(boxes, shape=(0, -1, 4)), dim=-1)


def yolo_v3(size: int) -> Tuple[mx.sym.Symbol, List[mx.sym.Symbol]]:
    """(the full detector ending in box_nms, its three raw head convolutions). The top-down
    path has no upsampling (no converter yet): each coarser scale concatenates its backbone
    feature with the pooled route of the finer one."""
    x = conv_bn(mx.sym.Variable("data"), "darknet_stem", 8)
    x = conv_bn(x, "darknet_down1", 16, stride=2)
    c3 = conv_bn(x, "darknet_down2", 16, stride=2)
    c4 = conv_bn(c3, "darknet_down3", 32, stride=2)
    c5 = conv_bn(c4, "darknet_down4", 32, stride=2)
    heads, detections, route = [], [], None
    for index, (feature, stride) in enumerate(((c3, 4), (c4, 8), (c5, 16))):
        if route is not None:
            pooled = mx.sym.Pooling(route, kernel=(2, 2), stride=(2, 2), pool_type="max", name=f"yolo_route{index}_pool")
            feature = mx.sym.concat(feature, pooled, dim=1, name=f"yolo_route{index}_concat")
        route = conv_bn(feature, f"yolov30_detectionblockv3{index}", 16, kernel=1)
        tip = conv_bn(route, f"yolov30_detectionblockv3{index}_tip", 32)
        head = mx.sym.Convolution(tip, kernel=(1, 1), num_filter=YOLO_ANCHORS * YOLO_PRED, name=YOLO_HEADS[index])
        cells = (size // stride) ** 2
        heads.append(head)
        detections.append(yolo_decode(head, index, cells, stride))
    everything = mx.sym.concat(*detections, dim=1, name="yolov30_concat0")
    nms = mx.sym.contrib.box_nms(
        everything, overlap_thresh=0.45, valid_thresh=0.01, topk=50, id_index=0, score_index=1, coord_start=2,
        name="yolov30_box_nms",
    )
    return nms, heads


def test_yolo_v3_whole_graph_names_the_unsupported_ops_and_where_to_cut(tmp_path):
    full, heads = yolo_v3(64)
    args, aux = random_params(mx.sym.Group(heads), {"data": (1, 3, 64, 64)})
    symbol, params = save_model(full, args, aux, tmp_path)
    with pytest.raises(UnsupportedOpsError) as error:
        mxnet2caffe.convert(symbol, params, {"data": (1, 3, 64, 64)}, tmp_path / "out")
    message = str(error.value)
    # the decoding ops no Caffe layer computes (slice_axis, exp and max do convert)
    for op, count in [("argmax", 3), ("_contrib_box_nms", 1)]:
        assert f"  {op} x{count}: " in message, (op, message)
    assert "yolov30_box_nms" in message
    assert error.value.ops == {"argmax": 3, "_contrib_box_nms": 1}
    assert not list(tmp_path.glob("out*"))
    # the hint names the last outputs the supported ops compute (deep in the decoding now that
    # reshape, slice_axis, exp, max and transpose convert), each as --outputs reads it
    hint = message.rsplit("name the last supported outputs: --outputs ", 1)[1].split(",")
    graph = read_symbol(symbol)
    assert {graph.node(resolve_output(graph, name)).op for name in hint} <= {"Reshape", "max", "reshape"}


@pytest.mark.parametrize(
    "order", [(2, 0, 1), (0, 1, 2)], ids=["coarse-first", "graph-order"]
)
def test_yolo_v3_cut_at_the_raw_heads(tmp_path, order):
    """The three head convolutions, named in `order`: the outputs come in that order."""
    full, heads = yolo_v3(64)
    names = tuple(YOLO_HEADS[i] for i in order)
    summary = assert_converts_exactly(
        full,
        {"data": (2, 3, 64, 64)},
        tmp_path,
        options=ConvertOptions(outputs=names),
        reference=mx.sym.Group([heads[i] for i in order]),
    )
    sizes = {YOLO_HEADS[0]: 16, YOLO_HEADS[1]: 8, YOLO_HEADS[2]: 4}
    assert summary.outputs == {name: (2, YOLO_ANCHORS * YOLO_PRED, sizes[name], sizes[name]) for name in names}
    assert list(summary.outputs) == list(names)
    (note,) = [note for note in summary.notes if note.startswith("cut at --outputs")]
    assert note.startswith(f"cut at --outputs {', '.join(names)}: ")


def test_yolo_v3_cut_verifies_layer_by_layer(tmp_path):
    """verify on the FULL symbol and the cut model compares every op the cut model computes
    (the decoding's outputs have no blob and no row)."""
    full, heads = yolo_v3(64)
    args, aux = random_params(mx.sym.Group(heads), {"data": (1, 3, 64, 64)})
    symbol, params = save_model(full, args, aux, tmp_path)
    summary = mxnet2caffe.convert(
        symbol, params, {"data": (1, 3, 64, 64)}, tmp_path / "cut", ConvertOptions(outputs=tuple(YOLO_HEADS))
    )
    for backend in ("caffe", "opencv"):
        report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend=backend)
        assert report.ok, report.format()
        assert {row.comparison.name for row in report.outputs} == set(YOLO_HEADS)
        # every op up to the heads: 5 backbone and 6 detection-block conv+BN+leaky (33), 2 pools,
        # 2 concats, 3 heads
        assert len(report.rows) == 40
        assert len(summary.names) == 40 + 1  # and the input, which verify feeds rather than compares


# --- SSD: class and box heads per scale, flattened and concatenated, then anchors and NMS ---

SSD_SIZES, SSD_RATIOS = (0.2, 0.3), (1.0, 2.0, 0.5)
SSD_ANCHORS = len(SSD_SIZES) + len(SSD_RATIOS) - 1


def ssd(size: int) -> Tuple[mx.sym.Symbol, mx.sym.Symbol, mx.sym.Symbol]:
    """(the full detector ending in MultiBoxDetection, the concatenated class predictions
    reshaped to (N, anchors, classes + 1), the concatenated box offsets)."""
    x = conv_bn(mx.sym.Variable("data"), "ssd_stem", 16, stride=2, act="relu")
    features = []
    for index in range(3):
        x = conv_bn(x, f"ssd_stage{index}", 32, stride=2, act="relu")
        features.append(x)
    classes, offsets, anchors = [], [], []
    for index, feature in enumerate(features):
        cls = mx.sym.Convolution(feature, kernel=(3, 3), pad=(1, 1), num_filter=SSD_ANCHORS * (NUM_CLASSES + 1), name=f"ssd_cls_pred{index}")
        loc = mx.sym.Convolution(feature, kernel=(3, 3), pad=(1, 1), num_filter=SSD_ANCHORS * 4, name=f"ssd_loc_pred{index}")
        classes.append(mx.sym.Flatten(cls, name=f"ssd_cls_flatten{index}"))
        offsets.append(mx.sym.Flatten(loc, name=f"ssd_loc_flatten{index}"))
        prior = mx.sym.contrib.MultiBoxPrior(feature, sizes=SSD_SIZES, ratios=SSD_RATIOS, name=f"ssd_anchors{index}")
        anchors.append(mx.sym.Flatten(prior, name=f"ssd_anchor_flatten{index}"))
    cls_preds = mx.sym.concat(*classes, dim=1, name="ssd_cls_preds_concat")
    cls_preds = mx.sym.reshape(cls_preds, shape=(0, -1, NUM_CLASSES + 1), name="ssd_cls_preds")
    loc_preds = mx.sym.concat(*offsets, dim=1, name="ssd_loc_preds")
    cls_prob = mx.sym.softmax(mx.sym.transpose(cls_preds, axes=(0, 2, 1)), axis=1, name="ssd_cls_prob")
    anchor_boxes = mx.sym.reshape(mx.sym.concat(*anchors, dim=1), shape=(0, -1, 4), name="ssd_anchors")
    detection = mx.sym.contrib.MultiBoxDetection(cls_prob, loc_preds, anchor_boxes, nms_threshold=0.45, name="ssd_detection")
    return detection, cls_preds, loc_preds


def test_ssd_whole_graph_names_the_unsupported_ops(tmp_path):
    full, cls_preds, loc_preds = ssd(64)
    args, aux = random_params(mx.sym.Group([cls_preds, loc_preds]), {"data": (1, 3, 64, 64)})
    symbol, params = save_model(full, args, aux, tmp_path)
    with pytest.raises(UnsupportedOpsError) as error:
        mxnet2caffe.convert(symbol, params, {"data": (1, 3, 64, 64)})
    assert error.value.ops == {"_contrib_MultiBoxPrior": 3, "_contrib_MultiBoxDetection": 1}
    # the anchors are computed from the feature maps: those are cut points too
    assert "ssd_stage0_relu,ssd_stage1_relu,ssd_stage2_relu" in str(error.value)


def test_ssd_cut_at_the_concatenated_raw_outputs(tmp_path):
    full, cls_preds, loc_preds = ssd(64)
    summary = assert_converts_exactly(
        full,
        {"data": (2, 3, 64, 64)},
        tmp_path,
        options=ConvertOptions(outputs=("ssd_loc_preds", "ssd_cls_preds_output")),
        reference=mx.sym.Group([loc_preds, cls_preds]),
    )
    cells = 16 * 16 + 8 * 8 + 4 * 4
    assert summary.outputs == {"ssd_loc_preds": (2, cells * SSD_ANCHORS * 4), "ssd_cls_preds": (2, cells * SSD_ANCHORS, NUM_CLASSES + 1)}
    assert summary.inputs == {"data": (2, 3, 64, 64)}

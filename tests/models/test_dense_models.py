"""Segmentation, pose and ResNeSt models as their public MXNet code builds them
(tests/models/families.py, small sizes), converted in the DEFAULT mode (stock layers, no
options) with random weights and non-trivial BatchNorm statistics (harness.random_params).

Every head is compared with real MXNet 1.9.1 in real Caffe and real OpenCV DNN by
harness.assert_converts_exactly: relative max error max|caffe - mxnet| / max|mxnet| <= 1e-4
(harness.TOLERANCE), shapes equal, only stock layer types, and OpenCV's unconnected outputs are
exactly the model's heads.
"""

import pytest

import families
from harness import assert_converts_exactly

pytestmark = pytest.mark.slow

# the ops (and attribute values) each family is tested for, with their count in the small graph
STRUCTURE = {
    "iris_unet": (
        families.iris_unet,
        [
            ("Pad", {"mode": "constant", "constant_value": "0", "pad_width": "(0, 0, 0, 0, 0, 1, 0, 1)"}, 2),
            ("Pooling", {"kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "max"}, 2),
            ("Deconvolution", {"kernel": "(4, 4)", "stride": "(2, 2)", "pad": "(1, 1)"}, 1),
            ("Deconvolution", {"kernel": "(2, 2)", "stride": "(2, 2)", "pad": "(0, 0)"}, 1),
            ("Concat", {"dim": "1"}, 2),
            ("softmax", {"axis": "1"}, 1),
        ],
    ),
    "simple_pose": (
        families.simple_pose,
        [
            (
                "Deconvolution",
                {"kernel": "(4, 4)", "stride": "(2, 2)", "pad": "(1, 1)", "adj": "(0, 0)", "no_bias": "True"},
                3,
            )
        ],
    ),
    "fcn": (
        families.fcn,
        [("_contrib_BilinearResize2D", {"height": "60", "width": "44"}, 2), ("Dropout", {"p": "0.1"}, 2)],
    ),
    "resnest_block": (
        lambda: families.resnest_block(channels=8, radix=2, cardinality=2),
        [
            ("expand_dims", {"axis": "1"}, 1),
            ("Reshape", {"shape": "(0, 2, 8, 0, 0)"}, 1),
            ("sum", {"axis": "1"}, 2),
            ("_contrib_AdaptiveAvgPooling2D", {"output_size": "1"}, 1),
            ("Convolution", {"kernel": "(1, 1)", "num_group": "2"}, 2),
            ("Reshape", {"shape": "(0, 2, 2, -1)"}, 1),
            ("SwapAxis", {"dim1": "1", "dim2": "2"}, 1),
            ("softmax", {"axis": "1"}, 1),
            ("Reshape", {"shape": "(0, 2, -1, 1, 1)"}, 1),
            ("broadcast_mul", {}, 1),
        ],
    ),
}


@pytest.mark.parametrize("family", sorted(STRUCTURE))
def test_graph_has_the_family_structure(family):
    """What the model tests below are about is in the graphs they convert."""
    build, expected = STRUCTURE[family]
    sym = build()
    assert [(op, attrs, families.count_ops(sym, op, **attrs)) for op, attrs, _ in expected] == expected


def test_iris_unet(tmp_path):
    """Asymmetric Pad (0,0,0,0,0,1,0,1) before 3x3/2 max pooling: 32x48 -> 16x24 -> 8x12;
    the Deconvolutions bring 8x12 back to 16x24 (2x2/2) and 32x48 (4x4/2 pad 1) for the skips."""
    summary = assert_converts_exactly(families.iris_unet(classes=3), {"data": (1, 1, 32, 48)}, tmp_path)
    assert summary.outputs == {"softmax": (1, 3, 32, 48)}


def test_simple_pose(tmp_path):
    """ResNetV1b to stride 32 (4x3), three Deconvolution 4x4/2 + BN + ReLU to stride 4 (32x24)."""
    summary = assert_converts_exactly(families.simple_pose(joints=5), {"data": (1, 3, 128, 96)}, tmp_path)
    assert summary.outputs == {"simpleposeresnet_final": (1, 5, 32, 24)}


def test_fcn(tmp_path):
    """Both FCN heads (8x6 at stride 8 of a 60x44 input, whose size is no multiple of 8)
    resized back to 60x44 by BilinearResize2D: a ratio that is no integer."""
    summary = assert_converts_exactly(families.fcn(classes=4, input_size=(60, 44)), {"data": (1, 3, 60, 44)}, tmp_path)
    expected = [("fcn_head_resize", (1, 4, 60, 44)), ("fcn_auxlayer_resize", (1, 4, 60, 44))]
    assert list(summary.outputs.items()) == expected


@pytest.mark.parametrize("cardinality", [1, 2])
def test_resnest_split_attention_block(tmp_path, cardinality):
    """Radix 2: 5-d splits (expand_dims + Reshape), sum over the radix axis, adaptive average
    pooling, grouped 1x1 convs, the r-softmax (SwapAxis 1 2 + softmax axis=1: over the radix),
    broadcast_mul of (N, 2, C, 1, 1) with (N, 2, C, H, W) and the sum over the radix."""
    sym = families.resnest_block(channels=8, radix=2, cardinality=cardinality)
    summary = assert_converts_exactly(sym, {"data": (2, 3, 16, 16)}, tmp_path)
    assert summary.outputs == {"layer1_relu3": (2, 16, 8, 8)}

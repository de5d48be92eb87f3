"""MXNet symbols with the structure of public model families, at small sizes.

Each builder reproduces what its family's published symbol code writes: the op types, the
attribute values and the order of ops (checked against the public sources its docstring
names), with fewer channels, fewer repeats and small inputs so that a test runs in seconds.
Nothing is trained or downloaded: tests give the weights (harness.random_params, with
non-trivial BatchNorm statistics). Node names follow the public files where it helps to read
a failure, but no converter may depend on them.
"""

from __future__ import annotations

import json
from typing import List, Mapping, Optional, Sequence, Tuple

import mxnet as mx

Symbol = mx.sym.Symbol
Pair = Tuple[int, int]

INSIGHTFACE_EPS = 2e-5  # the BatchNorm eps of insightface and RetinaFace symbols


def conv_bn(
    x: Symbol,
    name: str,
    filters: int,
    kernel: int = 3,
    stride: int = 1,
    pad: Optional[int] = None,
    dilate: int = 1,
    act: Optional[str] = "relu",
    groups: int = 1,
    no_bias: bool = True,
    eps: float = INSIGHTFACE_EPS,
    fix_gamma: bool = False,
) -> Symbol:
    """Convolution, BatchNorm and (unless `act` is None) an activation: "relu" or "prelu"."""
    pad = dilate * (kernel // 2) if pad is None else pad
    x = mx.sym.Convolution(
        x, kernel=(kernel, kernel), stride=(stride, stride), pad=(pad, pad), dilate=(dilate, dilate),
        num_filter=filters, num_group=groups, no_bias=no_bias, name=name,
    )
    x = mx.sym.BatchNorm(x, fix_gamma=fix_gamma, eps=eps, momentum=0.9, name=f"{name}_bn")
    if act == "prelu":
        return mx.sym.LeakyReLU(x, act_type="prelu", name=f"{name}_relu")
    if act is not None:
        return mx.sym.Activation(x, act_type=act, name=f"{name}_{act}")
    return x


def insightface_input(data: Symbol) -> Symbol:
    """insightface's input normalization inside the graph: (x - 127.5) * 0.0078125, as the
    `_minus_scalar` and `_mul_scalar` nodes its fmobilefacenet/fresnet symbols begin with."""
    x = mx.sym._internal._minus_scalar(data, scalar=127.5, name="_minusscalar0")
    return mx.sym._internal._mul_scalar(x, scalar=0.0078125, name="_mulscalar0")


def json_with_op_names(sym: Symbol, renames: Mapping[str, str]) -> str:
    """`sym`'s JSON with ops written under other names MXNet registers for them, as files saved
    by older MXNet versions hold them (`_Maximum` for `_maximum`). MXNet itself always saves
    the current names, so such a file is written as text."""
    document = json.loads(sym.tojson())
    for node in document["nodes"]:
        node["op"] = renames.get(node["op"], node["op"])
    return json.dumps(document)


def count_ops(sym: Symbol, op: str, **attrs: str) -> int:
    """How many nodes of `sym` are `op` with (at least) these attributes, as MXNet stores them
    (strings: scale="2", shape="(0, 2, -1, 0)")."""
    nodes = json.loads(sym.tojson())["nodes"]
    return sum(node["op"] == op and attrs.items() <= node.get("attrs", {}).items() for node in nodes)


# --- face detection ---------------------------------------------------------------------------


def retinaface(filters: int = 16, anchors: int = 2) -> Symbol:
    """RetinaFace as deepinsight/insightface's RetinaFace deploy symbols build it (mnet25, R50;
    rcnn/symbol/symbol_common.py and the exported R50 symbol): a backbone to strides 8/16/32; an
    FPN whose top-down path is `UpSampling` (nearest, scale 2, num_args 1) then the two-input
    `Crop` to the lateral branch, `elemwise_add` and a 3x3 "aggr" conv; an SSH head per stride
    (3x3 conv + BN without activation, a context branch of 3x3 convs, Concat of the three BN
    outputs, ReLU); and per stride the three heads in the file's output order (stride 32 first):
    the class scores through `Reshape (0, 2, -1, 0)`, `SoftmaxActivation mode=channel` and
    `Reshape (0, 2A, -1, 0)`, the box and the landmark 1x1 convs.

    Sizes that are not multiples of 32 make the upsampled map one row or column larger than the
    lateral one, so the Crop really cuts."""
    data = mx.sym.Variable("data")
    # MobileNet-0.25 style backbone (depthwise + pointwise, conv BN ReLU), to strides 8, 16, 32
    x = conv_bn(data, "mobilenet0_conv0", 8, stride=2, eps=1e-5)
    x = conv_bn(x, "mobilenet0_conv1", 8, groups=8, eps=1e-5)
    x = conv_bn(x, "mobilenet0_conv2", 16, kernel=1, eps=1e-5)
    features = []
    channels = 16
    for index, out_channels in enumerate((16, 32, 32, 48)):
        x = conv_bn(x, f"mobilenet0_conv{3 + 2 * index}", channels, stride=2, groups=channels, eps=1e-5)
        x = conv_bn(x, f"mobilenet0_conv{4 + 2 * index}", out_channels, kernel=1, eps=1e-5)
        channels = out_channels
        features.append(x)
    c1, c2, c3 = features[1:]  # strides 8, 16, 32

    def lateral(feature: Symbol, name: str, kernel: int = 1) -> Symbol:
        return conv_bn(feature, name, filters, kernel=kernel, no_bias=False)

    def top_down(coarse: Symbol, fine: Symbol, index: int, name: str) -> Symbol:
        up = mx.sym.UpSampling(coarse, scale=2, sample_type="nearest", workspace=512, num_args=1, name=name)
        cropped = mx.sym.Crop(up, fine, num_args=2, name=f"crop{index}")
        return mx.sym.elemwise_add(fine, cropped, name=f"_plus{index}")

    c3 = lateral(c3, "rf_c3_lateral")
    c2 = lateral(c2, "rf_c2_lateral")
    c2 = lateral(top_down(c3, c2, 0, "rf_c3_upsampling"), "rf_c2_aggr", kernel=3)
    c1 = lateral(c1, "rf_c1_red_conv")
    c1 = lateral(top_down(c2, c1, 1, "rf_c2_upsampling"), "rf_c1_aggr", kernel=3)

    outputs: List[Symbol] = []
    for stride, level, feature in ((32, 3, c3), (16, 2, c2), (8, 1, c1)):
        body = _ssh_detection_module(feature, f"rf_c{level}_det", filters)
        name = f"face_rpn_{{}}_stride{stride}"
        cls_score = mx.sym.Convolution(body, kernel=(1, 1), num_filter=2 * anchors, name=name.format("cls_score"))
        cls_score = mx.sym.Reshape(cls_score, shape=(0, 2, -1, 0), name=name.format("cls_score_reshape"))
        cls_prob = mx.sym.SoftmaxActivation(cls_score, mode="channel", name=name.format("cls_prob"))
        outputs.append(mx.sym.Reshape(cls_prob, shape=(0, 2 * anchors, -1, 0), name=name.format("cls_prob_reshape")))
        for head, per_anchor in (("bbox_pred", 4), ("landmark_pred", 10)):
            head_conv = mx.sym.Convolution(body, kernel=(1, 1), num_filter=per_anchor * anchors, name=name.format(head))
            outputs.append(head_conv)
    return mx.sym.Group(outputs)


def _ssh_detection_module(x: Symbol, name: str, filters: int) -> Symbol:
    """SSH: a 3x3 conv of filters/2 and a context module of two filters/4 branches (one 3x3,
    one 3x3 after a shared 3x3 + ReLU), the three BN outputs concatenated, then ReLU."""
    conv3x3 = conv_bn(x, f"{name}_conv1", filters // 2, act=None, no_bias=False)
    reduced = conv_bn(x, f"{name}_context_conv1", filters // 4, no_bias=False)
    conv5x5 = conv_bn(reduced, f"{name}_context_conv2", filters // 4, act=None, no_bias=False)
    conv7x7 = conv_bn(reduced, f"{name}_context_conv3_1", filters // 4, no_bias=False)
    conv7x7 = conv_bn(conv7x7, f"{name}_context_conv3_2", filters // 4, act=None, no_bias=False)
    concat = mx.sym.Concat(conv3x3, conv5x5, conv7x7, dim=1, name=f"{name}_concat")
    return mx.sym.Activation(concat, act_type="relu", name=f"{name}_concat_relu")


def lffd(filters: Sequence[int] = (8, 16, 16), branches: int = 3) -> Symbol:
    """LFFD (YonghaoHe's A-Light-and-Fast-Face-Detector-for-Edge-Devices, symbol_10_*_*L_*scales
    with deploy_flag=True): `(data - 127.5) / 127.5` in the graph (`_minus_scalar`,
    `_div_scalar`, named as MXNet names them in a fresh process); plain 3x3 conv + ReLU blocks,
    downsampling by stride-2 convs WITHOUT padding (odd sizes round down) and residual `+`
    (`elemwise_add`) of the conv outputs before the ReLU; a detection
    branch after each stage: 1x1 conv + ReLU, then a score path (1x1 + ReLU, 1x1 to 2 channels,
    `softmax axis=1`, `slice_axis axis=1 begin=0 end=1`) and a box path (1x1 + ReLU, 1x1 to 4).
    Outputs: score and box of each branch, finest first."""
    data = mx.sym.Variable("data")
    x = mx.sym._internal._minus_scalar(data, scalar=127.5, name="_minusscalar0")
    x = mx.sym._internal._div_scalar(x, scalar=127.5, name="_divscalar0")
    x = mx.sym.Convolution(x, kernel=(3, 3), stride=(2, 2), pad=(0, 0), num_filter=filters[0], name="conv1")
    x = mx.sym.Activation(x, act_type="relu", name="relu_conv1")
    outputs: List[Symbol] = []
    layer = 1
    for branch in range(branches):
        layer += 1
        down = mx.sym.Convolution(
            x, kernel=(3, 3), stride=(2, 2), pad=(0, 0), num_filter=filters[1], name=f"conv{layer}"
        )
        x = mx.sym.Activation(down, act_type="relu", name=f"relu_conv{layer}")
        layer += 1
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=filters[1], name=f"conv{layer}")
        x = mx.sym.Activation(x, act_type="relu", name=f"relu_conv{layer}")
        layer += 1
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=filters[1], name=f"conv{layer}")
        x = mx.sym.elemwise_add(down, x, name=f"_plus{branch}")  # the residual, before the ReLU
        x = mx.sym.Activation(x, act_type="relu", name=f"relu_conv{layer}")
        outputs.extend(_lffd_branch(x, f"conv{layer}", filters[2]))
    return mx.sym.Group(outputs)


def _lffd_branch(x: Symbol, prefix: str, filters: int) -> Tuple[Symbol, Symbol]:
    def conv1x1(y: Symbol, name: str, num: int, relu: bool) -> Symbol:
        y = mx.sym.Convolution(y, kernel=(1, 1), stride=(1, 1), pad=(0, 0), num_filter=num, name=f"{prefix}_{name}")
        return mx.sym.Activation(y, act_type="relu", name=f"relu_{prefix}_{name}") if relu else y

    shared = conv1x1(x, "1", filters, relu=True)
    score = conv1x1(conv1x1(shared, "2_score", filters, relu=True), "3_score", 2, relu=False)
    score = mx.sym.softmax(score, axis=1, name=f"{prefix}_softmax")
    score = mx.sym.slice_axis(score, axis=1, begin=0, end=1, name=f"{prefix}_slice_axis")
    box = conv1x1(conv1x1(shared, "2_bbox", filters, relu=True), "3_bbox", 4, relu=False)
    return score, box


# --- face landmarks ---------------------------------------------------------------------------


def mtcnn_lnet(filters: Sequence[int] = (8, 12, 16), hidden: int = 32) -> Symbol:
    """MTCNN's landmark refinement net det4 (LNet) as the MXNet MTCNN ports write it
    (pangyupo/mxnet_mtcnn_face_detection symbol.py, det4-symbol.json): the 15-channel input (five
    24x24 patches) split by `SliceChannel num_outputs=5`; per patch 3x3 conv + PReLU, max
    Pooling 3x3/2 `pooling_convention='full'`, 3x3 conv + PReLU, the same pooling, 2x2 conv +
    PReLU; `Concat` of the five, FullyConnected + PReLU; five FullyConnected + PReLU +
    FullyConnected(2) heads, concatenated into the 10 landmark offsets."""
    data = mx.sym.Variable("data")
    patches = mx.sym.SliceChannel(data, num_outputs=5, name="slicechannel0")
    branches = []
    for i in range(1, 6):
        x = patches[i - 1]
        for layer, (kernel, num) in enumerate(((3, filters[0]), (3, filters[1]), (2, filters[2])), start=1):
            x = mx.sym.Convolution(x, kernel=(kernel, kernel), num_filter=num, name=f"conv{layer}_{i}")
            x = mx.sym.LeakyReLU(x, act_type="prelu", name=f"prelu{layer}_{i}")
            if layer < 3:
                x = mx.sym.Pooling(
                    x, kernel=(3, 3), stride=(2, 2), pool_type="max", pooling_convention="full", name=f"pool{layer}_{i}"
                )
        branches.append(x)
    x = mx.sym.Concat(*branches, name="concat")
    x = mx.sym.LeakyReLU(mx.sym.FullyConnected(x, num_hidden=hidden, name="fc4"), act_type="prelu", name="prelu4")
    offsets = []
    for i in range(1, 6):
        y = mx.sym.FullyConnected(x, num_hidden=hidden // 2, name=f"fc5_{i}")
        y = mx.sym.LeakyReLU(y, act_type="prelu", name=f"prelu5_{i}")
        offsets.append(mx.sym.FullyConnected(y, num_hidden=2, name=f"fc6_{i}"))
    return mx.sym.Concat(*offsets, name="landmark_offset")


def mtcnn_onet(filters: Sequence[int] = (8, 16, 16, 32), hidden: int = 32) -> Symbol:
    """MTCNN's output net det3 (ONet) in the same MXNet ports: 3x3 conv + PReLU and max Pooling
    `pooling_convention='full'` three times (3x3/2, 3x3/2, 2x2/2), a 2x2 conv + PReLU, a
    FullyConnected + PReLU, and three FullyConnected heads: class scores through
    `SoftmaxActivation` (instance mode), box and landmark regressions."""
    x = mx.sym.Variable("data")
    pools = ((3, 3), (3, 3), (2, 2))
    for layer, num in enumerate(filters, start=1):
        kernel = 2 if layer == 4 else 3
        x = mx.sym.Convolution(x, kernel=(kernel, kernel), num_filter=num, name=f"conv{layer}")
        x = mx.sym.LeakyReLU(x, act_type="prelu", name=f"prelu{layer}")
        if layer <= len(pools):
            x = mx.sym.Pooling(
                x, kernel=pools[layer - 1], stride=(2, 2), pool_type="max", pooling_convention="full",
                name=f"pool{layer}",
            )
    x = mx.sym.LeakyReLU(mx.sym.FullyConnected(x, num_hidden=hidden, name="fc"), act_type="prelu", name="prelu5")
    prob = mx.sym.SoftmaxActivation(mx.sym.FullyConnected(x, num_hidden=2, name="score"), name="prob")
    bbox = mx.sym.FullyConnected(x, num_hidden=4, name="bbox_pred")
    landmark = mx.sym.FullyConnected(x, num_hidden=10, name="landmark_pred")
    return mx.sym.Group([prob, bbox, landmark])


# --- face recognition -------------------------------------------------------------------------


def relu6_of(x: Symbol, form: str, name: str) -> Symbol:
    """ReLU6 as MXNet files write it: "scalars" is MobileFace's
    `mx.sym.minimum(mx.sym.maximum(x, 0), 6)` (`_maximum_scalar` then `_minimum_scalar`),
    "clip" is `clip(x, 0, 6)`."""
    if form == "scalars":
        x = mx.sym._internal._maximum_scalar(x, scalar=0, name=f"{name}_max")
        return mx.sym._internal._minimum_scalar(x, scalar=6, name=f"{name}_min")
    if form == "clip":
        return mx.sym.clip(x, 0, 6, name=f"{name}_clip")
    raise ValueError(f"unknown ReLU6 form {form!r}")


def mobileface(relu6: str = "scalars", embedding: int = 16) -> Symbol:
    """MobileFace (becauseofAI/MobileFace, MobileFace_Identification V1/V2 symbols): a
    MobileNetV2 body whose ReLU6 is `_maximum_scalar 0` + `_minimum_scalar 6` after each
    conv + BatchNorm (fix_gamma=False, the default eps); bottlenecks of expansion 1x1 + ReLU6,
    depthwise 3x3 + ReLU6, linear 1x1 + BN; stride-1 bottlenecks add a shortcut (a 1x1 conv +
    BN + ReLU6 when the width changes); then Flatten, FullyConnected without bias, BatchNorm on
    the 2-d embedding and the `L2Normalization` head. In front, insightface's in-graph input
    normalization (`_minus_scalar 127.5`, `_mul_scalar 0.0078125`)."""
    data = insightface_input(mx.sym.Variable("data"))

    def conv(x: Symbol, name: str, num: int, kernel: int, stride: int, groups: int = 1, act: bool = True) -> Symbol:
        y = conv_bn(x, name, num, kernel=kernel, stride=stride, groups=groups, act=None, eps=1e-3)
        return relu6_of(y, relu6, f"{name}_relu6") if act else y

    def bottleneck(x: Symbol, name: str, in_c: int, out_c: int, stride: int, expand: int = 2) -> Symbol:
        y = conv(x, f"{name}_expand", in_c * expand, 1, 1)
        y = conv(y, f"{name}_dw", in_c * expand, 3, stride, groups=in_c * expand)
        y = conv(y, f"{name}_linear", out_c, 1, 1, act=False)
        if stride == 2:
            return y
        shortcut = x if in_c == out_c else conv(x, f"{name}_shortcut", out_c, 1, 1)
        return mx.sym.elemwise_add(shortcut, y, name=f"{name}_add")

    x = conv(data, "conv1", 8, 3, 2)
    x = bottleneck(x, "bottleneck1_0", 8, 8, 2)
    x = bottleneck(x, "bottleneck1_1", 8, 8, 1)
    x = bottleneck(x, "bottleneck2_0", 8, 16, 2)
    x = bottleneck(x, "bottleneck2_1", 16, 16, 1)
    x = bottleneck(x, "bottleneck3_0", 16, 16, 1, expand=3)
    x = bottleneck(x, "bottleneck3_1", 16, 24, 1)
    x = mx.sym.Flatten(x, name="flatten")
    x = mx.sym.FullyConnected(x, num_hidden=embedding, no_bias=True, name="fc5")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="fc5_bn")
    return mx.sym.L2Normalization(x, name="l2normalization0")


def lightened_cnn(filters: Sequence[int] = (8, 12, 16, 16, 16), hidden: int = 16) -> Symbol:
    """Lightened CNN B with Max-Feature-Map activations (AlfredXiangWu's LightCNN as the MXNet
    lightened_cnn.py writes it): each MFM is `SliceChannel num_outputs=2` of a conv (or of the
    FullyConnected) and `_Maximum` of the halves; a group is 1x1 conv + MFM, then k x k conv + MFM
    and max Pooling 2x2/2 (valid: odd maps round down); then Flatten, FullyConnected + MFM and
    Dropout (identity at inference): the face feature. MXNet 1.x saves the maxima as
    `_maximum`; the files of that code's time hold `_Maximum` (see json_with_op_names)."""
    x = mx.sym.Variable("data")
    for index, num in enumerate(filters, start=1):
        layer = str(index)
        if index > 1:
            x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=2 * filters[index - 2], name=f"conv{layer}_r")
            x = _mfm(x, f"slice{layer}_r")
        kernel, pad = ((5, 5), (2, 2)) if index == 1 else ((3, 3), (1, 1))
        x = mx.sym.Convolution(x, kernel=kernel, stride=(1, 1), pad=pad, num_filter=2 * num, name=f"conv{layer}")
        x = _mfm(x, f"slice{layer}")
        x = mx.sym.Pooling(x, pool_type="max", kernel=(2, 2), stride=(2, 2), name=f"pool{layer}")
    x = mx.sym.Flatten(x, name="flatten")
    x = _mfm(mx.sym.FullyConnected(x, num_hidden=2 * hidden, name="fc1"), "slice_fc1")
    return mx.sym.Dropout(x, p=0.7, name="drop1")


def _mfm(x: Symbol, name: str) -> Symbol:
    halves = mx.sym.SliceChannel(x, num_outputs=2, name=name)
    return mx.sym._internal._maximum(halves[0], halves[1], name=f"{name}_maximum")


def gnap_head(filters: int = 16, embedding: int = 8) -> Symbol:
    """insightface's GNAP embedding head (symbol_utils.get_fc1, fc_type 'GNAP', "mobilefacenet++")
    on a small PReLU mobilefacenet-like body with the in-graph input normalization: BatchNorm
    `bn6f` (fix_gamma=True), the spatial norm `sqrt(sum(x*x, axis=1, keepdims))`, its global
    `mean` (no axis: one value), `broadcast_div(mean, norm)`, `tile` over the channels, the
    element-wise product with the features, global average Pooling, BatchNorm `bn6w`,
    FullyConnected `pre_fc1` and BatchNorm `fc1` (both fix_gamma=True)."""
    x = insightface_input(mx.sym.Variable("data"))
    x = conv_bn(x, "conv_1", 8, stride=2, act="prelu")
    x = conv_bn(x, "conv_2_dw", 8, groups=8, act="prelu")
    x = conv_bn(x, "conv_3", filters, stride=2, act="prelu")
    x = conv_bn(x, "conv_6sep", filters, kernel=1, act="prelu")
    body = mx.sym.BatchNorm(x, fix_gamma=True, eps=INSIGHTFACE_EPS, momentum=0.9, name="bn6f")
    squares = mx.sym.elemwise_mul(body, body, name="spatial_square")
    spatial_norm = mx.sym.sum(squares, axis=1, keepdims=True, name="spatial_norm")
    spatial_sqrt = mx.sym.sqrt(spatial_norm, name="spatial_sqrt")
    spatial_mean = mx.sym.mean(spatial_sqrt, name="spatial_mean")
    inverse = mx.sym.broadcast_div(spatial_mean, spatial_sqrt, name="spatial_div_inverse")
    attention = mx.sym.tile(inverse, reps=(1, filters, 1, 1), name="spatial_attention_inverse")
    body = mx.sym.elemwise_mul(body, attention, name="spatial_attention")
    fc1 = mx.sym.Pooling(body, kernel=(7, 7), global_pool=True, pool_type="avg", name="gnap_pool")
    fc1 = mx.sym.BatchNorm(fc1, fix_gamma=True, eps=INSIGHTFACE_EPS, momentum=0.9, name="bn6w")
    fc1 = mx.sym.FullyConnected(fc1, num_hidden=embedding, name="pre_fc1")
    return mx.sym.BatchNorm(fc1, fix_gamma=True, eps=INSIGHTFACE_EPS, momentum=0.9, name="fc1")


# --- dense prediction: segmentation, pose, ResNeSt -------------------------------------------


def iris_unet(filters: Sequence[int] = (8, 16, 24), classes: int = 3) -> Symbol:
    """An iris-segmentation UNet as such MXNet files are written (converted from TF/Keras 'same'
    pooling): per encoder level two 3x3 conv + BN + ReLU, then `Pad` constant with the
    asymmetric pad_width (0,0,0,0,0,1,0,1) (one row at the bottom, one column at the right)
    before max Pooling 3x3/2; the decoder upsamples with `Deconvolution` (4x4/2 pad 1 and
    2x2/2), `Concat`s the encoder map of the same size (skip) and applies two conv blocks; a 1x1
    conv to the classes and `softmax axis=1`."""
    x = mx.sym.Variable("data")
    skips = []
    for level, num in enumerate(filters[:-1]):
        x = conv_bn(x, f"enc{level}_conv0", num, no_bias=False, eps=1e-3)
        x = conv_bn(x, f"enc{level}_conv1", num, no_bias=False, eps=1e-3)
        skips.append(x)
        x = mx.sym.Pad(x, mode="constant", constant_value=0, pad_width=(0, 0, 0, 0, 0, 1, 0, 1), name=f"enc{level}_pad")
        x = mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max", name=f"enc{level}_pool")
    x = conv_bn(x, "bottom_conv0", filters[-1], no_bias=False, eps=1e-3)
    deconvs = ({"kernel": (4, 4), "pad": (1, 1)}, {"kernel": (2, 2), "pad": (0, 0)})
    for level in reversed(range(len(skips))):
        num = filters[level]
        up = deconvs[level % 2]
        x = mx.sym.Deconvolution(x, stride=(2, 2), num_filter=num, no_bias=False, name=f"dec{level}_up", **up)
        x = mx.sym.Concat(x, skips[level], dim=1, name=f"dec{level}_concat")
        x = conv_bn(x, f"dec{level}_conv0", num, no_bias=False, eps=1e-3)
        x = conv_bn(x, f"dec{level}_conv1", num, no_bias=False, eps=1e-3)
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=classes, name="classifier")
    return mx.sym.softmax(x, axis=1, name="softmax")


def _resnet_v1b_stem(data: Symbol, prefix: str, width: int) -> Symbol:
    """gluoncv's ResNetV1b stem: 7x7/2 conv (pad 3, no bias), BN, ReLU, max Pooling 3x3/2 pad 1."""
    x = conv_bn(data, f"{prefix}_conv0", width, kernel=7, stride=2, pad=3, eps=1e-5)
    return mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name=f"{prefix}_pool0")


def _basic_block(x: Symbol, name: str, width: int, stride: int, dilation: int = 1, downsample: bool = False) -> Symbol:
    """ResNetV1b BasicBlock: two 3x3 conv + BN, the second without ReLU, the shortcut (1x1 conv +
    BN when the shape changes) added, ReLU."""
    y = conv_bn(x, f"{name}_conv1", width, stride=stride, dilate=dilation, eps=1e-5)
    y = conv_bn(y, f"{name}_conv2", width, dilate=dilation, act=None, eps=1e-5)
    shortcut = conv_bn(x, f"{name}_down", width, kernel=1, stride=stride, act=None, eps=1e-5) if downsample else x
    y = mx.sym.elemwise_add(y, shortcut, name=f"{name}_add")
    return mx.sym.Activation(y, act_type="relu", name=f"{name}_relu2")


def simple_pose(joints: int = 5, widths: Sequence[int] = (8, 16, 16, 24), deconv: int = 16) -> Symbol:
    """gluoncv's SimplePoseResNet (model_zoo/simple_pose/simple_pose_resnet.py): a ResNetV1b
    backbone to stride 32, three `Deconvolution` 4x4/2 (pad 1, adj 0, no bias) + BN + ReLU that
    bring it back to stride 4, and a 1x1 conv to one heatmap per joint."""
    x = _resnet_v1b_stem(mx.sym.Variable("data"), "resnetv1b", widths[0])
    for stage, width in enumerate(widths):
        stride = 1 if stage == 0 else 2
        x = _basic_block(x, f"resnetv1b_layer{stage + 1}", width, stride, downsample=stride != 1)
    for index in range(3):
        x = mx.sym.Deconvolution(
            x, kernel=(4, 4), stride=(2, 2), pad=(1, 1), adj=(0, 0), num_filter=deconv, no_bias=True,
            name=f"simpleposeresnet_deconv{index}",
        )
        x = mx.sym.BatchNorm(x, eps=1e-5, fix_gamma=False, name=f"simpleposeresnet_deconv{index}_bn")
        x = mx.sym.Activation(x, act_type="relu", name=f"simpleposeresnet_deconv{index}_relu")
    return mx.sym.Convolution(x, kernel=(1, 1), num_filter=joints, name="simpleposeresnet_final")


def fcn(classes: int = 4, widths: Sequence[int] = (8, 16, 24, 32), input_size: Pair = (60, 44)) -> Symbol:
    """gluoncv's FCN (model_zoo/fcn.py) on a dilated ResNetV1b (stride 8: the last two stages
    dilate 2 and 4 instead of striding): the FCNHead (3x3 conv to in/4 channels without bias, BN,
    ReLU, Dropout 0.1, 1x1 conv to the classes) on the last stage and the auxiliary FCNHead on the
    third, each brought to the input size by `_contrib_BilinearResize2D height=H width=W`."""
    height, width = input_size
    x = _resnet_v1b_stem(mx.sym.Variable("data"), "resnetv1b", widths[0])
    x = _basic_block(x, "resnetv1b_layer1", widths[0], 1)
    x = _basic_block(x, "resnetv1b_layer2", widths[1], 2, downsample=True)
    c3 = _basic_block(x, "resnetv1b_layer3", widths[2], 1, dilation=2, downsample=True)
    c4 = _basic_block(c3, "resnetv1b_layer4", widths[3], 1, dilation=4, downsample=True)
    outputs = []
    for name, feature, channels in (("fcn_head", c4, widths[3]), ("fcn_auxlayer", c3, widths[2])):
        y = conv_bn(feature, f"{name}_conv0", channels // 4, eps=1e-5)
        y = mx.sym.Dropout(y, p=0.1, name=f"{name}_dropout0")
        y = mx.sym.Convolution(y, kernel=(1, 1), num_filter=classes, name=f"{name}_conv1")
        outputs.append(mx.sym.contrib.BilinearResize2D(y, height=height, width=width, name=f"{name}_resize"))
    return mx.sym.Group(outputs)


def resnest_block(channels: int = 8, radix: int = 2, cardinality: int = 1) -> Symbol:
    """A ResNeSt bottleneck with gluoncv's SplitAttentionConv (gluoncv/nn/splat.py, MXNet 1.x
    version) on a small stem: 3x3 conv to channels*radix in radix*cardinality groups, BN, ReLU;
    the radix splits as `expand_dims axis=1` + `Reshape (0, radix, channels, 0, 0)`, their `sum
    axis=1`, `_contrib_AdaptiveAvgPooling2D output_size=1`, grouped 1x1 conv fc1 + BN + ReLU,
    grouped 1x1 conv fc2; the r-softmax `Reshape (0, cardinality, radix, -1)`, `SwapAxis 1 2`,
    `softmax axis=1`, `Reshape (0, radix, -1, 1, 1)`; `broadcast_mul` with the splits and `sum
    axis=1`; then the bottleneck's 1x1 conv + BN, the shortcut add and ReLU."""
    x = conv_bn(mx.sym.Variable("data"), "resnest_stem", 2 * channels, stride=2, eps=1e-5)
    shortcut = x
    y = conv_bn(x, "layer1_conv1", channels, kernel=1, eps=1e-5)
    y = mx.sym.Convolution(
        y, kernel=(3, 3), pad=(1, 1), num_filter=channels * radix, num_group=cardinality * radix, no_bias=True,
        name="layer1_splat_conv",
    )
    y = mx.sym.BatchNorm(y, eps=1e-5, fix_gamma=False, name="layer1_splat_bn")
    y = mx.sym.Activation(y, act_type="relu", name="layer1_splat_relu")
    splited = mx.sym.Reshape(mx.sym.expand_dims(y, axis=1), shape=(0, radix, channels, 0, 0), name="layer1_splat_split")
    gap = mx.sym.sum(splited, axis=1, name="layer1_splat_gap_sum")
    gap = mx.sym.contrib.AdaptiveAvgPooling2D(gap, output_size=1, name="layer1_splat_gap")
    inter = max(2 * channels * radix // 2 // 2, 8)
    gap = mx.sym.Convolution(gap, kernel=(1, 1), num_filter=inter, num_group=cardinality, name="layer1_splat_fc1")
    gap = mx.sym.BatchNorm(gap, eps=1e-5, fix_gamma=False, name="layer1_splat_bn1")
    atten = mx.sym.Activation(gap, act_type="relu", name="layer1_splat_relu1")
    atten = mx.sym.Convolution(
        atten, kernel=(1, 1), num_filter=channels * radix, num_group=cardinality, name="layer1_splat_fc2"
    )
    atten = mx.sym.Reshape(atten, shape=(0, cardinality, radix, -1), name="layer1_splat_rsoftmax_reshape0")
    atten = mx.sym.SwapAxis(atten, dim1=1, dim2=2, name="layer1_splat_rsoftmax_swapaxes")
    atten = mx.sym.softmax(atten, axis=1, name="layer1_splat_rsoftmax")
    atten = mx.sym.Reshape(atten, shape=(0, radix, -1, 1, 1), name="layer1_splat_rsoftmax_reshape1")
    y = mx.sym.sum(mx.sym.broadcast_mul(atten, splited, name="layer1_splat_mul"), axis=1, name="layer1_splat_out")
    y = conv_bn(y, "layer1_conv3", 2 * channels, kernel=1, act=None, eps=1e-5)
    return mx.sym.Activation(mx.sym.elemwise_add(y, shortcut, name="layer1_add"), act_type="relu", name="layer1_relu3")

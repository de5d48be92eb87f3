"""slice_axis, slice, slice_like, SliceChannel / split: real MXNet 1.9.1 against the converted model
in OpenCV DNN and BVLC Caffe (relative max error <= harness.TOLERANCE, 1e-4), on every axis but the
batch one, with negative and None indices, odd sizes and several outputs.

In a model a slice is read by the next layer; here that is a tanh (one-to-one, so a wrong element
shows). Slices as the model's heads are tested apart (test_slices_as_heads)."""

import itertools

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.converters.registry import lookup
from mxnet2caffe.converters.slicing import slice_positions
from mxnet2caffe.naming import mxnet_output_name

from harness import assert_converts_exactly, assert_rejected, layer_types, random_params, save_model

SHAPE = (2, 5, 7, 9)  # odd sizes on every axis that is sliced



def _next(x: mx.sym.Symbol) -> mx.sym.Symbol:
    return mx.sym.Activation(x, act_type="tanh", name="next")


def test_slice_positions_follow_mxnet():
    """slice_positions (Python's slice rules) against MXNet on every begin/end/step combination
    of small axes: sizes by shape inference, values where MXNet's oneDNN kernel runs (it fails
    outright on a begin below -size, which its shape inference clamps to 0)."""
    data = mx.sym.Variable("data")
    checked = 0
    for size in (1, 2, 5, 7):
        values = [None, -9, -size, -3, -1, 0, 1, 2, 3, size - 1, size, 9]
        axis = mx.nd.array(np.arange(size, dtype=np.float32).reshape(1, size))
        for begin, end, step in itertools.product(values, values, [None, 1, 2, 3, -1, -2, -3]):
            positions = slice_positions(size, begin, end, step)
            sym = mx.sym.slice(data, begin=(None, begin), end=(None, end), step=(None, step))
            assert sym.infer_shape(data=(1, size))[1][0] == (1, len(positions)), (size, begin, end, step)
            if len(positions) and (begin is None or begin >= -size):
                out = mx.nd.slice(axis, begin=(None, begin), end=(None, end), step=(None, step))
                assert out.asnumpy().ravel().tolist() == list(positions)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    "axis, begin, end",
    [
        (1, 0, 2),
        (1, 2, None),
        (1, 1, 4),
        (1, -3, -1),
        (-3, -2, None),
        (2, 0, 3),
        (2, 3, None),
        (2, -4, 6),
        (-2, 1, -1),
        (3, 2, 7),
        (3, -5, None),
        (-1, 0, -3),
        (0, 0, None),  # the whole batch: no layer
    ],
)
def test_slice_axis(tmp_path, axis, begin, end):
    sym = _next(mx.sym.slice_axis(mx.sym.Variable("data"), axis=axis, begin=begin, end=end, name="cut"))
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path)
    expected = list(SHAPE)
    expected[axis] = len(range(SHAPE[axis])[begin:end])
    assert summary.outputs == {"next": tuple(expected)}
    assert layer_types(summary).count("Slice") == (0 if axis == 0 else 1)


@pytest.mark.parametrize(
    "shape, cut",
    [
        ((2, 9), lambda d: mx.sym.slice(d, begin=(None, 2), end=(None, -2), name="cut")),
        ((2, 9), lambda d: mx.sym.slice_axis(d, axis=-1, begin=-4, end=None, name="cut")),
        ((2, 6, 11), lambda d: mx.sym.slice(d, begin=(None, None, -4), end=(None, None, None), name="cut")),
        ((2, 6, 11), lambda d: mx.sym.slice(d, begin=(0, 1), end=(2, 5), name="cut")),
    ],
)
def test_slicing_2d_and_3d_blobs(tmp_path, shape, cut):
    """After a FullyConnected or a Reshape to (N, C, L): Slice takes any number of axes."""
    assert_converts_exactly(_next(cut(mx.sym.Variable("data"))), {"data": shape}, tmp_path)


@pytest.mark.parametrize(
    "begin, end, step, layers",
    [
        ((None, 1), (None, 4), None, ["Slice"]),
        ((0, None, 2), (None, None, -1), None, ["Slice"]),
        ((None, -4, -5, 1), (None, -1, None, -2), None, ["Slice"] * 3),
        ((None, 2, 1), (None, 30, 6), (None, 1, 1), ["Slice"] * 2),  # end clamped to the size
        ((), (), None, []),  # the whole input
        # a positive step on the spatial axes: a range, then MAX Pooling with a 1x1 window
        ((None, None, 1, 0), (None, None, None, None), (None, None, 2, 3), ["Slice", "Slice", "Pooling"]),
        ((None, None, None, 2), (None, None, None, 8), (None, None, None, 2), ["Slice", "Pooling"]),
        ((None, None, 0, 0), (None, None, None, None), (None, None, 3, 4), ["Pooling"]),
        ((None, None, 1, -2), (None, None, 6, 1), (None, None, 2, -3), ["Slice", "Slice", "Concat", "Pooling"]),
        # other steps: single positions gathered by a Concat
        ((None, None), (None, None), (None, -1), ["Slice", "Concat"]),  # RGB <-> BGR
        ((None, 4), (None, 0), (None, -3), ["Slice", "Concat"]),
        ((None, 0), (None, None), (None, 2), ["Slice", "Concat"]),
        ((None, None, 5), (None, None, 0), (None, None, -2), ["Slice", "Concat"]),
        ((None, 1, None, 7), (None, 5, None, 1), (None, 3, None, -2), ["Slice", "Concat", "Slice", "Concat"]),
    ],
)
def test_slice(tmp_path, begin, end, step, layers):
    sym = _next(mx.sym.slice(mx.sym.Variable("data"), begin=begin, end=end, step=step, name="cut"))
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path)
    assert layer_types(summary) == ["Input"] + layers + ["TanH"]


def test_slice_with_steps_on_a_3d_blob_gathers(tmp_path):
    """Pooling strides only over the spatial axes of a 4-d blob: elsewhere positions are gathered."""
    sym = _next(mx.sym.slice(mx.sym.Variable("data"), begin=(None, None, 3), end=(None, None, None), step=(1, 1, 3)))
    summary = assert_converts_exactly(sym, {"data": (2, 5, 11)}, tmp_path)
    assert summary.outputs == {"next": (2, 5, 3)}


@pytest.mark.parametrize(
    "like_shape, axes, form",
    [
        ((2, 4, 5, 7), (2, 3), "Crop"),  # the FPN pattern: cut to the lateral branch's size
        ((2, 4, 5, 7), (), "Crop"),
        ((2, 4, 5, 7), (-1,), "Crop"),
        ((2, 4, 5, 7), (1,), "Slice"),  # shape_like differs beyond axis 1: Crop cannot use it
        ((2, 4, 9, 11), (2, 3), "Crop"),  # nothing cut: Crop still reads shape_like, as a copy
    ],
)
def test_slice_like_a_computed_blob(tmp_path, like_shape, axes, form):
    """shape_like is a convolution's output, read for its shape only; in the Crop form it is
    read, in the Slice form it is a head of its own (else it would be left unread)."""
    data = mx.sym.Variable("data")
    kernel = (9 - like_shape[2] + 1, 11 - like_shape[3] + 1)
    like = mx.sym.Convolution(data, kernel=kernel, num_filter=like_shape[1], name="like")
    cut = mx.sym.slice_like(data, like, axes=axes, name="cut")
    sym = cut if form == "Crop" else mx.sym.Group([cut, like])
    summary = assert_converts_exactly(sym, {"data": (2, 6, 9, 11)}, tmp_path)
    assert form in layer_types(summary)


def test_slice_like_an_input(tmp_path):
    sym = mx.sym.slice_like(mx.sym.Variable("data"), mx.sym.Variable("like"), axes=(2, 3), name="cut")
    summary = assert_converts_exactly(sym, {"data": SHAPE, "like": (2, 3, 4, 6)}, tmp_path)
    assert summary.outputs == {"cut": (2, 5, 4, 6)}


def test_slice_like_a_constant(tmp_path):
    """shape_like is a weight (anchors, say): only its shape matters, so there is nothing to read."""
    anchors = mx.sym.Variable("anchors", shape=(1, 3, 5, 7))
    sym = _next(mx.sym.slice_like(mx.sym.Variable("data"), anchors, axes=(2, -1), name="cut"))
    args, aux = random_params(sym, {"data": SHAPE})
    assert "anchors" in args
    summary = assert_converts_exactly(sym, {"data": SHAPE}, tmp_path, args=args, aux=aux)
    assert summary.outputs == {"next": (2, 5, 5, 7)}


@pytest.mark.parametrize("count, axis", [(6, 1), (2, 1), (3, 1), (7, 2), (3, 3), (9, -1), (2, -3)])
@pytest.mark.parametrize("op", [mx.sym.SliceChannel, mx.sym.split])
def test_slice_channel_every_output_read(tmp_path, op, count, axis):
    """One Slice gives every part; each part is read by a branch of its own."""
    parts = op(mx.sym.Variable("data"), num_outputs=count, axis=axis, name="parts")
    heads = [mx.sym.Activation(parts[i], act_type="tanh", name=f"branch{i}") for i in range(count)]
    summary = assert_converts_exactly(mx.sym.Group(heads), {"data": (2, 6, 7, 9)}, tmp_path)
    assert layer_types(summary).count("Slice") == 1
    assert len(summary.outputs) == count


@pytest.mark.parametrize("used", [(0,), (1,), (0, 2), (3, 1)])
def test_slice_channel_some_outputs_unread(tmp_path, used):
    """Parts nobody reads stay unconsumed tops: OpenCV lists only the heads (checked by the harness)."""
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=4, axis=2, name="parts")
    heads = [mx.sym.Activation(parts[i], act_type="tanh", name=f"branch{i}") for i in used]
    summary = assert_converts_exactly(mx.sym.Group(heads), {"data": (2, 5, 8, 9)}, tmp_path)
    assert list(summary.outputs) == [f"branch{i}" for i in used]


@pytest.mark.parametrize("shape, axis", [((2, 3, 5, 7), 1), ((2, 3, 5, 7), -2), ((2, 3, 5, 7), 3), ((2, 4, 3), 1)])
def test_slice_channel_squeeze_axis(tmp_path, shape, axis):
    """Each part (of size 1 along axis) reshaped without it: the heads are Reshape tops."""
    count = shape[axis]
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=count, axis=axis, squeeze_axis=True, name="p")
    summary = assert_converts_exactly(parts, {"data": shape}, tmp_path)
    squeezed = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    assert summary.outputs == {f"p_output{i}": squeezed for i in range(count)}
    assert layer_types(summary) == ["Input", "Slice"] + ["Reshape"] * count


@pytest.mark.parametrize("squeeze, shape, layers", [(False, (2, 5, 7, 9), []), (True, (2, 1, 7, 9), ["Reshape"])])
def test_slice_channel_into_one_output(tmp_path, squeeze, shape, layers):
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=1, squeeze_axis=squeeze, name="parts")
    summary = assert_converts_exactly(_next(parts), {"data": shape}, tmp_path)
    assert layer_types(summary) == ["Input"] + layers + ["TanH"]


def test_op_aliases():
    assert lookup("crop") is lookup("slice")
    assert lookup("split") is lookup("SliceChannel")


@pytest.mark.parametrize(
    "heads",
    [
        lambda data: mx.sym.slice_axis(data, axis=1, begin=1, end=4, name="cut"),
        lambda data: mx.sym.slice(data, begin=(None, None, 2), end=(None, None, -1), name="cut"),
        lambda data: mx.sym.SliceChannel(data, num_outputs=5, name="parts"),
        lambda data: mx.sym.Group(list(mx.sym.split(data, num_outputs=3, axis=-2, name="parts"))[1:]),
    ],
)
def test_slices_as_heads(tmp_path, heads):
    assert_converts_exactly(heads(mx.sym.Variable("data")), {"data": (2, 5, 6, 9)}, tmp_path)


def test_lffd_style_detector_heads(tmp_path):
    """LFFD: per scale branch, one convolution gives 2 score channels (a softmax over them) and 4
    box channels (refined by another convolution), separated by slice_axis on the channel axis."""
    data = mx.sym.Variable("data")
    x = mx.sym.Activation(mx.sym.Convolution(data, kernel=(3, 3), stride=(2, 2), num_filter=8, name="c1"), act_type="relu")
    heads = []
    for branch in (1, 2):
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), stride=(branch, branch), num_filter=8, name=f"c{branch + 1}")
        x = mx.sym.Activation(x, act_type="relu", name=f"relu{branch + 1}")
        out = mx.sym.Convolution(x, kernel=(1, 1), num_filter=6, name=f"branch{branch}")
        score = mx.sym.slice_axis(out, axis=1, begin=0, end=2, name=f"score_slice{branch}")
        box = mx.sym.slice_axis(out, axis=1, begin=2, end=6, name=f"box_slice{branch}")
        heads.append(mx.sym.softmax(score, axis=1, name=f"score{branch}"))
        heads.append(mx.sym.Convolution(box, kernel=(1, 1), num_filter=4, name=f"box{branch}"))
    summary = assert_converts_exactly(mx.sym.Group(heads), {"data": (2, 3, 47, 63)}, tmp_path)
    assert summary.outputs == {
        "score1": (2, 2, 23, 31),
        "box1": (2, 4, 23, 31),
        "score2": (2, 2, 12, 16),
        "box2": (2, 4, 12, 16),
    }


def test_mtcnn_style_landmark_net(tmp_path):
    """MTCNN det4: 5 stacked 24x24 patches (15 channels) split into 5 branches, one per landmark,
    each conv-PReLU-pool-conv-PReLU-FC-PReLU-FC(2); the 5 offsets concatenated."""
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=5, axis=1, name="slice")
    offsets = []
    for i in range(5):
        x = mx.sym.Convolution(parts[i], kernel=(3, 3), num_filter=8, name=f"conv1_{i}")
        x = mx.sym.LeakyReLU(x, act_type="prelu", name=f"prelu1_{i}")
        x = mx.sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max", pooling_convention="full", name=f"pool1_{i}")
        x = mx.sym.Convolution(x, kernel=(3, 3), num_filter=16, name=f"conv2_{i}")
        x = mx.sym.LeakyReLU(x, act_type="prelu", name=f"prelu2_{i}")
        x = mx.sym.LeakyReLU(mx.sym.FullyConnected(x, num_hidden=16, name=f"fc1_{i}"), act_type="prelu", name=f"prelu3_{i}")
        offsets.append(mx.sym.FullyConnected(x, num_hidden=2, name=f"fc2_{i}"))
    sym = mx.sym.Concat(*offsets, dim=1, name="landmarks")
    summary = assert_converts_exactly(sym, {"data": (2, 15, 24, 24)}, tmp_path)
    assert summary.outputs == {"landmarks": (2, 10)}
    assert layer_types(summary).count("Slice") == 1


def test_max_feature_map_blocks(tmp_path):
    """Lightened CNN: MFM, a layer's channels split in two halves and their element-wise maximum
    (mx.sym.maximum of two symbols is _Maximum), after a convolution and after a FullyConnected."""
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv1")
    halves = mx.sym.SliceChannel(conv, num_outputs=2, axis=1, name="slice1")
    x = mx.sym.maximum(halves[0], halves[1])
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    fc = mx.sym.FullyConnected(x, num_hidden=10, name="fc1")
    halves = mx.sym.SliceChannel(fc, num_outputs=2, axis=1, name="slice2")
    sym = mx.sym.FullyConnected(mx.sym.maximum(halves[0], halves[1]), num_hidden=3, name="fc2")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 9, 11)}, tmp_path)
    assert summary.outputs == {"fc2": (2, 3)}
    assert layer_types(summary).count("Slice") == 2


def test_multi_output_names_match_mxnet():
    """Lowering keys output I of a node with several outputs as MXNet's get_internals names it."""
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=3, name="parts")
    names = parts.get_internals().list_outputs()
    assert names[1:] == [mxnet_output_name("parts", index, 3) for index in range(3)]


def test_single_output_slice_channel_name_matches_mxnet():
    """SliceChannel names its outputs output0.. even when there is one (FListOutputNames)."""
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=1, name="parts")
    assert parts.get_internals().list_outputs()[1:] == [mxnet_output_name("parts", 0, 1, "SliceChannel")]


def _split_model(tmp_path):
    """A split whose 3 parts are read by a branch each: verify has 3 parts to compare."""
    parts = mx.sym.SliceChannel(mx.sym.Variable("data"), num_outputs=3, axis=2, name="parts")
    sym = mx.sym.Group([mx.sym.Activation(parts[i], act_type="tanh", name=f"branch{i}") for i in range(3)])
    args, aux = random_params(sym, {"data": (2, 4, 9, 5)})
    symbol, params = save_model(sym, args, aux, tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": (2, 4, 9, 5)}, tmp_path / "converted")
    return symbol, params, summary


def test_verify_compares_every_output_of_a_split_in_caffe(tmp_path):
    symbol, params, summary = _split_model(tmp_path)
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend="caffe")
    rows = {row.mxnet_output: row.comparison for row in report.rows}
    assert [f"parts_output{i}" in rows for i in range(3)] == [True] * 3
    assert report.ok, report.format()


def test_verify_compares_every_output_of_a_split_in_opencv(tmp_path):
    symbol, params, summary = _split_model(tmp_path)
    report = mxnet2caffe.verify(symbol, params, summary.prototxt, summary.caffemodel, backend="opencv")
    assert {f"parts_output{i}" for i in range(3)} <= {row.mxnet_output for row in report.rows}
    assert report.ok, report.format()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: mx.sym.slice_axis(d, axis=1, begin=3, end=2), r"begin 3, end 2 select nothing valid of axis 1 \(size 5\)"),
        (lambda d: mx.sym.slice_axis(d, axis=2, begin=0, end=8), r"begin 0, end 8 select nothing valid of axis 2 \(size 7\)"),
        (lambda d: mx.sym.slice_axis(d, axis=3, begin=-10, end=None), "begin -10, end None select nothing valid"),
        (lambda d: mx.sym.slice_axis(d, axis=4, begin=0, end=1), "'axis' 4 is out of range for a 4-d input"),
        (lambda d: mx.sym.slice_axis(d, axis=0, begin=0, end=1), r"slicing the batch axis \(axis 0, keeping 1 of 2\)"),
        (lambda d: mx.sym.slice(d, begin=(0, 3), end=(None, 1)), r"the slice of axis 1 \(size 5\) is empty"),
        (lambda d: mx.sym.slice(d, begin=(1,), end=(2,)), "slicing the batch axis"),
        (lambda d: mx.sym.slice(d, begin=(None, 0), end=(None, 2), step=(None, 0)), r"step \(None, 0\) has a 0"),
        (lambda d: mx.sym.slice(d, begin=(None, 0), end=(None,)), "differ in length"),
        (lambda d: mx.sym.slice(d, begin=(None, 0), end=(None, 2), step=(1,)), "differ in length"),
        (lambda d: mx.sym.slice(d, begin=(0,) * 5, end=(1,) * 5), "more entries than the input"),
        (lambda d: mx.sym.SliceChannel(d, num_outputs=2), r"num_outputs 2 does not divide axis 1"),
        (lambda d: mx.sym.split(d, num_outputs=1, axis=1, squeeze_axis=True), "squeeze_axis needs num_outputs"),
        (lambda d: mx.sym.split(d, num_outputs=2, axis=0), "splitting the batch axis into 2"),
    ],
)
def test_slicing_rejects(tmp_path, make, match):
    assert_rejected(make(mx.sym.Variable("data")), {"data": SHAPE}, tmp_path, match)


@pytest.mark.parametrize(
    "axes, match",
    [
        ((2,), r"shape_like \(2, 5, 8\) is not within the input \(2, 5, 7, 9\) on axis 2"),
        ((3,), r"shape_like \(2, 5, 8\) is not within the input \(2, 5, 7, 9\) on axis 3"),
        ((), r"with no axes, shape_like \(2, 5, 8\) must have the input's 4 axes"),
        ((-5,), "'axes' -5 is out of range for a 4-d input"),
    ],
)
def test_slice_like_rejects(tmp_path, axes, match):
    sym = mx.sym.slice_like(mx.sym.Variable("data"), mx.sym.Variable("like"), axes=axes)
    assert_rejected(sym, {"data": SHAPE, "like": (2, 5, 8)}, tmp_path, match)

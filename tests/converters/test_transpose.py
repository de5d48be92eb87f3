"""transpose and SwapAxis (swapaxes): real MXNet 1.9.1 against the converted model in OpenCV DNN
and BVLC Caffe (relative max error <= harness.TOLERANCE, 1e-4; a transpose only copies values,
so in practice they are equal). By default the stock forms (Reshape; Slice + Concat for each
swap of two neighbouring axis groups), with no native layer type; with --transpose native one
MXTranspose layer, which the harness then runs as the plugin in Caffe and as the Python custom
layer in OpenCV.

The data is negated first (a Power layer): the graph pass for NHWC inputs removes a transpose of
the data input itself, and these tests are about the converter."""

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.reader import read_prototxt
from mxnet2caffe.converters.registry import lookup
from mxnet2caffe.converters.transpose import MAX_PARTS, axis_groups, convert_swap_axis, swaps

from harness import assert_converts_exactly, assert_rejected, layer_types, random_params, save_model
from test_cli import run_cli

NATIVE = mxnet2caffe.ConvertOptions(forms={"transpose": "native"})
STOCK_TYPES = {"Input", "Power", "Reshape", "Slice", "Concat"}


def negated_data() -> mx.sym.Symbol:
    return mx.sym.negative(mx.sym.Variable("data"), name="neg")


@pytest.mark.parametrize(
    "shape, permutation, sizes, order",
    [
        ((2, 3, 5, 7), (0, 2, 3, 1), [2, 3, 35], [0, 2, 1]),  # NCHW -> NHWC: H and W stay together
        ((2, 3, 4, 5, 7), (0, 2, 1, 3, 4), [2, 3, 4, 35], [0, 2, 1, 3]),  # ShuffleNet's channel shuffle
        ((2, 1, 5, 1), (0, 3, 2, 1), [10], [0]),  # only axes of size 1 move
        ((1, 3, 1, 5, 2), (4, 2, 0, 1, 3), [15, 2], [1, 0]),  # 3 and 5 stay neighbours around the 1s
        ((2, 3, 5, 7), (3, 2, 1, 0), [2, 3, 5, 7], [3, 2, 1, 0]),
        ((2, 3, 5, 7), (0, 1, 2, 3), [210], [0]),
    ],
)
def test_axis_groups(shape, permutation, sizes, order):
    assert axis_groups(shape, permutation) == (sizes, order)


@pytest.mark.parametrize(
    "sizes, order, expected",
    [
        ([2, 3, 35], [0, 2, 1], [(2, 3, 35, 1)]),
        ([2, 3, 4, 35], [0, 2, 1, 3], [(2, 3, 4, 35)]),
        ([15, 2], [1, 0], [(1, 15, 2, 1)]),
        ([2, 3, 5, 7], [3, 2, 1, 0], [(1, 30, 7, 1), (7, 6, 5, 1), (35, 2, 3, 1)]),
        ([2, 5], [0, 1], []),
    ],
)
def test_swaps(sizes, order, expected):
    assert swaps(sizes, order) == expected


# (input shape, axes, Slice layers of the stock form: one per swap)
PERMUTATIONS = [
    ((2, 3, 5, 7), (0, 2, 3, 1), 1),  # NCHW -> NHWC, the channels cut
    ((2, 5, 7, 3), (0, 3, 1, 2), 1),  # NHWC -> NCHW, the channels cut, put together along axis 1
    ((2, 3, 5, 7), (0, 1, 3, 2), 1),
    ((2, 3, 5, 7), (1, 0, 2, 3), 1),  # the batch axis moves
    ((2, 3, 5, 7), (3, 1, 2, 0), 2),  # the outer axes trade places: 1 and 2 stay together
    ((2, 3, 5, 7), (), 3),  # no axes: reversed
    ((2, 3, 4, 5, 7), (0, 2, 1, 3, 4), 1),  # ShuffleNet's channel shuffle, 3 groups
    ((1, 2, 9, 5, 5), (0, 2, 1, 3, 4), 1),  # ShuffleNet v2's, 2 groups, one image
    ((3, 4), (), 1),
    ((2, 3, 5), (2, 0, 1), 1),
    ((1, 3, 1, 5, 2), (4, 2, 0, 1, 3), 1),
    ((2, 3, 2, 3, 2, 3), (5, 3, 1, 4, 2, 0), 5),
]


def permutation_id(case) -> str:
    shape, axes, _ = case
    return "x".join(map(str, shape)) + "-by-" + ("".join(map(str, axes)) or "reversed")


each_permutation = pytest.mark.parametrize("case", PERMUTATIONS, ids=permutation_id)


@each_permutation
def test_transpose_in_stock_layers(tmp_path, case):
    shape, axes, slices = case
    sym = mx.sym.transpose(negated_data(), axes=axes, name="moved")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    types = layer_types(summary)
    assert set(types) <= STOCK_TYPES and types.count("Slice") == slices == types.count("Concat")


def native_order(summary) -> list:
    """The order the MXTranspose layer was given (reshape_param's dims)."""
    (layer,) = [layer for layer in read_prototxt(summary.prototxt).layer if layer.type == "MXTranspose"]
    return list(layer.reshape_param.shape.dim)


@each_permutation
def test_transpose_native(tmp_path, case):
    shape, axes, _ = case
    sym = mx.sym.transpose(negated_data(), axes=axes, name="moved")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, options=NATIVE)
    order = list(axes or reversed(range(len(shape))))
    if len(shape) == 3:  # on a 4-d view: OpenCV's Python layers cannot give 3-d blobs
        assert layer_types(summary) == ["Input", "Power", "Reshape", "MXTranspose", "Reshape"]
        assert native_order(summary) == order + [3]
    else:
        assert layer_types(summary) == ["Input", "Power", "MXTranspose"]
        assert native_order(summary) == order


@pytest.mark.parametrize("options", [None, NATIVE], ids=["stock", "native"])
@pytest.mark.parametrize(
    "shape, axes",
    [
        ((2, 1, 5, 1), (0, 3, 2, 1)),
        ((1, 3, 5, 7), (1, 0, 2, 3)),  # a batch of one moves behind the channels
        ((2, 3, 5, 7), (0, 1, 2, 3)),
        ((5, 1), ()),
        ((1, 1, 4), ()),
    ],
)
def test_moving_only_axes_of_size_1_is_a_reshape(tmp_path, shape, axes, options):
    sym = mx.sym.transpose(negated_data(), axes=axes, name="moved")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, options=options)
    assert layer_types(summary) == ["Input", "Power", "Reshape"]


@pytest.mark.parametrize("options", [None, NATIVE], ids=["stock", "native"])
@pytest.mark.parametrize(
    "shape, dim1, dim2",
    [
        ((2, 3, 5, 7), 1, 2),
        ((2, 3, 5, 7), 1, 3),
        ((2, 3, 5, 7), 3, 1),
        ((2, 3, 5, 7), -1, -2),
        ((2, 3, 5, 7), 0, -3),
        ((2, 3, 5, 7), 2, 2),
        ((2, 3, 5, 7), None, None),  # MXNet's defaults: 0 and 0
        ((2, 3, 4, 5, 7), 1, 2),  # the channel shuffle written with swapaxes
        ((3, 5, 7), 0, 2),
    ],
)
def test_swap_axis(tmp_path, shape, dim1, dim2, options):
    attrs = {key: value for key, value in (("dim1", dim1), ("dim2", dim2)) if value is not None}
    sym = mx.sym.SwapAxis(negated_data(), name="swapped", **attrs)
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path, options=options)
    if dim1 is None or dim1 % len(shape) == dim2 % len(shape):
        assert layer_types(summary) == ["Input", "Power", "Reshape"]


def test_swapaxes_is_the_same_converter():
    """MXNet writes SwapAxis into symbol files; swapaxes is its alias."""
    assert lookup("swapaxes") is lookup("SwapAxis") is convert_swap_axis


def channel_shuffle(x: mx.sym.Symbol, groups: int, name: str) -> mx.sym.Symbol:
    """ShuffleNet's channel shuffle as its MXNet implementations write it."""
    x = mx.sym.Reshape(x, shape=(0, -4, groups, -1, -2), name=f"{name}_split")
    x = mx.sym.transpose(x, axes=(0, 2, 1, 3, 4), name=f"{name}_swap")
    return mx.sym.Reshape(x, shape=(0, -3, -2), name=f"{name}_merge")


def shufflenet_unit(data: mx.sym.Symbol, channels: int, groups: int) -> mx.sym.Symbol:
    """A ShuffleNet v1 unit: grouped 1x1 convolution, shuffle, depthwise 3x3, grouped 1x1, residual."""
    x = mx.sym.Convolution(data, kernel=(1, 1), num_filter=channels, num_group=groups, name="reduce")
    x = mx.sym.Activation(mx.sym.BatchNorm(x, fix_gamma=False, name="reduce_bn"), act_type="relu")
    x = channel_shuffle(x, groups, "shuffle")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=channels, num_group=channels, name="dw")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="dw_bn")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=channels, num_group=groups, name="expand")
    return mx.sym.Activation(x + data, act_type="relu", name="out")


@pytest.mark.parametrize("options", [None, NATIVE], ids=["stock", "native"])
@pytest.mark.parametrize("shape, groups", [((2, 12, 9, 7), 3), ((1, 16, 8, 8), 2), ((2, 24, 5, 5), 8)])
def test_shufflenet_unit(tmp_path, shape, groups, options):
    summary = assert_converts_exactly(shufflenet_unit(mx.sym.Variable("data"), shape[1], groups), {"data": shape},
                                      tmp_path, options=options)
    assert ("MXTranspose" in layer_types(summary)) == (options is NATIVE)


@pytest.mark.parametrize("options", [None, NATIVE], ids=["stock", "native"])
def test_detection_heads_to_last_axis(tmp_path, options):
    """SSD and RetinaFace heads: (N, A*K, H, W) -> NHWC -> (N, H*W*A, K) with a softmax on K, and
    a second head on the same features; three outputs."""
    data = mx.sym.Variable("data")
    features = mx.sym.Activation(mx.sym.Convolution(data, kernel=(3, 3), num_filter=8, name="body"), act_type="relu")
    scores = mx.sym.Convolution(features, kernel=(3, 3), pad=(1, 1), num_filter=3 * 4, name="cls")
    scores = mx.sym.transpose(scores, axes=(0, 2, 3, 1), name="cls_nhwc")
    scores = mx.sym.softmax(mx.sym.Reshape(scores, shape=(0, -1, 4), name="cls_flat"), axis=-1, name="cls_prob")
    boxes = mx.sym.Convolution(features, kernel=(3, 3), pad=(1, 1), num_filter=3 * 4, name="box")
    boxes = mx.sym.SwapAxis(mx.sym.Reshape(boxes, shape=(0, 12, -1), name="box_flat"), dim1=1, dim2=2, name="box_t")
    sym = mx.sym.Group([scores, boxes, features])
    summary = assert_converts_exactly(sym, {"data": (2, 3, 11, 9)}, tmp_path, options=options)
    assert len(summary.outputs) == 3


def test_transpose_of_many_parts_is_refused_by_default(tmp_path):
    sym = mx.sym.transpose(negated_data(), axes=(0, 2, 3, 1), name="moved")
    match = (
        r"node 'moved' \(op transpose\): transpose by \(0, 2, 3, 1\) of \(1, 600, 30, 30\) to \(1, 30, 30, 600\): "
        rf"its stock form cuts 600 parts in one Slice, more than {MAX_PARTS}; "
        r"convert with --transpose native for the MXTranspose layer"
    )
    assert_rejected(sym, {"data": (1, 600, 30, 30)}, tmp_path, match)


def test_transpose_of_many_parts_converts_natively(tmp_path):
    sym = mx.sym.transpose(negated_data(), axes=(0, 2, 3, 1), name="moved")
    summary = assert_converts_exactly(sym, {"data": (1, 600, 30, 30)}, tmp_path, options=NATIVE)
    assert layer_types(summary) == ["Input", "Power", "MXTranspose"]


def test_the_most_parts_convert_in_stock_layers(tmp_path):
    """MAX_PARTS parts in one Slice and one Concat run in both runtimes."""
    sym = mx.sym.transpose(negated_data(), axes=(0, 2, 3, 1), name="moved")
    summary = assert_converts_exactly(sym, {"data": (1, MAX_PARTS, 23, 23)}, tmp_path)
    (cut,) = [layer for layer in read_prototxt(summary.prototxt).layer if layer.type == "Slice"]
    assert len(cut.top) == MAX_PARTS


@pytest.mark.parametrize(
    "axes, match",
    [
        ((0, 0, 1), r"attribute 'axes' \(0, 0, 1\) is not an order of the axes 0..2 of the 3-d input, each once"),
        ((0, 1), r"attribute 'axes' \(0, 1\) is not an order of the axes 0..2"),
        ((0, 1, 2, 3), r"attribute 'axes' \(0, 1, 2, 3\) is not an order of the axes 0..2"),
        ((-1, 0, 1), r"attribute 'axes' \(-1, 0, 1\) is not an order"),  # MXNet refuses negative axes too
    ],
)
def test_transpose_rejects_orders_that_are_not_permutations(tmp_path, axes, match):
    sym = mx.sym.transpose(negated_data(), axes=axes, name="moved")
    assert_rejected(sym, {"data": (2, 3, 5)}, tmp_path, r"node 'moved' \(op transpose\): " + match)


@pytest.mark.parametrize(
    "dim1, dim2, match",
    [
        (3, 0, r"attribute 'dim1' 3 is out of range for a 3-d input"),
        (0, -4, r"attribute 'dim2' -4 is out of range for a 3-d input"),
    ],
)
def test_swap_axis_rejects_axes_out_of_range(tmp_path, dim1, dim2, match):
    sym = mx.sym.SwapAxis(negated_data(), dim1=dim1, dim2=dim2, name="swapped")
    assert_rejected(sym, {"data": (2, 3, 5)}, tmp_path, r"node 'swapped' \(op SwapAxis\): " + match)


@pytest.mark.parametrize("backend", ["caffe", "opencv"])
def test_cli_switch_and_its_hint(tmp_path, backend):
    """Default mode refuses a transpose past MAX_PARTS and names the switch; the switch converts
    it to MXTranspose, and `--verify` loads the native layer into the runtime by itself."""
    sym = mx.sym.transpose(mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=600, name="conv"),
                           axes=(0, 2, 3, 1), name="moved")
    args, aux = random_params(sym, {"data": (1, 3, 25, 25)})
    symbol, params = save_model(sym, args, aux, tmp_path)
    command = ["convert", symbol, params, "--input-shape", "1,3,25,25", "--output", tmp_path / "out"]
    refused = run_cli(*command)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "node 'moved' (op transpose)" in refused.stderr
    assert "convert with --transpose native for the MXTranspose layer" in refused.stderr
    result = run_cli(*command, "--transpose", "native", "--verify", "--backend", backend)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"in {backend}" in result.stdout and "OK:" in result.stdout
    assert (tmp_path / "out.prototxt").read_text().count('type: "MXTranspose"') == 1


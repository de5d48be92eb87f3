"""The emitter per Caffe layer type: hand-built nets, real Caffe against onnxruntime (<= 1e-4
relative), plus the graph's structure (names, outputs, initializers) and its errors."""

import numpy as np
import pytest

from mxnet2caffe.caffe.forms import crop, size_reference
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.errors import ConversionError
from mxnet2caffe.onnx import net_to_onnx
from mxnet2caffe.onnx.layers import EMITTERS

RNG = np.random.default_rng(7)


def weights(*shape):
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def one(type_, params=None, blobs=(), bottoms=("data",), name="out"):
    return Layer(name, type_, tuple(bottoms), (name,), params or {}, tuple(blobs))


# (kernel, stride, pad, H): Caffe rounds up; rows where that differs from rounding down, and
# where the last window passes the padded end (AVE divides by less than the kernel there)
POOLING = [
    (3, 2, 0, 8),  # ceil 4, floor 3
    (3, 2, 1, 6),  # ceil 4 ... clipped to 3 by Caffe's rule
    (2, 2, 1, 5),
    (3, 3, 1, 9),
    (2, 3, 0, 10),  # stride beyond the kernel
    (3, 2, 1, 8),  # ceil 5 vs floor 4: the last window ends past H + pad
]


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
@pytest.mark.parametrize("kernel, stride, pad, size", POOLING)
def test_pooling(caffe_exactly, pool, kernel, stride, pad, size):
    """Caffe's own rounding; `ceil_mode: false` (the opencv profile) is checked against MXNet in test_models."""
    params = {"pool": pool, "kernel_h": kernel, "kernel_w": kernel, "stride_h": stride, "stride_w": stride, "pad_h": pad, "pad_w": pad}
    caffe_exactly((1, 2, size, size + 1), [one("Pooling", {"pooling_param": params})])


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
def test_global_pooling(caffe_exactly, pool):
    caffe_exactly((2, 3, 5, 7), [one("Pooling", {"pooling_param": {"pool": pool, "global_pooling": True}})])


CONVOLUTIONS = [
    {"kernel_h": 3, "kernel_w": 3, "pad_h": 1, "pad_w": 1},
    {"kernel_h": 3, "kernel_w": 2, "stride_h": 2, "stride_w": 1, "pad_h": 0, "pad_w": 1, "group": 2},
    {"kernel_h": 3, "kernel_w": 3, "dilation": [2], "pad_h": 2, "pad_w": 2},
    {"kernel_h": 1, "kernel_w": 1, "bias_term": False, "group": 4},
]


@pytest.mark.parametrize("params", CONVOLUTIONS)
def test_convolution(caffe_exactly, params):
    group = params.get("group", 1)
    blobs = [weights(8, 4 // group, params["kernel_h"], params["kernel_w"])] + ([weights(8)] if params.get("bias_term", True) else [])
    caffe_exactly((1, 4, 9, 8), [one("Convolution", {"convolution_param": {"num_output": 8, **params}}, blobs)])


@pytest.mark.parametrize("group", [1, 2])
def test_deconvolution(caffe_exactly, group):
    params = {"num_output": 6, "kernel_h": 4, "kernel_w": 3, "stride_h": 2, "stride_w": 2, "pad_h": 1, "pad_w": 0, "group": group}
    blobs = [weights(4, 6 // group, 4, 3), weights(6)]
    caffe_exactly((1, 4, 5, 6), [one("Deconvolution", {"convolution_param": params}, blobs)])


@pytest.mark.parametrize("axis, shape", [(1, (2, 3, 4, 5)), (2, (2, 3, 4, 5)), (1, (3, 7))])
def test_inner_product(caffe_exactly, axis, shape):
    features = int(np.prod(shape[axis:]))
    params = {"inner_product_param": {"num_output": 6, "axis": axis}}
    caffe_exactly(shape, [one("InnerProduct", params, [weights(6, features), weights(6)])])


def test_batch_norm_divides_by_the_scale_factor(caffe_exactly):
    mean, var = weights(3), RNG.uniform(0.5, 2, 3).astype(np.float32)
    layers = [
        one("BatchNorm", {"batch_norm_param": {"use_global_stats": True, "eps": 1e-3}}, [mean, var, np.float32([4.0])], name="bn"),
        one("Scale", {"scale_param": {"bias_term": True}}, [weights(3), weights(3)], ("bn",)),
    ]
    caffe_exactly((2, 3, 4, 5), layers)


# (scale_param, weight shapes) on a (2, 3, 4, 5) bottom: the weights broadcast on their own axes
SCALES = [
    ({"axis": 1}, (3,)),
    ({"axis": 1, "num_axes": 2}, (3, 4)),
    ({"axis": 2, "num_axes": -1}, (4, 5)),
    ({"axis": -1}, (5,)),
    ({"axis": 0, "num_axes": 2, "bias_term": True}, (2, 3)),
    ({"axis": 1, "num_axes": 0}, ()),
]


@pytest.mark.parametrize("param, shape", SCALES)
def test_scale_one_bottom(caffe_exactly, param, shape):
    blobs = [weights(*shape)] + ([weights(*shape)] if param.get("bias_term") else [])
    caffe_exactly((2, 3, 4, 5), [one("Scale", {"scale_param": param}, blobs)])


@pytest.mark.parametrize("axis, factor_shape", [(0, (2, 3)), (1, (6, 4)), (2, (4, 5))])
def test_scale_two_bottoms(caffe_exactly, axis, factor_shape):
    count = int(np.prod(factor_shape))
    layers = [
        one("Pooling", {"pooling_param": {"pool": "AVE", "global_pooling": True}}, name="pooled"),
        one("Reshape", {"reshape_param": {"shape": {"dim": [1, -1]}}}, bottoms=("pooled",), name="flat"),
        one("InnerProduct", {"inner_product_param": {"num_output": count}}, [weights(count, 6), weights(count)], ("flat",), name="fc"),
        one("Reshape", {"reshape_param": {"shape": {"dim": list(factor_shape)}}}, bottoms=("fc",), name="factor"),
        one("Scale", {"scale_param": {"axis": axis}}, bottoms=("data", "factor")),
    ]
    caffe_exactly((1, 6, 4, 5) if axis else (2, 3, 4, 5), layers if axis else _batch_factor(layers))


def _batch_factor(layers):
    """For axis 0 the factor's leading axis is the batch: a Reshape keeping it."""
    pooled, _, _, _, scale = layers
    return [
        pooled,
        one("Reshape", {"reshape_param": {"shape": {"dim": [2, 3]}}}, bottoms=("pooled",), name="factor"),
        scale,
    ]


@pytest.mark.parametrize("param", [{}, {"coeff": [0.5, -2.0, 1.0]}, {"operation": "PROD"}, {"operation": "MAX"}])
def test_eltwise(caffe_exactly, param):
    layers = [
        one("TanH", name="a"),
        one("Sigmoid", name="b"),
        one("Eltwise", {"eltwise_param": param}, bottoms=("data", "a", "b")),
    ]
    caffe_exactly((2, 3, 4, 5), layers)


@pytest.mark.parametrize(
    "type_, params",
    [
        ("ReLU", {}),
        ("ReLU", {"relu_param": {"negative_slope": 0.1}}),
        ("ELU", {"elu_param": {"alpha": 0.7}}),
        ("Sigmoid", {}),
        ("TanH", {}),
        ("BNLL", {}),
        ("AbsVal", {}),
        ("Exp", {}),
        ("Exp", {"exp_param": {"base": 2.0, "scale": 0.5, "shift": 0.25}}),
        ("Power", {"power_param": {"power": 2.0, "scale": 0.5, "shift": -1.0}}),
        ("Power", {"power_param": {"scale": 0.0, "shift": 3.0}}),
        ("Power", {}),
        ("Softmax", {}),
        ("Softmax", {"softmax_param": {"axis": -1}}),
        ("Flatten", {}),
        ("Flatten", {"flatten_param": {"axis": 2}}),
        ("Reshape", {"reshape_param": {"shape": {"dim": [0, -1, 2]}}}),
        ("Reshape", {"reshape_param": {"shape": {"dim": [0]}, "num_axes": 1}}),
        ("LRN", {"lrn_param": {"local_size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}}),
        ("MVN", {"mvn_param": {"normalize_variance": False, "across_channels": False}}),
        ("MVN", {"mvn_param": {"across_channels": True}}),
    ],
)
def test_one_bottom_layers(caffe_exactly, type_, params):
    caffe_exactly((2, 3, 4, 5), [one(type_, params)])


@pytest.mark.parametrize("param", [{}, {"base": 10.0, "scale": 2.0, "shift": 0.5}])
def test_log(caffe_exactly, param):
    """Log of a positive blob (the absolute value plus one)."""
    layers = [
        one("AbsVal", name="abs"),
        one("Power", {"power_param": {"shift": 1.0}}, bottoms=("abs",), name="positive"),
        one("Log", {"log_param": param}, bottoms=("positive",)),
    ]
    caffe_exactly((2, 3, 4, 5), layers)


@pytest.mark.parametrize("channel_shared", [False, True])
def test_prelu_slopes_broadcast_on_channels(caffe_exactly, channel_shared):
    """(C,) slopes broadcast on axis 1, not on the last axis (here of the same size 3)."""
    slopes = weights() if channel_shared else weights(3)  # Caffe keeps a shared slope as a 0-d blob
    caffe_exactly((2, 3, 4, 3), [one("PReLU", {"prelu_param": {"channel_shared": channel_shared}}, [slopes])])


def test_concat_slice_split(caffe_exactly):
    layers = [
        Layer("p0", "Slice", ("data",), ("p0", "p1", "p2"), {"slice_param": {"axis": 1, "slice_point": [2, 4]}}),
        Layer("q0", "Slice", ("p1",), ("q0", "q1"), {"slice_param": {"axis": 3}}),
        Layer("c0", "Split", ("p2",), ("c0", "c1")),
        one("Concat", {"concat_param": {"axis": 3}}, bottoms=("q1", "q0")),
        Layer("sum", "Eltwise", ("c0", "c1", "p0"), ("sum",), {}),
    ]
    caffe_exactly((2, 6, 3, 4), layers)


def test_crop_with_offsets(caffe_exactly):
    layers = [
        size_reference("reference", "data", (2, 3)),
        crop("out", "data", "reference", axis=2, offsets=(1, 2)),
    ]
    caffe_exactly((2, 3, 7, 8), layers)


def _tiny_net(layers, outputs):
    return Net("tiny", inputs=[Tensor("data", (1, 3, 4, 4))], layers=layers, outputs=[Tensor(o, (1, 3, 4, 4)) for o in outputs])


def test_an_unmapped_layer_type_is_named():
    net = _tiny_net([one("SPP", {})], ["out"])
    with pytest.raises(ConversionError, match=r"layer 'out' \(type SPP\): no ONNX form"):
        net_to_onnx(net)


def test_helper_names_never_collide_with_blobs():
    """A blob named like the emitter's weight names keeps its name; the weight gets another."""
    layers = [
        one("PReLU", {}, [weights(3)], name="a"),
        one("ReLU", bottoms=("a",), name="a/slope"),
    ]
    model = net_to_onnx(_tiny_net(layers, ["a/slope"]))
    initializers = {tensor.name for tensor in model.graph.initializer}
    values = {out for node in model.graph.node for out in node.output}
    assert "a/slope" in values and not initializers & values


def test_outputs_in_the_nets_order_and_weights_only_as_initializers():
    layers = [one("ReLU", name="z"), one("Sigmoid", name="a"), one("PReLU", {}, [weights(3)], name="m")]
    model = net_to_onnx(_tiny_net(layers, ["z", "m", "a"]))
    assert [value.name for value in model.graph.output] == ["z", "m", "a"]
    assert [value.name for value in model.graph.input] == ["data"]


@pytest.mark.parametrize("opset", [12, 18])
def test_opsets_outside_tensorrts_range_are_refused(opset):
    with pytest.raises(ConversionError, match="opset"):
        net_to_onnx(_tiny_net([one("ReLU")], ["out"]), opset=opset)


def test_every_emitter_is_registered_for_the_types_the_converters_emit():
    """The Caffe layer types of the converters (and our native ones) all have an emitter."""
    from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES

    emitted = {"AbsVal", "BatchNorm", "BNLL", "Concat", "Convolution", "Crop", "Deconvolution", "Eltwise", "ELU", "Exp",
               "Flatten", "InnerProduct", "Log", "LRN", "MVN", "Pooling", "Power", "PReLU", "ReLU", "Reshape", "Scale",
               "Sigmoid", "Slice", "Softmax", "TanH"}
    assert emitted | NATIVE_LAYER_TYPES <= set(EMITTERS)

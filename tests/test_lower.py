"""Lowering (lower.py) claims unique, valid names: repeated node names, nodes named like our
helper layers or like the input, characters blob names do not take. Renames are deterministic
(fc7, fc7_2), the NameMap says where every MXNet output went, and an output that a layer also
reads gets a copy no layer reads (Caffe and OpenCV take those as outputs).

Structure is checked on the Net IR; numbers against real MXNet in real Caffe and OpenCV
(harness.assert_converts_exactly, relative max error <= harness.TOLERANCE = 1e-4).
"""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe import ConvertOptions, UnsupportedOpsError
from mxnet2caffe.caffe.net import Net
from mxnet2caffe.naming import valid_name
from mxnet2caffe.pipeline import build_net, run_graph_passes

from harness import assert_converts_exactly, random_params
from symbols import graph_of, rename_nodes, renamed_model

SHAPE = (1, 3, 8, 8)


def weights_of(sym: mx.sym.Symbol, shapes: Mapping[str, Sequence[int]]) -> Dict[str, np.ndarray]:
    args, aux = random_params(sym, shapes)
    return {name: value.asnumpy() for name, value in {**args, **aux}.items()}


def lowered(sym: mx.sym.Symbol, options: ConvertOptions = ConvertOptions(), shapes: Optional[Dict[str, Tuple[int, ...]]] = None) -> Net:
    """The Net of `sym` with random weights, every pass applied (no files, no runtime)."""
    shapes = shapes or {"data": SHAPE}
    return build_net(run_graph_passes(graph_of(sym), options), weights_of(sym, shapes), shapes, options, "test")


def assert_names_are_unique_and_valid(net: Net) -> None:
    layer_names = [layer.name for layer in net.layers]
    tops = [top for layer in net.layers for top in layer.tops] + [tensor.blob for tensor in net.inputs]
    assert len(set(layer_names)) == len(layer_names), layer_names
    assert len(set(tops)) == len(tops), tops  # no blob written twice: nothing in place
    assert all(layer.name == layer.tops[0] for layer in net.layers)
    assert all(valid_name(name) == name for name in layer_names + tops)
    assert set(net.names.as_dict().values()) <= set(tops)


def layer(net: Net, name: str):
    (found,) = [layer for layer in net.layers if layer.name == name]
    return found


def test_renamed_model_gets_unique_names_and_a_full_name_map():
    net = lowered(renamed_model())
    assert_names_are_unique_and_valid(net)
    assert net.names.as_dict() == {
        "data": "data",  # the input: verify feeds MXNet's 'data' what Caffe's 'data' gets
        "data_output": "data_2",
        "bn0_output": "bn0",
        "bn0/normalized_output": "bn0/normalized_2",
        "conv_output": "conv",
        "conv_output#2": "conv_2",
        "s_se_mul/reshape_output": "s_se_mul/reshape",
        "se_pool_output": "se_pool",
        "se_gate_output": "se_gate",
        "s_se_mul_output": "s_se_mul",
        "tanh (odd)_output": "tanh__odd_",
        "pool_output": "pool",
        "fc7_output": "fc7",
        "fc7_output#2": "fc7_2",
    }
    assert [tensor.blob for tensor in net.inputs] == ["data"]
    assert [tensor.blob for tensor in net.outputs] == ["fc7_2"]
    assert net.notes == [
        "renamed 6 repeated or invalid name(s): 'data' -> 'data_2', 'bn0/normalized' -> 'bn0/normalized_2', "
        "'conv' -> 'conv_2', 's_se_mul/reshape' -> 's_se_mul/reshape_2', 'tanh (odd)' -> 'tanh__odd_', 'fc7' -> 'fc7_2'"
    ]


def test_each_renamed_layer_reads_the_blob_it_should():
    net = lowered(renamed_model())
    assert layer(net, "data_2").bottoms == ("data",)  # the op named data reads the input
    assert layer(net, "bn0/normalized").bottoms == ("data_2",)  # BatchNorm's own helper
    assert layer(net, "bn0").bottoms == ("bn0/normalized",)
    assert layer(net, "bn0/normalized_2").bottoms == ("bn0",)  # the ReLU named bn0/normalized
    assert layer(net, "conv").bottoms == ("bn0/normalized_2",)
    assert layer(net, "conv_2").bottoms == ("conv",)
    assert (layer(net, "fc7").type, layer(net, "fc7").bottoms) == ("Convolution", ("pool",))
    assert (layer(net, "fc7_2").type, layer(net, "fc7_2").bottoms) == ("Flatten", ("fc7",))


def test_a_helper_named_like_an_input_of_its_own_node_is_not_mistaken_for_it():
    """broadcast_mul s_se_mul reshapes its gate into the helper s_se_mul/reshape; its other
    operand is the Convolution named s_se_mul/reshape. The Scale multiplies that operand by
    the reshaped gate, not the gate by itself."""
    net = lowered(renamed_model())
    assert layer(net, "s_se_mul/reshape").type == "Convolution"
    assert (layer(net, "s_se_mul/reshape_2").type, layer(net, "s_se_mul/reshape_2").bottoms) == ("Reshape", ("se_gate",))
    assert layer(net, "s_se_mul").bottoms == ("s_se_mul/reshape", "s_se_mul/reshape_2")


def test_an_input_named_like_a_helper_read_after_it():
    """clip c computes max(x, 0.5) from a constant blob c/lower_bound and x; here x is the
    blob of a node named c/lower_bound."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=4, name="conv")
    x = mx.sym.Activation(x, act_type="tanh", name="bound")
    sym = rename_nodes(mx.sym.clip(x, a_min=0.5, a_max=4.0, name="c"), {"bound": "c/lower_bound"})
    net = lowered(sym)
    assert_names_are_unique_and_valid(net)
    assert layer(net, "c/lower_bound_2").bottoms == ("c/lower_bound",)  # the constant, shaped like x
    assert layer(net, "c/lower").bottoms == ("c/lower_bound", "c/lower_bound_2")


def test_a_node_named_like_a_later_nodes_helper():
    """The Activation named bn1/normalized comes first and keeps its name; BatchNorm bn1's
    helper moves aside."""
    x = mx.sym.Activation(mx.sym.Variable("data"), act_type="tanh", name="act")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn1")
    net = lowered(rename_nodes(x, {"act": "bn1/normalized"}))
    assert_names_are_unique_and_valid(net)
    assert [(step.name, step.type, step.bottoms) for step in net.layers] == [
        ("bn1/normalized", "TanH", ("data",)),
        ("bn1/normalized_2", "BatchNorm", ("bn1/normalized",)),
        ("bn1", "Scale", ("bn1/normalized_2",)),
    ]


def test_invalid_characters_and_the_names_they_collide_with():
    a = mx.sym.Activation(mx.sym.Variable("data"), act_type="relu", name="a_b")
    b = mx.sym.Activation(a, act_type="tanh", name="second")
    c = mx.sym.Activation(b, act_type="sigmoid", name="third")
    net = lowered(rename_nodes(c, {"second": "a b", "third": 'a"b'}))
    assert [layer.name for layer in net.layers] == ["a_b", "a_b_2", "a_b_3"]
    assert net.names.as_dict() == {"data": "data", "a_b_output": "a_b", "a b_output": "a_b_2", 'a"b_output': "a_b_3"}


def test_names_are_deterministic(tmp_path):
    weights = weights_of(renamed_model(), {"data": SHAPE})
    first = mxnet2caffe.convert(graph_of(renamed_model()), weights, {"data": SHAPE}, tmp_path / "first")
    second = mxnet2caffe.convert(graph_of(renamed_model()), weights, {"data": SHAPE}, tmp_path / "second")
    assert first.prototxt.read_text().replace("first", "x") == second.prototxt.read_text().replace("second", "x")


def test_an_output_that_a_layer_reads_gets_a_terminal_copy():
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    relu = mx.sym.Activation(x, act_type="relu", name="relu0")
    fc = mx.sym.FullyConnected(relu, num_hidden=3, name="fc")
    net = lowered(fc, ConvertOptions(outputs=("fc", "relu0")))
    assert [tensor.blob for tensor in net.outputs] == ["fc", "relu0/output"]
    copy = net.layers[-1]
    assert (copy.name, copy.type, copy.bottoms, copy.tops, copy.params) == ("relu0/output", "Power", ("relu0",), ("relu0/output",), {})
    # relu0's values, in the blob that is an output: verify compares it and marks it an output
    assert net.names.blob("relu0_output") == "relu0/output"
    read = {bottom for layer in net.layers for bottom in layer.bottoms}
    assert not read & {tensor.blob for tensor in net.outputs}


def test_the_terminal_copy_claims_a_fresh_name():
    x = mx.sym.Activation(mx.sym.Variable("data"), act_type="relu", name="relu0")
    y = mx.sym.Activation(x, act_type="tanh", name="taken")
    net = lowered(rename_nodes(y, {"taken": "relu0/output"}), ConvertOptions(outputs=("relu0", "relu0/output")))
    assert_names_are_unique_and_valid(net)
    assert [tensor.blob for tensor in net.outputs] == ["relu0/output_2", "relu0/output"]


def test_unsupported_ops_are_listed_with_where_to_cut():
    """Decoding after two heads (one of them a repeated name): every unsupported op is named,
    and the hint lists the last supported outputs, which --outputs takes as they are."""
    data = mx.sym.Variable("data")
    head_a = mx.sym.Convolution(data, kernel=(1, 1), num_filter=4, name="head_a")
    head_b = mx.sym.Convolution(data, kernel=(1, 1), num_filter=4, name="head_b")
    flat_b = mx.sym.Flatten(head_b, name="flat_b")
    # arccos and arcsin stand for decoding ops no Caffe layer computes
    decoded = mx.sym.concat(mx.sym.arccos(mx.sym.Flatten(mx.sym.arcsin(head_a))), flat_b, name="boxes")
    sym = rename_nodes(mx.sym.Group([decoded, head_b]), {"flat_b": "head_b"})
    params = weights_of(sym, {"data": SHAPE})
    with pytest.raises(UnsupportedOpsError) as error:
        mxnet2caffe.convert(graph_of(sym), params, {"data": SHAPE})
    message = str(error.value)
    assert message.startswith("2 node(s) use unsupported ops:\n")
    assert "  arccos x1: " in message and "  arcsin x1: " in message
    assert message.endswith("name the last supported outputs: --outputs head_a,head_b#2,head_b#1")
    hint = message.rsplit("--outputs ", 1)[1]
    cut = mxnet2caffe.convert(graph_of(sym), params, {"data": SHAPE}, options=ConvertOptions(outputs=tuple(hint.split(","))))
    assert list(cut.outputs) == ["head_a", "head_b_2", "head_b/output"]  # head_b#1 is read by head_b#2


# --- numbers in real MXNet, Caffe and OpenCV ---


def test_renamed_model_converts_exactly(tmp_path):
    summary = assert_converts_exactly(renamed_model(), {"data": (2, 3, 9, 9)}, tmp_path)
    assert summary.outputs == {"fc7_2": (2, 5)}


def mobilenet_v2_like() -> mx.sym.Symbol:
    """The tail of public MobileNetV2 files: ... global pooling, a 1x1 Convolution named fc7 and
    a Flatten also named fc7, after inverted residual blocks with BatchNorm and ReLU6."""

    def conv_bn(x, name, channels, kernel=1, stride=1, group=1, relu6=True):
        pad = (kernel // 2, kernel // 2)
        x = mx.sym.Convolution(x, kernel=(kernel, kernel), stride=(stride, stride), pad=pad, num_filter=channels, num_group=group, no_bias=True, name=f"{name}_conv")
        x = mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name=f"{name}_bn")
        return mx.sym.clip(x, a_min=0.0, a_max=6.0, name=f"{name}_relu6") if relu6 else x

    x = conv_bn(mx.sym.Variable("data"), "first", 8, kernel=3, stride=2)
    for index, stride in enumerate((1, 2)):
        block = f"block{index}"
        y = conv_bn(x, f"{block}_expand", 24)
        y = conv_bn(y, f"{block}_dw", 24, kernel=3, stride=stride, group=24)
        y = conv_bn(y, f"{block}_project", 8, relu6=False)
        x = x + y if stride == 1 else y
    x = conv_bn(x, "last", 32)
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=10, name="fc7_conv")
    x = mx.sym.Flatten(x, name="fc7_flatten")
    return rename_nodes(x, {"fc7_conv": "fc7", "fc7_flatten": "fc7"})


def test_mobilenet_v2_with_two_nodes_named_fc7(tmp_path):
    """Caffe aborts on an in-place Flatten and OpenCV computes garbage when both fc7 share a
    blob: here they load, and both runtimes match MXNet."""
    summary = assert_converts_exactly(mobilenet_v2_like(), {"data": (2, 3, 32, 32)}, tmp_path)
    assert summary.outputs == {"fc7_2": (2, 10)}
    assert (summary.names["fc7_output"], summary.names["fc7_output#2"]) == ("fc7", "fc7_2")
    assert "renamed 1 repeated or invalid name(s): 'fc7' -> 'fc7_2'" in summary.notes


def test_helper_named_input_of_clip_converts_exactly(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=4, name="conv")
    sym = rename_nodes(mx.sym.clip(mx.sym.tanh(x, name="bound") * 3, a_min=-0.5, a_max=2.0, name="c"), {"bound": "c/lower_bound"})
    assert_converts_exactly(sym, {"data": (2, 3, 5, 5)}, tmp_path)


def test_intermediate_and_later_output(tmp_path):
    """--outputs an intermediate (read by later layers) and a later output, in that order: the
    intermediate gets a terminal copy, so OpenCV's getUnconnectedOutLayersNames() lists exactly
    the two outputs (the harness checks), and both match MXNet."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn")
    relu = mx.sym.Activation(x, act_type="relu", name="relu0")
    fc = mx.sym.FullyConnected(relu, num_hidden=3, name="fc")
    prob = mx.sym.softmax(fc, name="prob")
    summary = assert_converts_exactly(
        prob,
        {"data": (2, 3, 6, 6)},
        tmp_path,
        options=ConvertOptions(outputs=("relu0", "fc_output")),
        reference=mx.sym.Group([relu, fc]),
    )
    assert summary.outputs == {"relu0/output": (2, 4, 4, 4), "fc": (2, 3)}
    assert summary.notes[0] == "cut at --outputs relu0, fc_output: 1 op node(s) after them dropped"


def test_variables_of_one_name_are_one_input(tmp_path):
    """MXNet binds variables by name: two Variable('lhs') objects are one input, not lhs and lhs_2."""
    first, second = mx.sym.Variable("lhs"), mx.sym.Variable("lhs")
    sym = mx.sym.elemwise_add(mx.sym.relu(first, name="a"), mx.sym.tanh(second, name="b"), name="sum")
    summary = assert_converts_exactly(sym, {"lhs": SHAPE}, tmp_path)
    assert list(summary.inputs) == ["lhs"]

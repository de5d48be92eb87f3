"""The --outputs graph pass (passes/select_outputs.py) on small Graph IRs: which outputs become
heads and in which order, what is pruned, the note, and the errors for names that do not fit."""

import mxnet as mx
import pytest

from mxnet2caffe import ConversionError, ConvertOptions
from mxnet2caffe.mxnet.graph import Graph, TensorRef
from mxnet2caffe.passes import select_outputs

from symbols import graph_of, rename_nodes


def branching_graph() -> Graph:
    """data -> conv0 -> relu0 -> split (2 outputs) -> fc_a, fc_b (heads); plus a Convolution and
    a Flatten both named fc7 on a side branch, and a Convolution named data like the input."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    split = mx.sym.SliceChannel(x, num_outputs=2, name="split")
    fc_a = mx.sym.FullyConnected(split[0], num_hidden=3, name="fc_a")
    fc_b = mx.sym.FullyConnected(split[1], num_hidden=3, name="fc_b")
    side = mx.sym.Convolution(x, kernel=(1, 1), num_filter=2, name="fc7_conv")
    side = mx.sym.Flatten(side, name="fc7_flatten")
    shadow = mx.sym.Convolution(data, kernel=(1, 1), num_filter=2, name="data_conv")
    sym = mx.sym.Group([fc_a, fc_b, side, shadow])
    return graph_of(rename_nodes(sym, {"fc7_conv": "fc7", "fc7_flatten": "fc7", "data_conv": "data"}))


def op_node(graph: Graph, name: str, nth: int = 1):
    (node,) = [node for node in graph.nodes if node.name == name and not node.is_variable and node.occurrence == nth - 1]
    return node


def head_names(graph: Graph):
    return [(graph.node(ref).name, graph.node(ref).op, ref.index) for ref in graph.heads]


def cut(graph: Graph, *outputs: str) -> Graph:
    return select_outputs.run(graph, ConvertOptions(outputs=outputs))


def test_without_outputs_the_graph_is_untouched():
    graph = branching_graph()
    heads, node_ids = list(graph.heads), [node.id for node in graph.nodes]
    assert select_outputs.run(graph, ConvertOptions()) is graph
    assert graph.heads == heads and [node.id for node in graph.nodes] == node_ids
    assert graph.notes == []


def test_named_nodes_become_the_heads_in_the_given_order_and_the_rest_is_pruned():
    graph = cut(branching_graph(), "fc_b", "relu0")
    assert head_names(graph) == [("fc_b", "FullyConnected", 0), ("relu0", "Activation", 0)]
    kept = {node.name for node in graph.nodes}
    assert kept == {"data", "conv0_weight", "conv0_bias", "conv0", "relu0", "split", "fc_b_weight", "fc_b_bias", "fc_b"}
    # fc_a, both fc7 and the Convolution named data are cut away, with their weights
    assert graph.notes == ["cut at --outputs fc_b, relu0: 4 op node(s) after them dropped"]


def test_mxnet_output_names_pick_outputs_of_multi_output_nodes():
    graph = cut(branching_graph(), "split_output1", "relu0_output", "split_output0")
    split = op_node(graph, "split")
    assert graph.heads == [TensorRef(split.id, 1), TensorRef(op_node(graph, "relu0").id, 0), TensorRef(split.id, 0)]


def test_an_output_named_twice_is_one_head():
    graph = cut(branching_graph(), "fc_a", "fc_a_output", "fc_a")
    assert head_names(graph) == [("fc_a", "FullyConnected", 0)]


def test_a_node_whose_name_ends_in_output_is_found_by_that_name():
    data = mx.sym.Variable("data")
    x = mx.sym.Activation(data, act_type="relu", name="relu")
    x = mx.sym.Activation(x, act_type="tanh", name="relu_output")
    graph = cut(graph_of(mx.sym.Group([x])), "relu_output")
    assert head_names(graph) == [("relu_output", "Activation", 0)]


def test_a_repeated_name_is_ambiguous_and_says_how_to_choose():
    with pytest.raises(ConversionError, match=r"2 nodes are named 'fc7' \(Convolution, Flatten\); say which with 'fc7#1' \.\.\. 'fc7#2'"):
        cut(branching_graph(), "fc7")
    with pytest.raises(ConversionError, match="2 nodes are named 'fc7'"):
        cut(branching_graph(), "fc7_output")


@pytest.mark.parametrize("text, op", [("fc7#1", "Convolution"), ("fc7#2", "Flatten"), ("fc7_output#2", "Flatten")])
def test_occurrence_picks_one_node_of_a_repeated_name(text, op):
    graph = cut(branching_graph(), text)
    assert head_names(graph) == [("fc7", op, 0)]
    assert {node.op for node in graph.nodes if node.name == "fc7"} == ({"Convolution", "Flatten"} if op == "Flatten" else {"Convolution"})


@pytest.mark.parametrize("text, message", [("fc7#3", "there are only 2 nodes named 'fc7'"), ("fc7#0", "count from #1")])
def test_occurrence_out_of_range(text, message):
    with pytest.raises(ConversionError, match=message):
        cut(branching_graph(), text)


def test_an_op_named_like_the_input_is_the_op():
    """The variable data is an input; the Convolution named data is what --outputs data means."""
    graph = cut(branching_graph(), "data")
    assert head_names(graph) == [("data", "Convolution", 0)]
    assert [node.name for node in graph.nodes] == ["data", "data_conv_weight", "data_conv_bias", "data"]


@pytest.mark.parametrize("text", ["conv0_weight", "fc_b_bias", "conv0_weight_output"])
def test_a_variable_is_not_an_output(text):
    with pytest.raises(ConversionError, match=f"'{text}' names a variable \\(an input or weight\\), not an op"):
        cut(branching_graph(), text)


@pytest.mark.parametrize(
    "text, suggestion", [("relu1", "did you mean relu0?"), ("fc_c_output", "did you mean fc_b, fc_a?"), ("conv", "did you mean conv0")]
)
def test_an_unknown_name_gets_a_suggestion(text, suggestion):
    with pytest.raises(ConversionError, match=f"test: --outputs '{text}': no node or output of that name; {suggestion}"):
        cut(branching_graph(), text)


def test_an_unknown_name_far_from_every_node_gets_no_suggestion():
    with pytest.raises(ConversionError) as error:
        cut(branching_graph(), "zzzzzz")
    assert str(error.value) == "test: --outputs 'zzzzzz': no node or output of that name"


def test_a_failed_resolution_leaves_the_graph_alone():
    graph = branching_graph()
    heads, count = list(graph.heads), len(graph.nodes)
    with pytest.raises(ConversionError):
        cut(graph, "fc_a", "nope")
    assert graph.heads == heads and len(graph.nodes) == count

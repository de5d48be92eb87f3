"""The identity graph pass (passes/remove_identities.py): ops that are the identity at inference
are removed and their readers rewired, except at heads; their MXNet outputs keep NameMap entries.
Small Graph IRs, then end to end against real MXNet in real Caffe and OpenCV (relative max error
<= harness.TOLERANCE = 1e-4)."""

import mxnet as mx
import pytest

from mxnet2caffe import ConvertOptions, NodeError
from mxnet2caffe.mxnet.graph import Graph, TensorRef
from mxnet2caffe.passes import drop_training, remove_identities

from harness import assert_converts_exactly, layer_types
from symbols import graph_of, rename_nodes


def with_identities() -> mx.sym.Symbol:
    """conv -> Dropout -> BlockGrad -> relu -> _copy -> stop_gradient -> identity -> fc; the
    relu also feeds a second head through Dropout 'drop_head' (an identity head)."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.Dropout(x, p=0.3, name="drop")
    x = mx.sym.BlockGrad(x, name="grad_block")
    relu = mx.sym.Activation(x, act_type="relu", name="relu")
    x = mx.sym._internal._copy(relu, name="copy")
    x = mx.sym.stop_gradient(x, name="stop")
    x = mx.sym.identity(x, name="same")
    fc = mx.sym.FullyConnected(x, num_hidden=3, name="fc")
    return mx.sym.Group([fc, mx.sym.Dropout(relu, p=0.5, name="drop_head")])


def node(graph: Graph, name: str):
    (found,) = [node for node in graph.nodes if node.name == name]
    return found


def remove(graph: Graph) -> Graph:
    return remove_identities.run(graph, ConvertOptions())


def test_identities_are_removed_and_their_readers_rewired():
    graph = remove(graph_of(with_identities()))
    assert [n.name for n in graph.nodes if not n.is_variable] == ["conv", "relu", "fc", "drop_head"]
    assert graph.node(node(graph, "relu").inputs[0]).name == "conv"
    assert graph.node(node(graph, "fc").inputs[0]).name == "relu"
    assert graph.notes == [
        "removed 5 identity op(s) at inference: BlockGrad x2, Dropout x1, _copy x2"
    ]  # MXNet saves stop_gradient as BlockGrad and identity as _copy


def test_removed_outputs_are_aliases_of_the_outputs_holding_their_values():
    graph = remove(graph_of(with_identities()))
    conv, relu = TensorRef(node(graph, "conv").id), TensorRef(node(graph, "relu").id)
    assert graph.aliases == {
        "drop_output": conv,
        "grad_block_output": conv,
        "copy_output": relu,
        "stop_output": relu,
        "same_output": relu,
    }


def test_an_identity_head_stays():
    graph = remove(graph_of(with_identities()))
    assert [graph.node(ref).name for ref in graph.heads] == ["fc", "drop_head"]
    assert graph.node(node(graph, "drop_head").inputs[0]).name == "relu"


@pytest.mark.parametrize("op", ["LinearRegressionOutput", "MAERegressionOutput"])
def test_regression_outputs_are_identities_once_their_label_is_dropped(op):
    """In the middle of a graph a regression output is removed; as the head it stays."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=2, name="conv")
    x = getattr(mx.sym, op)(x, mx.sym.Variable("inner_label"), name="inner")
    x = mx.sym.Activation(x, act_type="tanh", name="tanh")
    x = getattr(mx.sym, op)(x, mx.sym.Variable("out_label"), name="out")
    graph = remove(drop_training.run(graph_of(x), ConvertOptions()))
    assert [n.name for n in graph.nodes] == ["data", "conv_weight", "conv_bias", "conv", "tanh", "out"]
    assert graph.aliases == {"inner_output": TensorRef(node(graph, "conv").id)}
    assert [graph.node(ref).name for ref in graph.heads] == ["out"]
    assert graph.notes[-1] == f"removed 1 identity op(s) at inference: {op} x1"


def test_a_regression_head_converts_exactly(tmp_path):
    x = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    x = mx.sym.LinearRegressionOutput(mx.sym.Dropout(x, name="drop"), mx.sym.Variable("target_label"), name="regression")
    summary = assert_converts_exactly(x, {"data": (4, 6)}, tmp_path)
    assert summary.outputs == {"regression": (4, 3)} and summary.inputs == {"data": (4, 6)}
    assert summary.names["drop_output"] == "fc"


def test_repeated_identity_names_get_their_own_aliases():
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=2, name="conv")
    x = mx.sym.Dropout(x, name="drop_a")
    x = mx.sym.Activation(x, act_type="relu", name="relu")
    x = mx.sym.Dropout(x, name="drop_b")
    x = mx.sym.Activation(x, act_type="tanh", name="tanh")
    graph = remove(graph_of(rename_nodes(x, {"drop_a": "drop", "drop_b": "drop"})))
    assert graph.aliases == {"drop_output": TensorRef(node(graph, "conv").id), "drop_output#2": TensorRef(node(graph, "relu").id)}


def test_a_graph_without_identities_is_untouched():
    graph = graph_of(mx.sym.Activation(mx.sym.Variable("data"), act_type="relu", name="relu"))
    remove(graph)
    assert graph.notes == [] and graph.aliases == {}


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_dropout_mode_always_drops_at_inference(p):
    """mode='always' drops at inference too: only p=0 is an identity then."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=2, name="conv")
    x = mx.sym.Dropout(x, p=p, mode="always", name="drop")
    x = mx.sym.Activation(x, act_type="relu", name="relu")
    if p == 0:
        graph = remove(graph_of(x))
        assert graph.aliases == {"drop_output": TensorRef(node(graph, "conv").id)}
        return
    with pytest.raises(NodeError, match=r"node 'drop' \(op Dropout\): mode 'always' drops at inference too \(p=0.5\)"):
        remove(graph_of(x))


def test_identities_convert_exactly_and_keep_name_map_entries(tmp_path):
    summary = assert_converts_exactly(with_identities(), {"data": (2, 3, 7, 7)}, tmp_path)
    assert list(summary.outputs) == ["fc", "drop_head"]
    # one copy for the identity head, nothing for the removed ones
    assert layer_types(summary) == ["Input", "Convolution", "ReLU", "InnerProduct", "Power"]
    assert {key: summary.names[key] for key in ("drop_output", "grad_block_output", "copy_output", "same_output")} == {
        "drop_output": "conv",
        "grad_block_output": "conv",
        "copy_output": "relu",
        "same_output": "relu",
    }
    assert summary.names["drop_head_output"] == "drop_head"

"""The training-parts graph pass (passes/drop_training.py): labels of loss outputs, loss heads
and heads computed from a label are dropped with a note; on small Graph IRs, then end to end
against real MXNet in real Caffe and OpenCV (relative max error <= harness.TOLERANCE = 1e-4)."""

import mxnet as mx
import pytest

from mxnet2caffe import ConversionError, ConvertOptions
from mxnet2caffe.mxnet.graph import Graph
from mxnet2caffe.passes import drop_training, select_outputs

from harness import assert_converts_exactly
from symbols import graph_of

LABEL = mx.sym.Variable("softmax_label")


def classifier():
    """data -> fc -> SoftmaxOutput 'softmax' with its label 'softmax_label'."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    return fc, mx.sym.SoftmaxOutput(fc, LABEL, name="softmax")


def training_graph() -> mx.sym.Symbol:
    """Heads: the softmax, a MakeLoss of a regression to its own label, and an accuracy-like
    monitor reading the softmax's label."""
    fc, softmax = classifier()
    regression = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(fc - mx.sym.Variable("box_label"))), name="box_loss")
    hits = mx.sym.broadcast_equal(mx.sym.argmax(fc, axis=1), LABEL)
    accuracy = mx.sym.mean(hits, name="accuracy")
    return mx.sym.Group([softmax, regression, accuracy])


def drop(graph: Graph, options: ConvertOptions = ConvertOptions()) -> Graph:
    return drop_training.run(graph, options)


def names(graph: Graph):
    return [node.name for node in graph.nodes]


def test_the_label_of_a_loss_output_is_dropped():
    _, softmax = classifier()
    graph = drop(graph_of(softmax))
    (node,) = [node for node in graph.nodes if node.name == "softmax"]
    assert len(node.inputs) == 1 and graph.node(node.inputs[0]).name == "fc"
    assert names(graph) == ["data", "fc_weight", "fc_bias", "fc", "softmax"]
    assert graph.notes == ["dropped label input(s): softmax_label"]


@pytest.mark.parametrize("op", ["LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput", "SVMOutput"])
def test_every_labelled_output_loses_its_label(op):
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    graph = drop(graph_of(getattr(mx.sym, op)(fc, mx.sym.Variable("out_label"), name="out")))
    assert "out_label" not in names(graph)
    assert graph.notes == ["dropped label input(s): out_label"]


def test_loss_heads_and_heads_reading_a_label_are_dropped():
    graph = drop(graph_of(training_graph()))
    assert [graph.node(ref).name for ref in graph.heads] == ["softmax"]
    assert names(graph) == ["data", "fc_weight", "fc_bias", "fc", "softmax"]
    assert graph.notes == [
        "dropped training-only head(s): box_loss (MakeLoss), accuracy (mean)",
        "dropped label input(s): softmax_label, box_label",
    ]


def test_a_label_name_is_noted_once():
    """Files may hold two variable nodes of one label name (Variable called twice)."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    softmax = mx.sym.SoftmaxOutput(fc, mx.sym.Variable("softmax_label"), name="softmax")
    monitor = mx.sym.mean(mx.sym.broadcast_equal(mx.sym.argmax(fc, axis=1), mx.sym.Variable("softmax_label")), name="acc")
    graph = drop(graph_of(mx.sym.Group([softmax, monitor])))
    assert graph.notes == ["dropped training-only head(s): acc (mean)", "dropped label input(s): softmax_label"]


def test_a_loss_head_without_a_label_is_dropped_too():
    fc, softmax = classifier()
    penalty = mx.sym.MakeLoss(mx.sym.sum(mx.sym.abs(fc)), name="l1_penalty")
    graph = drop(graph_of(mx.sym.Group([fc, penalty])))
    assert [graph.node(ref).name for ref in graph.heads] == ["fc"]
    assert graph.notes == ["dropped training-only head(s): l1_penalty (MakeLoss)"]


def test_an_inference_graph_is_untouched():
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    graph = graph_of(mx.sym.softmax(fc, name="prob"))
    before = [(node.id, node.inputs) for node in graph.nodes]
    drop(graph)
    assert [(node.id, node.inputs) for node in graph.nodes] == before
    assert graph.notes == []


def test_every_head_training_only_is_a_clear_error():
    fc, _ = classifier()
    loss = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(fc - mx.sym.Variable("label"))), name="loss")
    with pytest.raises(ConversionError) as error:
        drop(graph_of(loss))
    assert str(error.value) == (
        "test: every head is training-only (loss (MakeLoss)); name the outputs to convert with --outputs"
    )


def test_outputs_named_by_the_user_that_are_training_only():
    options = ConvertOptions(outputs=("accuracy",))
    graph = select_outputs.run(graph_of(training_graph()), options)
    with pytest.raises(ConversionError, match=r"every head is training-only \(accuracy \(mean\)\); name others with --outputs"):
        drop(graph, options)


def test_training_graph_converts_without_its_label(tmp_path):
    """The whole training symbol converts: one output, the softmax, as MXNet computes it at
    inference; the Caffe model has no label input and the notes say what was dropped."""
    _, softmax = classifier()
    summary = assert_converts_exactly(training_graph(), {"data": (3, 10)}, tmp_path, reference=softmax)
    assert summary.inputs == {"data": (3, 10)}
    assert summary.outputs == {"softmax": (3, 4)}
    assert "dropped training-only head(s): box_loss (MakeLoss), accuracy (mean)" in summary.notes
    assert "dropped label input(s): softmax_label, box_label" in summary.notes
    assert "label" not in summary.prototxt.read_text()

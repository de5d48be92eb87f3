"""The command line shows what the graph passes and lowering did (cut, dropped, renamed), and
turns bad --outputs and unsupported tails into clean errors that say what to do."""

import mxnet as mx
import pytest

from harness import random_params, save_model
from symbols import renamed_model
from test_cli import assert_clean_failure, run_cli

SHAPE = "data:1,3,9,9"


@pytest.fixture
def training_checkpoint(tmp_path):
    """renamed_model (two nodes named fc7, ...) under a SoftmaxOutput with its label, a MakeLoss
    head with another label, and an op with no converter (arccos) decoding the logits."""
    logits = renamed_model()
    softmax = mx.sym.SoftmaxOutput(logits, mx.sym.Variable("softmax_label"), name="softmax")
    loss = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(logits - mx.sym.Variable("box_label"))), name="box_loss")
    sym = mx.sym.Group([softmax, loss, mx.sym.arccos(logits, name="decode")])
    return save_model(sym, *random_params(logits, {"data": (1, 3, 9, 9)}), tmp_path)


def test_convert_with_outputs_prints_the_notes_and_verifies(training_checkpoint, tmp_path):
    result = run_cli(
        "convert", *training_checkpoint, "--input-shape", SHAPE, "--output", tmp_path / "out",
        "--outputs", "softmax,fc7#1", "--verify", "--backend", "caffe",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cut at --outputs softmax, fc7#1: 5 op node(s) after them dropped"
    assert lines[1] == "dropped label input(s): softmax_label"
    assert lines[2].startswith("renamed 6 repeated or invalid name(s): 'data' -> 'data_2', ")
    assert "'fc7' -> 'fc7_2'" in lines[2]
    # fc7#1 (the Convolution) is read by the Flatten fc7_2: its output is a copy
    assert "; outputs softmax 1x5, fc7/output 1x5x1x1" in result.stdout
    assert "OK: 14 blobs compared, every one within tolerance" in result.stdout


def test_outputs_may_be_given_several_times(training_checkpoint, tmp_path):
    result = run_cli(
        "convert", *training_checkpoint, "--input-shape", SHAPE, "--output", tmp_path / "out",
        "--outputs", "fc7#2", "--outputs", "bn0/normalized_output",
    )
    assert result.returncode == 0, result.stderr
    assert "cut at --outputs fc7#2, bn0/normalized_output: " in result.stdout
    assert "; outputs fc7_2 1x5, bn0/normalized_2/output 1x8x9x9" in result.stdout


def test_inspect_with_outputs_prints_every_note(training_checkpoint):
    symbol, params = training_checkpoint
    result = run_cli("inspect", symbol, params, "--input-shape", SHAPE, "--outputs", "softmax", "--outputs", "fc7#1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "heads: softmax, fc7" in result.stdout
    assert "UNSUPPORTED" not in result.stdout and "all ops supported" in result.stdout
    assert "cut at --outputs softmax, fc7#1: 5 op node(s) after them dropped" in result.stdout
    assert "dropped label input(s): softmax_label" in result.stdout
    assert "renamed 6 repeated or invalid name(s): 'data' -> 'data_2'" in result.stdout


def test_inspect_without_outputs_shows_training_parts_and_unsupported_ops(training_checkpoint):
    symbol, _ = training_checkpoint
    result = run_cli("inspect", symbol)
    assert result.returncode == 1
    histogram = result.stdout.split("inputs:")[0]
    assert "  arccos             1  UNSUPPORTED" in histogram.splitlines()
    assert "MakeLoss" not in histogram and "mean" not in histogram  # the dropped head's ops
    assert "heads: softmax, decode" in result.stdout
    assert "dropped training-only head(s): box_loss (MakeLoss)" in result.stdout
    assert "dropped label input(s): softmax_label, box_label" in result.stdout
    assert "unsupported: arccos x1" in result.stdout
    assert "name the last supported outputs: --outputs fc7#2,softmax" in result.stdout


def test_convert_of_an_unsupported_tail_says_where_to_cut(training_checkpoint, tmp_path):
    result = run_cli("convert", *training_checkpoint, "--input-shape", SHAPE, "--output", tmp_path / "out")
    assert_clean_failure(
        result, "1 node(s) use unsupported ops", "arccos x1: decode", "--outputs fc7#2,softmax", directory=tmp_path
    )


@pytest.mark.parametrize(
    "outputs, message",
    [
        ("fc8", "--outputs 'fc8': no node or output of that name; did you mean fc7?"),
        ("fc7", "2 nodes are named 'fc7' (Convolution, Flatten); say which with 'fc7#1' ... 'fc7#2'"),
        ("fc7#3", "there are only 2 nodes named 'fc7'"),
        ("softmax_label", "--outputs 'softmax_label' names a variable (an input or weight), not an op"),
        ("box_loss", "every head is training-only (box_loss (MakeLoss)); name others with --outputs"),
    ],
)
def test_bad_outputs_are_clean_errors(training_checkpoint, tmp_path, outputs, message):
    result = run_cli(
        "convert", *training_checkpoint, "--input-shape", SHAPE, "--output", tmp_path / "out", "--outputs", outputs
    )
    assert_clean_failure(result, message, directory=tmp_path)

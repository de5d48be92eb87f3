"""verify on models whose names lowering had to change: every MXNet op output is compared with
the blob the NameMap (stored in the prototxt) gives it, repeated names included; a prototxt
without the map (written by hand or another tool) is compared by the naming convention.
Tolerance: relative max error 1e-4, in real Caffe and real OpenCV against real MXNet."""

import subprocess
import sys

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.annotations import read_annotations
from mxnet2caffe.caffe.reader import read_caffemodel
from mxnet2caffe.verify.backends import BACKENDS

from harness import random_params, save_model
from symbols import renamed_model

TOLERANCE = 1e-4
SHAPE = (1, 3, 9, 9)

# MXNet's op outputs in its order, NameMap keys as verify reads them -> the blob lowering gave
ROWS = [
    ("data_output", "data_2", (1, 8, 9, 9)),
    ("bn0_output", "bn0", (1, 8, 9, 9)),
    ("bn0/normalized_output", "bn0/normalized_2", (1, 8, 9, 9)),
    ("conv_output", "conv", (1, 8, 9, 9)),
    ("conv_output#2", "conv_2", (1, 8, 9, 9)),
    ("s_se_mul/reshape_output", "s_se_mul/reshape", (1, 8, 9, 9)),
    ("se_pool_output", "se_pool", (1, 8, 1, 1)),
    ("se_gate_output", "se_gate", (1, 8, 1, 1)),
    ("s_se_mul_output", "s_se_mul", (1, 8, 9, 9)),
    ("tanh (odd)_output", "tanh__odd_", (1, 8, 9, 9)),
    ("pool_output", "pool", (1, 8, 1, 1)),
    ("fc7_output", "fc7", (1, 5, 1, 1)),
    ("fc7_output#2", "fc7_2", (1, 5)),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("renamed")
    sym = renamed_model()
    return save_model(sym, *random_params(sym, {"data": SHAPE}), directory)


@pytest.fixture(scope="module")
def converted(checkpoint, tmp_path_factory):
    summary = mxnet2caffe.convert(*checkpoint, {"data": SHAPE}, tmp_path_factory.mktemp("converted") / "renamed")
    return summary.prototxt, summary.caffemodel


def broken_copy(caffemodel, layer_name, directory):
    """The model with one weight of one layer changed, as a bad conversion would."""
    net = read_caffemodel(caffemodel)
    (layer,) = [layer for layer in net.layer if layer.name == layer_name]
    layer.blobs[0].data[0] += 0.5
    path = directory / f"broken_{layer_name.replace('/', '_')}.caffemodel"
    path.write_bytes(net.SerializeToString())
    return path


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_op_output_is_compared_with_its_own_blob(checkpoint, converted, backend):
    report = mxnet2caffe.verify(*checkpoint, *converted, backend=backend)
    assert report.ok, report.format()
    assert [(row.mxnet_output, row.comparison.name, row.comparison.shape) for row in report.rows] == ROWS
    assert max(row.comparison.relative_error for row in report.rows) <= TOLERANCE
    assert [row.comparison.name for row in report.outputs] == ["fc7_2"]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(
    "layer, mxnet_output",
    [("conv_2", "conv_output#2"), ("data_2", "data_output"), ("s_se_mul/reshape", "s_se_mul/reshape_output")],
)
def test_names_a_broken_renamed_layer_first(checkpoint, converted, tmp_path, backend, layer, mxnet_output):
    """conv_2 is the second node named conv: MXNet's output of that node, not of the first conv,
    is what it is compared with, so the first conv passes and conv_2 is named."""
    prototxt, caffemodel = converted
    report = mxnet2caffe.verify(*checkpoint, prototxt, broken_copy(caffemodel, layer, tmp_path), backend=backend)
    assert not report.ok
    assert (report.first_failure.comparison.name, report.first_failure.mxnet_output) == (layer, mxnet_output)
    names = [row.comparison.name for row in report.rows]
    assert all(row.within(TOLERANCE) for row in report.rows[: names.index(layer)])
    assert f"FAILED: first layer over tolerance: {layer} (MXNet {mxnet_output})" in report.format()


def run_verify(*args):
    return subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", "verify", *map(str, args)], capture_output=True, text=True
    )


def test_verify_in_a_later_run_reads_the_map_from_the_prototxt(checkpoint, converted, tmp_path):
    """The files of an earlier conversion, checked by another process: only the prototxt
    says that fc7_output#2 is blob fc7_2."""
    prototxt, caffemodel = converted
    assert '# mxnet2caffe-map: ["fc7_output#2", "fc7_2"]' in prototxt.read_text().splitlines()
    good = run_verify(*checkpoint, prototxt, caffemodel, "--backend", "caffe")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK: 13 blobs compared, every one within tolerance" in good.stdout
    assert all(f"  {blob} " in good.stdout for _, blob, _ in ROWS)
    bad = run_verify(*checkpoint, prototxt, broken_copy(caffemodel, "conv_2", tmp_path), "--backend", "opencv")
    assert bad.returncode == 1
    assert "FAILED: first layer over tolerance: conv_2 (MXNet conv_output#2)" in bad.stdout


def plain_model() -> mx.sym.Symbol:
    """Names a hand-written prototxt would use as is: blob = MXNet node name."""
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv1")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn1")
    x = mx.sym.Activation(x, act_type="relu", name="relu1")
    return mx.sym.FullyConnected(x, num_hidden=3, name="fc1")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_prototxt_without_the_map_is_compared_by_the_naming_convention(tmp_path, backend):
    sym = plain_model()
    symbol, params = save_model(sym, *random_params(sym, {"data": SHAPE}), tmp_path)
    summary = mxnet2caffe.convert(symbol, params, {"data": SHAPE}, tmp_path / "plain")
    hand_written = tmp_path / "hand_written.prototxt"
    text = summary.prototxt.read_text()
    hand_written.write_text("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    assert read_annotations(hand_written.read_text()).names is None
    expected = [
        ("conv1_output", "conv1"),
        ("bn1_output", "bn1"),
        ("relu1_output", "relu1"),
        ("fc1_output", "fc1"),
    ]
    for prototxt in (summary.prototxt, hand_written):
        report = mxnet2caffe.verify(symbol, params, prototxt, summary.caffemodel, backend=backend)
        assert report.ok, report.format()
        assert [(row.mxnet_output, row.comparison.name) for row in report.rows] == expected
    broken = mxnet2caffe.verify(symbol, params, hand_written, broken_copy(summary.caffemodel, "fc1", tmp_path), backend=backend)
    assert broken.first_failure.comparison.name == "fc1"

"""Tests for mxnet2caffe.caffe.writer: .prototxt text, .caffemodel bytes, atomic writing.

The caffemodel is read back with protobuf (through our schema, with BVLC's field numbers)
and with real OpenCV DNN; float data must come back bit for bit.
"""

import os

import numpy as np
import pytest
from google.protobuf import text_format
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from mxnet2caffe.caffe import writer
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.schema import LayerParameter, NetParameter
from mxnet2caffe.caffe.writer import (
    caffemodel_bytes,
    prototxt_text,
    write_files_atomically,
    write_net,
)
from mxnet2caffe.errors import OutputFileError

from harness import backend_forward

SPECIAL_VALUES = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-40, np.finfo(np.float32).max,
     np.finfo(np.float32).tiny, 1 / 3],
    dtype=np.float32,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def float16_derived(rng, shape):
    """Weights stored as float16 in MXNet, widened to float32 for Caffe."""
    return rng.normal(size=shape).astype(np.float16).astype(np.float32)


def blob_arrays(rng):
    """Arrays as converters hand them over: any layout, empty, 0-d and 1-d included."""
    return {
        "4d": rng.normal(size=(3, 2, 3, 3)).astype(np.float32),
        "1d": rng.normal(size=7).astype(np.float32),
        "one value": np.array([1.0], dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0,), dtype=np.float32),
        "empty 3d": np.zeros((2, 0, 3), dtype=np.float32),
        "float16": float16_derived(rng, (4, 5)),
        "transposed": rng.normal(size=(5, 4)).astype(np.float32).T,
        "strided": rng.normal(size=(6, 8)).astype(np.float32)[::2, 1::3],
        "fortran": np.asfortranarray(rng.normal(size=(3, 4, 2)).astype(np.float32)),
        "big-endian": rng.normal(size=(2, 3)).astype(">f4"),
        "special": SPECIAL_VALUES,
        "large dims": np.zeros((1, 200, 1, 1), dtype=np.float32),
    }


def as_float32(array):
    return np.array(array, dtype=np.float32, order="C")  # keeps 0-d arrays 0-d


def sample_net(rng):
    """Several layer kinds: enums by name, repeated fields, nested messages, blobs or none."""
    arrays = blob_arrays(rng)
    layers = [
        Layer("conv", "Convolution", ("data",), ("conv",),
              {"convolution_param": {"num_output": 3, "kernel_size": [3], "pad": [1], "stride": [1],
                                     "bias_term": True}},
              (arrays["4d"], arrays["1d"][:3])),
        Layer("bn", "BatchNorm", ("conv",), ("conv",),
              {"batch_norm_param": {"use_global_stats": True, "eps": 1e-3}},
              (rng.normal(size=3).astype(np.float32), rng.uniform(1, 2, 3).astype(np.float32),
               arrays["one value"])),
        Layer("relu", "ReLU", ("conv",), ("relu",)),
        Layer("pool", "Pooling", ("relu",), ("pool",),
              {"pooling_param": {"pool": "AVE", "kernel_h": 2, "kernel_w": 1, "stride_h": 2,
                                 "stride_w": 1}}),
        Layer("sum", "Eltwise", ("pool", "pool"), ("sum",),
              {"eltwise_param": {"operation": "SUM", "coeff": [0.5, -1.25]}}),
        Layer("reshape", "Reshape", ("sum",), ("reshape",),
              {"reshape_param": {"shape": {"dim": [0, -1]}}}),
        Layer("weights", "Scale", ("reshape",), ("weights",), {"scale_param": {"axis": 0}},
              tuple(arrays[key] for key in ("float16", "transposed", "strided", "fortran",
                                             "big-endian", "special", "empty", "empty 3d",
                                             "scalar", "large dims"))),
    ]
    return Net(name="sample", inputs=[Tensor("data", (1, 2, 5, 5))], layers=layers)


def expected_layer(layer):
    """The LayerParameter protobuf itself builds for `layer`, without blobs."""
    return LayerParameter(name=layer.name, type=layer.type, bottom=layer.bottoms, top=layer.tops,
                          **layer.params)


def assert_blob(blob, array):
    """Shape and float32 bits of a parsed BlobProto equal the array's."""
    assert list(blob.shape.dim) == list(array.shape)
    assert not blob.HasField("num") and not blob.diff  # only the modern fields are written
    assert np.array(blob.data, dtype=np.float32).tobytes() == as_float32(array).tobytes()


def assert_input_layer(message, name, shape):
    assert (message.name, message.type, list(message.top), list(message.bottom)) == (
        name, "Input", [name], [])
    assert [list(s.dim) for s in message.input_param.shape] == [list(shape)]


# --- caffemodel -----------------------------------------------------------------

def test_caffemodel_parses_into_exactly_what_was_written(rng):
    net = sample_net(rng)
    parsed = NetParameter.FromString(caffemodel_bytes(net))
    assert parsed.name == "sample"
    assert len(parsed.layer) == 1 + len(net.layers)
    assert_input_layer(parsed.layer[0], "data", (1, 2, 5, 5))
    assert not parsed.layer[0].blobs
    for message, layer in zip(parsed.layer[1:], net.layers):
        assert len(message.blobs) == len(layer.blobs)
        for blob, array in zip(message.blobs, layer.blobs):
            assert_blob(blob, array)
        del message.blobs[:]
        assert message == expected_layer(layer)


def unknown_fields(message):
    """Fields of `message` and its submessages that the schema does not declare."""
    count = len(UnknownFieldSet(message))
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in [value] if isinstance(value, Message) else value:
            count += unknown_fields(item)
    return count


def test_caffemodel_has_no_unknown_fields(rng):
    """Everything written is declared in the schema: nothing a Caffe reader would skip."""
    assert unknown_fields(NetParameter.FromString(caffemodel_bytes(sample_net(rng)))) == 0


def test_enum_values_are_written_as_numbers(rng):
    parsed = NetParameter.FromString(caffemodel_bytes(sample_net(rng)))
    by_name = {layer.name: layer for layer in parsed.layer}
    assert by_name["pool"].pooling_param.pool == 1  # AVE
    assert by_name["sum"].eltwise_param.operation == 1  # SUM
    assert list(by_name["sum"].eltwise_param.coeff) == [0.5, -1.25]


def test_net_without_inputs_or_layers():
    parsed = NetParameter.FromString(caffemodel_bytes(Net(name="empty")))
    assert parsed == NetParameter(name="empty")


def test_several_inputs_come_first_in_order():
    net = Net(name="two", inputs=[Tensor("a", (1, 3)), Tensor("b", (2, 4, 5))],
              layers=[Layer("cat", "Concat", ("a", "b"), ("cat",))])
    parsed = NetParameter.FromString(caffemodel_bytes(net))
    assert_input_layer(parsed.layer[0], "a", (1, 3))
    assert_input_layer(parsed.layer[1], "b", (2, 4, 5))
    assert parsed.layer[2].name == "cat"


# --- prototxt -------------------------------------------------------------------

def test_prototxt_parses_back_into_the_caffemodel_without_blobs(rng):
    net = sample_net(rng)
    from_text = text_format.Parse(prototxt_text(net), NetParameter())
    from_binary = NetParameter.FromString(caffemodel_bytes(net))
    for layer in from_binary.layer:
        del layer.blobs[:]
    assert from_text == from_binary


def test_prototxt_is_readable_caffe_text(rng):
    text = prototxt_text(sample_net(rng))
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert body.startswith('name: "sample"\nlayer {\n  name: "data"\n  type: "Input"\n')
    assert "pool: AVE" in text and "operation: SUM" in text
    assert "blobs {" not in text and "data:" not in text


# --- writing files ----------------------------------------------------------------

def listing(directory):
    return sorted(os.listdir(directory))


def test_write_net_writes_both_files(tmp_path, rng):
    net = sample_net(rng)
    prototxt, caffemodel = write_net(net, tmp_path / "out" / "model.v1")
    assert (prototxt, caffemodel) == (tmp_path / "out" / "model.v1.prototxt",
                                      tmp_path / "out" / "model.v1.caffemodel")
    assert prototxt.read_text() == prototxt_text(net)
    assert caffemodel.read_bytes() == caffemodel_bytes(net)
    assert listing(tmp_path / "out") == ["model.v1.caffemodel", "model.v1.prototxt"]


def test_write_net_replaces_previous_outputs(tmp_path, rng):
    write_net(Net(name="old"), tmp_path / "model")
    net = sample_net(rng)
    prototxt, caffemodel = write_net(net, str(tmp_path / "model"))
    assert prototxt.read_text() == prototxt_text(net)
    assert caffemodel.read_bytes() == caffemodel_bytes(net)
    assert listing(tmp_path) == ["model.caffemodel", "model.prototxt"]


def old_outputs(directory):
    files = {directory / "model.prototxt": b"old text", directory / "model.caffemodel": b"old bytes"}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def new_contents(directory):
    return [(directory / "model.prototxt", b"new text"), (directory / "model.caffemodel", b"new bytes")]


def test_second_file_unwritable_leaves_first_untouched(tmp_path):
    (tmp_path / "model.prototxt").write_bytes(b"old text")
    (tmp_path / "blocker").write_bytes(b"a regular file, not a directory")
    with pytest.raises(OSError):
        write_files_atomically(
            [(tmp_path / "model.prototxt", b"new text"), (tmp_path / "blocker" / "m.caffemodel", b"x")]
        )
    assert (tmp_path / "model.prototxt").read_bytes() == b"old text"
    assert listing(tmp_path) == ["blocker", "model.prototxt"]


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no fsync"])
def test_failed_write_of_data_leaves_no_trace(tmp_path, fsync):
    files = old_outputs(tmp_path)
    with pytest.raises(TypeError):
        write_files_atomically(
            [(tmp_path / "model.prototxt", b"new"), (tmp_path / "model.caffemodel", "not bytes")], fsync
        )
    assert {path: path.read_bytes() for path in files} == files
    assert listing(tmp_path) == ["model.caffemodel", "model.prototxt"]


def test_output_path_that_is_a_directory(tmp_path):
    (tmp_path / "model.caffemodel").mkdir()
    with pytest.raises(OutputFileError, match="cannot write the model"):
        write_net(Net(name="n"), tmp_path / "model")
    assert listing(tmp_path) == ["model.caffemodel"]
    assert listing(tmp_path / "model.caffemodel") == []


def test_a_failure_right_after_a_temporary_is_made_leaves_no_trace(tmp_path, monkeypatch):
    files = old_outputs(tmp_path)

    def fchmod(handle, mode):
        raise PermissionError(1, "injected failure")

    monkeypatch.setattr(os, "fchmod", fchmod)
    with pytest.raises(PermissionError):
        write_files_atomically(new_contents(tmp_path))
    assert {path: path.read_bytes() for path in files} == files
    assert listing(tmp_path) == ["model.caffemodel", "model.prototxt"]


def test_without_fsync_nothing_is_flushed_and_no_journal_is_written(tmp_path, monkeypatch):
    old_outputs(tmp_path)
    flushed = []
    monkeypatch.setattr(os, "fsync", flushed.append)
    monkeypatch.setattr(writer.json, "dump", lambda *args: pytest.fail("a journal written without fsync"))
    write_files_atomically(new_contents(tmp_path), fsync=False)
    assert flushed == []
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == {
        "model.prototxt": b"new text", "model.caffemodel": b"new bytes"}


def test_write_net_without_fsync_starts_no_writeback(tmp_path, monkeypatch, rng):
    handed = []
    real = writer._native.write_pieces
    monkeypatch.setattr(writer._native, "write_pieces",
                        lambda fd, offset, pieces, **kwargs: (handed.append(kwargs), real(fd, offset, pieces, **kwargs))[1])
    net = sample_net(rng)
    _, caffemodel = write_net(net, tmp_path / "quick", fsync=False)
    assert caffemodel.read_bytes() == caffemodel_bytes(net)
    assert handed == [{"writeback": False}]


class FailingReplace:
    """os.replace that raises on its `fail_at`-th call (1-based) and counts calls."""

    def __init__(self, fail_at=0):
        self.fail_at = fail_at
        self.calls = 0
        self.real = os.replace

    def __call__(self, source, destination):
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(28, "injected failure", str(destination))
        self.real(source, destination)


def renames_of_a_successful_write(monkeypatch, directory, existing, fsync):
    directory.mkdir()
    if existing:
        old_outputs(directory)
    counter = FailingReplace()
    monkeypatch.setattr(os, "replace", counter)
    write_files_atomically(new_contents(directory), fsync)
    monkeypatch.undo()
    return counter.calls


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no fsync"])
@pytest.mark.parametrize("existing", [True, False], ids=["over old outputs", "fresh"])
def test_any_failing_rename_leaves_outputs_as_they_were(tmp_path, monkeypatch, existing, fsync):
    renames = renames_of_a_successful_write(monkeypatch, tmp_path / "probe", existing, fsync)
    assert renames >= 2
    for fail_at in range(1, renames + 1):
        directory = tmp_path / f"fail-at-{fail_at}"
        directory.mkdir()
        before = old_outputs(directory) if existing else {}
        monkeypatch.setattr(os, "replace", FailingReplace(fail_at))
        with pytest.raises(OSError, match="injected failure"):
            write_files_atomically(new_contents(directory), fsync)
        monkeypatch.undo()
        assert {path: path.read_bytes() for path in directory.iterdir()} == before, fail_at


# --- a real Caffe reader -------------------------------------------------------------

def conv2d(x, weight, bias, pad, stride):
    """Caffe's convolution (cross-correlation) in float64, NCHW / OIHW."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_c, _, kh, kw = weight.shape
    out_h = (x.shape[2] - kh) // stride + 1
    out_w = (x.shape[3] - kw) // stride + 1
    out = np.empty((x.shape[0], out_c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", window, weight)
    return out + bias.reshape(1, -1, 1, 1)


def test_opencv_dnn_computes_with_the_written_weights(tmp_path, rng):
    # non-contiguous float16-derived weights: the layout Caffe reads must be C order
    weight = float16_derived(rng, (3, 3, 3, 2)).transpose(0, 3, 1, 2)
    bias = rng.normal(size=3).astype(np.float32)
    ip_weight = rng.normal(size=(12, 4)).astype(np.float32).T  # (4, 3 * 2 * 2)
    ip_bias = rng.normal(size=4).astype(np.float32)
    net = Net(
        name="tiny",
        inputs=[Tensor("data", (2, 2, 4, 3))],
        layers=[
            Layer("conv", "Convolution", ("data",), ("conv",),
                  {"convolution_param": {"num_output": 3, "kernel_size": [3], "pad": [1],
                                         "stride": [2]}},
                  (weight, bias)),
            Layer("ip", "InnerProduct", ("conv",), ("ip",),
                  {"inner_product_param": {"num_output": 4}}, (ip_weight, ip_bias)),
        ],
    )
    prototxt, caffemodel = write_net(net, tmp_path / "tiny")
    x = rng.normal(size=(2, 2, 4, 3)).astype(np.float32)
    conv_out, ip_out = backend_forward("opencv", prototxt, caffemodel, {"data": x}, ["conv", "ip"])
    expected_conv = conv2d(x, weight.astype(np.float64), bias, pad=1, stride=2)
    expected_ip = expected_conv.reshape(2, -1) @ ip_weight.astype(np.float64).T + ip_bias
    assert conv_out.shape == (2, 3, 2, 2) and ip_out.shape == (2, 4)
    np.testing.assert_allclose(conv_out, expected_conv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ip_out, expected_ip, rtol=1e-5, atol=1e-5)

"""The streamed .caffemodel is byte for byte protobuf's own serialization of the whole NetParameter.

The reference below builds every layer and blob as protobuf messages (shape set, dims and float
data appended) and calls SerializeToString: no code shared with the writer. The nets are the
bundled example, a gluon model zoo network and hand-made layers with odd shapes, no blobs and
empty blobs.
"""

import errno
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.model_zoo import vision

from mxnet2caffe.caffe import writer
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.schema import LayerParameter, NetParameter
from mxnet2caffe.caffe.writer import caffemodel_bytes, write_caffemodel, write_net
from mxnet2caffe.errors import OutputFileError
from mxnet2caffe.mxnet.params import file_offset, read_params
from mxnet2caffe.mxnet.symbol import read_symbol
from mxnet2caffe.options import ConvertOptions
from mxnet2caffe.pipeline import build_net, run_graph_passes

from harness import EXAMPLE, random_params, save_model


def protobuf_caffemodel(net):
    """The reference: the NetParameter as protobuf messages, serialized by protobuf."""
    message = NetParameter(name=net.name)
    for tensor in net.inputs:
        message.layer.add(name=tensor.blob, type="Input", top=[tensor.blob],
                          input_param={"shape": [{"dim": list(tensor.shape)}]})
    for layer in net.layers:
        layer_message = message.layer.add()
        layer_message.CopyFrom(LayerParameter(name=layer.name, type=layer.type, bottom=layer.bottoms,
                                              top=layer.tops, **layer.params))
        for array in layer.blobs:
            blob = layer_message.blobs.add()
            blob.shape.SetInParent()  # a 0-d blob still has a (dimensionless) shape
            blob.shape.dim.extend(array.shape)
            blob.data.extend(np.asarray(array, dtype=np.float32).ravel().tolist())
    return message.SerializeToString()


def assert_streams_protobuf_bytes(net, tmp_path):
    expected = protobuf_caffemodel(net)
    assert caffemodel_bytes(net) == expected
    _, caffemodel = write_net(net, tmp_path / net.name)
    assert caffemodel.read_bytes() == expected
    # and protobuf's parser gives the same message back, which it serializes identically
    assert NetParameter.FromString(expected).SerializeToString() == expected


def converted_net(symbol, params_path, shapes, name):
    graph = read_symbol(symbol)
    params = read_params(params_path)
    options = ConvertOptions()
    return build_net(run_graph_passes(graph, options), params, shapes, options, name), params


# --- whole models ------------------------------------------------------------------------

def test_bundled_example(tmp_path):
    net, params = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params",
                                {"data": (1, 1, 108, 108)}, "se_resnet")
    assert sum(len(layer.blobs) for layer in net.layers) > 50
    assert_streams_protobuf_bytes(net, tmp_path)


def test_gluon_zoo_model(tmp_path):
    model = vision.get_model("squeezenet1.1", pretrained=False)
    model.initialize()
    model.hybridize()
    model(mx.nd.zeros((1, 3, 224, 224)))
    model.export(str(tmp_path / "zoo"))
    sym = mx.sym.load(str(tmp_path / "zoo-symbol.json"))
    args, aux = random_params(sym, {"data": (1, 3, 224, 224)})
    symbol, params_path = save_model(sym, args, aux, tmp_path, "squeezenet")
    net, _ = converted_net(symbol, params_path, {"data": (1, 3, 224, 224)}, "squeezenet")
    assert any(layer.type == "Concat" for layer in net.layers)
    assert_streams_protobuf_bytes(net, tmp_path)


def test_weights_go_from_the_mapped_file_to_the_output_uncopied(tmp_path):
    """Convolution weights of a float32 .params file reach the writer as views of the file map."""
    net, params = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params",
                                {"data": (1, 1, 108, 108)}, "se_resnet")
    conv_weights = [layer.blobs[0] for layer in net.layers if layer.type == "Convolution"]
    assert len(conv_weights) > 10
    mapped = [array for array in params.values() if array.ndim == 4]
    for weight in conv_weights:
        assert any(np.shares_memory(weight, array) for array in mapped)


# --- hand-made layers --------------------------------------------------------------------

def odd_arrays(rng):
    return [
        np.zeros((0,), np.float32),  # empty: no data field, only the shape
        np.zeros((2, 0, 3), np.float32),
        np.array(2.5, np.float32),  # 0-d: an empty shape message
        np.array([1.0], np.float32),
        rng.normal(size=(1, 300, 1, 1)).astype(np.float32),  # dims and lengths past one varint byte
        rng.normal(size=(5, 7, 3, 3)).astype(np.float32).transpose(1, 0, 3, 2),  # not C order
        rng.normal(size=(6, 8)).astype(np.float32)[::2, 1::3],  # strided
        rng.normal(size=(3, 4)).astype(">f4"),  # big-endian
        rng.normal(size=(4, 5)).astype(np.float16),  # widened
        rng.normal(size=(2, 3)),  # float64, narrowed
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, np.finfo(np.float32).max], np.float32),
        rng.normal(size=(70000,)).astype(np.float32),  # 280000 bytes: a three-byte length
    ]


def test_odd_shapes_empty_blobs_and_layers_without_blobs(tmp_path):
    rng = np.random.default_rng(0)
    arrays = odd_arrays(rng)
    net = Net(
        name="odd",
        inputs=[Tensor("data", (1, 3, 5, 5)), Tensor("second", (2, 300))],
        layers=[
            Layer("relu", "ReLU", ("data",), ("relu",)),  # no blobs, no parameters
            Layer("conv" * 40, "Convolution", ("relu",), ("conv",),  # a 160-character name
                  {"convolution_param": {"num_output": 7, "kernel_size": [3], "pad": [1]}},
                  (arrays[5], rng.normal(size=7).astype(np.float32))),
            Layer("pool", "Pooling", ("conv",), ("pool",), {"pooling_param": {"pool": "AVE", "kernel_size": 2}}),
            Layer("scale", "Scale", ("pool",), ("scale",), {"scale_param": {"axis": 0}}, tuple(arrays)),
            Layer("empty", "Scale", ("scale",), ("empty",), {}, (arrays[0],)),
            Layer("sum", "Eltwise", ("pool", "empty"), ("sum",),
                  {"eltwise_param": {"operation": "SUM", "coeff": [0.5, -1.25]}}),
        ],
    )
    assert_streams_protobuf_bytes(net, tmp_path)


@pytest.mark.parametrize("net", [Net(name="empty"), Net(name="", inputs=[Tensor("x", ())])],
                         ids=["no layers", "0-d input, no name"])
def test_degenerate_nets(tmp_path, net):
    assert caffemodel_bytes(net) == protobuf_caffemodel(net)


def test_streams_into_any_binary_stream(tmp_path):
    rng = np.random.default_rng(1)
    net = Net(name="s", inputs=[Tensor("data", (1, 4))],
              layers=[Layer("ip", "InnerProduct", ("data",), ("ip",), {"inner_product_param": {"num_output": 3}},
                            (rng.normal(size=(3, 4)).astype(np.float32), np.zeros(3, np.float32)))])
    path = tmp_path / "s.caffemodel"
    with open(path, "wb", buffering=0) as unbuffered:  # every chunk is its own write
        write_caffemodel(net, unbuffered)
    assert path.read_bytes() == protobuf_caffemodel(net)


# --- the copy path: arrays viewing the mapped .params go file to file (os.copy_file_range) ---

class CopySpy:
    """os.copy_file_range, counting calls and bytes; raises `error` (an errno) instead if given."""

    def __init__(self, error=None):
        self.real, self.error, self.calls, self.bytes = os.copy_file_range, error, 0, 0

    def __call__(self, source, target, count, offset_src=None, offset_dst=None):
        self.calls += 1
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error))
        copied = self.real(source, target, count, offset_src, offset_dst)
        self.bytes += copied
        return copied


def example_net():
    net, _ = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, "se")
    return net


def large_mapped_bytes(net):
    return sum(array.nbytes for layer in net.layers for array in layer.blobs
               if array.nbytes >= 1 << 16 and file_offset(np.ascontiguousarray(array)) is not None)


def test_large_mapped_arrays_are_copied_by_the_kernel_byte_identically(tmp_path, monkeypatch):
    net = example_net()
    expected = protobuf_caffemodel(net)
    assert large_mapped_bytes(net) > 200_000  # the example has conv weights of 64 KiB and more
    spy = CopySpy()
    monkeypatch.setattr(os, "copy_file_range", spy)
    _, caffemodel = write_net(net, tmp_path / "se")
    assert spy.bytes == large_mapped_bytes(net)
    assert caffemodel.read_bytes() == expected


@pytest.mark.parametrize("error", [errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL])
def test_copy_not_possible_falls_back_to_writing_from_memory(tmp_path, monkeypatch, error):
    net = example_net()
    spy = CopySpy(error)
    monkeypatch.setattr(os, "copy_file_range", spy)
    _, caffemodel = write_net(net, tmp_path / "se")
    assert spy.calls == 1  # tried once, then that file's arrays are written from memory
    assert caffemodel.read_bytes() == protobuf_caffemodel(net)


def test_other_copy_errors_are_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "copy_file_range", CopySpy(errno.EIO))
    with pytest.raises(OutputFileError, match="cannot write the model"):
        write_net(example_net(), tmp_path / "se")
    assert list(tmp_path.iterdir()) == []


def test_params_file_replaced_after_reading_is_not_copied_from(tmp_path, monkeypatch):
    # the map still holds the old file's bytes; the path now names another file
    params = tmp_path / "model-0000.params"
    params.write_bytes((EXAMPLE.parent / "se_resnet-0000.params").read_bytes())
    net, _ = converted_net(f"{EXAMPLE}-symbol.json", params, {"data": (1, 1, 108, 108)}, "se")
    expected = protobuf_caffemodel(net)
    replacement = tmp_path / "other"
    replacement.write_bytes(params.read_bytes()[::-1])
    os.replace(replacement, params)
    spy = CopySpy()
    monkeypatch.setattr(os, "copy_file_range", spy)
    _, caffemodel = write_net(net, tmp_path / "se")
    assert spy.calls == 0
    assert caffemodel.read_bytes() == expected


def test_streams_without_a_file_get_no_copies(monkeypatch):
    spy = CopySpy()
    monkeypatch.setattr(os, "copy_file_range", spy)
    net = example_net()
    assert caffemodel_bytes(net) == protobuf_caffemodel(net)
    assert spy.calls == 0


def test_copied_ranges_are_handed_to_early_writeback(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(writer, "_start_writeback", lambda handle, offset, count: calls.append((offset, count)))
    net = example_net()
    _, caffemodel = write_net(net, tmp_path / "se")
    written = caffemodel.read_bytes()
    copied = {np.ascontiguousarray(array).tobytes() for layer in net.layers for array in layer.blobs
              if array.nbytes >= 1 << 16 and file_offset(np.ascontiguousarray(array)) is not None}
    # each range handed over is exactly where one copied array lies in the output
    assert calls and all(written[offset:offset + count] in copied for offset, count in calls)
    assert sum(count for _, count in calls) == large_mapped_bytes(net)


def test_linux_sync_file_range_is_found_and_accepts_a_range(tmp_path):
    function = writer._sync_file_range()
    assert function is not None  # Linux with glibc: the hint is given
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10000)
    handle = os.open(path, os.O_RDWR)
    try:
        assert function(handle, 0, 10000, writer._SYNC_FILE_RANGE_WRITE) == 0
    finally:
        os.close(handle)


def test_the_stream_position_follows_the_copies(tmp_path, monkeypatch):
    # bytes before and after the model land where the stream says: its position kept up
    spy = CopySpy()
    monkeypatch.setattr(os, "copy_file_range", spy)
    net = example_net()
    path = tmp_path / "framed"
    with open(path, "wb") as stream:
        stream.write(b"before")
        write_caffemodel(net, stream)
        assert stream.tell() == 6 + len(protobuf_caffemodel(net))
        stream.write(b"after")
    assert spy.calls > 0
    assert path.read_bytes() == b"before" + protobuf_caffemodel(net) + b"after"

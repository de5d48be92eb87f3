"""The streamed .caffemodel is byte for byte protobuf's own serialization of the whole NetParameter.

The reference below builds every layer and blob as protobuf messages (shape set, dims and float
data appended) and calls SerializeToString: no code shared with the writer. The nets are the
bundled example, a gluon model zoo network and hand-made layers with odd shapes, no blobs and
empty blobs.
"""

import gzip
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.model_zoo import vision

from mxnet2caffe.caffe import writer
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.schema import LayerParameter, NetParameter
from mxnet2caffe.caffe.writer import caffemodel_bytes, write_caffemodel, write_net
from mxnet2caffe.mxnet.params import mapped_file, read_params
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
            # a message field of three-byte length after the blobs, two before them
            Layer("weighted", "Eltwise", ("sum", "scale"), ("weighted",),
                  {"eltwise_param": {"operation": "SUM", "coeff": [0.5] * 30000}, "scale_param": {"axis": 2}},
                  (arrays[0], arrays[1])),
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


@pytest.mark.parametrize("opener", ["append", "gzip"])
def test_streams_that_are_not_plain_files_get_the_bytes_through_write(tmp_path, opener):
    """A file opened for appending, or a compressing stream (which has the file's descriptor too),
    is written through its own write(): the native writer would put the bytes at offsets."""
    net, _ = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, "se")
    path = tmp_path / "model"
    if opener == "append":
        path.write_bytes(b"before")
        with open(path, "ab") as stream:
            write_caffemodel(net, stream)
        assert path.read_bytes() == b"before" + protobuf_caffemodel(net)
    else:
        with gzip.open(path, "wb") as stream:
            write_caffemodel(net, stream)
        assert gzip.decompress(path.read_bytes()) == protobuf_caffemodel(net)


# --- arrays viewing the mapped .params: written from the map, then unmapped ---------------

def example_net():
    net, _ = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, "se")
    return net


def test_arrays_viewing_the_params_map_are_handed_over_with_the_params_file(tmp_path, monkeypatch):
    """The native writer reads exactly those from the file (tests/test_native_file_writer.py shows
    that it does, and that the map is never touched)."""
    handed = []
    real = writer._native.write_pieces
    monkeypatch.setattr(writer._native, "write_pieces",
                        lambda fd, offset, pieces, **kwargs: (handed.extend(pieces), real(fd, offset, pieces, **kwargs))[1])
    net, params = converted_net(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, "se")
    _, caffemodel = write_net(net, tmp_path / "se")
    assert caffemodel.read_bytes() == protobuf_caffemodel(net)
    params_map = mapped_file(next(iter(params.values())))
    region = np.frombuffer(params_map, np.uint8)  # the whole map
    params_file = os.fstat(params_map.descriptor)
    assert (params_file.st_dev, params_file.st_ino) == (os.stat(f"{EXAMPLE}-0000.params").st_dev,
                                                        os.stat(f"{EXAMPLE}-0000.params").st_ino)
    arrays = [(chunk, source) for chunk, source in handed if isinstance(chunk, np.ndarray)]
    for chunk, source in arrays:
        assert source == ((params_map, params_map.descriptor) if np.shares_memory(chunk, region) else None)
    assert sum(source is not None for _, source in arrays) > 30 and None in {source for _, source in arrays}


# VmHWM: the peak resident memory of this process image (ru_maxrss would carry the parent's
# peak over from before the exec)
PEAK_MEMORY = """
import re, sys
from mxnet2caffe.caffe.net import Layer, Net
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.mxnet.params import read_params
def kib(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1])
start = kib("VmRSS")
params = read_params(sys.argv[1])
layers = [Layer(name, "Scale", ("data",), (name,), {}, (array,)) for name, array in params.items()]
write_net(Net(name="big", layers=layers), sys.argv[2])
print((kib("VmHWM") - start) * 1024)
"""


def test_a_process_reading_and_writing_weights_stays_far_below_their_size(tmp_path):
    """Reading the headers and writing the arrays map the file's pages into the process (whole
    folios at a time on recent kernels): they are unmapped as it goes, so its memory grows by
    a fraction of the weights' size, whatever the page cache holds."""
    params = tmp_path / "big-0000.params"
    rng = np.random.default_rng(0)
    arrays = {f"w{k}": mx.nd.array(rng.normal(size=(64, 64, 3, 3)).astype(np.float32)) for k in range(800)}
    arrays.update({f"b{k}": mx.nd.array(rng.normal(size=64).astype(np.float32)) for k in range(800)})
    mx.nd.save(str(params), arrays)
    size = params.stat().st_size
    assert size > 110 << 20
    params.read_bytes()  # in the page cache, as after MXNet wrote it
    grown = int(subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(params), str(tmp_path / "out")],
                               check=True, capture_output=True, text=True).stdout)
    assert grown < size / 4, (grown, size)


def test_params_file_replaced_after_reading_still_gives_what_was_read(tmp_path):
    # the map holds the file that was read; the path now names another one
    params = tmp_path / "model-0000.params"
    params.write_bytes((EXAMPLE.parent / "se_resnet-0000.params").read_bytes())
    net, _ = converted_net(f"{EXAMPLE}-symbol.json", params, {"data": (1, 1, 108, 108)}, "se")
    expected = protobuf_caffemodel(net)
    replacement = tmp_path / "other"
    replacement.write_bytes(params.read_bytes()[::-1])
    os.replace(replacement, params)
    _, caffemodel = write_net(net, tmp_path / "se")
    assert caffemodel.read_bytes() == expected


def test_the_stream_position_follows_the_writes(tmp_path):
    # bytes before and after the model land where the stream says
    net = example_net()
    path = tmp_path / "framed"
    with open(path, "wb") as stream:
        stream.write(b"before")
        write_caffemodel(net, stream)
        assert stream.tell() == 6 + len(protobuf_caffemodel(net))
        stream.write(b"after")
    assert path.read_bytes() == b"before" + protobuf_caffemodel(net) + b"after"


def test_the_fields_before_the_blobs_are_length_delimited():
    """The writer splits a layer's serialization at the blobs field by skipping length-delimited
    fields: a field of another wire type below it in caffe.proto would need more."""
    blobs = LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number
    below = [field for field in LayerParameter.DESCRIPTOR.fields if field.number < blobs]
    assert {field.name for field in below} == {"name", "type", "bottom", "top"}
    assert all(field.type in (field.TYPE_STRING, field.TYPE_MESSAGE, field.TYPE_BYTES) for field in below)

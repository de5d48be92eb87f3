"""MXNet's "None": an optional parameter (dmlc::optional) takes it as unset, every other parameter
refuses it. The converter must agree with MXNet 1.9.1 on each: these tests give the same symbol
with one attribute set to "None" to MXNet (load + infer_shape) and to the converter."""

import json
import sys
from pathlib import Path

import mxnet as mx
import pytest

from mxnet2caffe.attrs import OPTIONAL_PARAMETERS
from mxnet2caffe.convert import convert_to_net
from mxnet2caffe.converters.registry import is_supported
from mxnet2caffe.errors import ConversionError

from harness import random_params

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
try:  # the fuzzer's way to MXNet's symbol function and documented parameters of an op
    from fuzz import mxnet_function, mxnet_parameters
finally:
    sys.path.pop(0)

SHAPE = (1, 4, 8, 8)


def mxnet_optional_parameters(op):
    """The parameters MXNet's documentation of `op` types as "... or None"."""
    return {name for name, kind in mxnet_parameters(mxnet_function(mx, op)) if " or None" in kind}


def test_optional_parameters_table_matches_mxnet():
    ops = set(OPTIONAL_PARAMETERS) | {"Convolution", "BatchNorm", "FullyConnected", "Concat", "LeakyReLU"}
    for op in sorted(ops):
        assert is_supported(op), op
        assert mxnet_function(mx, op) is not None, op
        assert mxnet_optional_parameters(op) == set(OPTIONAL_PARAMETERS.get(op, ())), op


def data():
    return mx.sym.Variable("data")


# (id, the node "x" with valid attributes, the attribute set to "None", MXNet's verdict: accepts)
CASES = [
    ("conv-num_group", lambda: mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, num_group=1, name="x"),
     "num_group", False),
    ("conv-no_bias", lambda: mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, no_bias=False, name="x"),
     "no_bias", False),
    ("conv-stride", lambda: mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, stride=(1, 1), name="x"),
     "stride", False),
    ("conv-pad", lambda: mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, pad=(1, 1), name="x"), "pad", False),
    ("conv-dilate", lambda: mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, dilate=(1, 1), name="x"),
     "dilate", False),
    ("bn-eps", lambda: mx.sym.BatchNorm(data(), eps=1e-3, name="x"), "eps", False),
    ("bn-fix_gamma", lambda: mx.sym.BatchNorm(data(), fix_gamma=True, name="x"), "fix_gamma", False),
    ("bn-axis", lambda: mx.sym.BatchNorm(data(), axis=1, name="x"), "axis", False),
    ("pool-count_include_pad",
     lambda: mx.sym.Pooling(data(), kernel=(3, 3), pad=(1, 1), pool_type="avg", count_include_pad=False, name="x"),
     "count_include_pad", True),
    ("pool-p_value", lambda: mx.sym.Pooling(data(), kernel=(2, 2), pool_type="max", p_value=2, name="x"),
     "p_value", True),
    ("pool-stride", lambda: mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), name="x"), "stride", False),
    ("pool-global-kernel", lambda: mx.sym.Pooling(data(), kernel=(2, 2), global_pool=True, name="x"), "kernel", True),
    ("pool-pool_type", lambda: mx.sym.Pooling(data(), kernel=(2, 2), pool_type="max", name="x"), "pool_type", False),
    ("softmax-temperature", lambda: mx.sym.softmax(data(), temperature=1.0, name="x"), "temperature", True),
    ("softmax-axis", lambda: mx.sym.softmax(data(), axis=1, name="x"), "axis", False),
    ("leaky-slope", lambda: mx.sym.LeakyReLU(data(), act_type="leaky", slope=0.1, name="x"), "slope", False),
    ("fc-flatten", lambda: mx.sym.FullyConnected(data(), num_hidden=3, flatten=True, name="x"), "flatten", False),
    ("concat-dim", lambda: mx.sym.Concat(data(), data(), dim=1, name="x"), "dim", False),
    ("dropout-p", lambda: mx.sym.Dropout(data(), p=0.5, name="x"), "p", False),
    ("slice_axis-end", lambda: mx.sym.slice_axis(data(), axis=1, begin=0, end=4, name="x"), "end", True),
    ("mean-axis", lambda: mx.sym.mean(data(), axis=(2, 3), name="x"), "axis", True),
    ("deconv-target_shape",
     lambda: mx.sym.Deconvolution(data(), kernel=(3, 3), num_filter=2, target_shape=(10, 10), name="x"),
     "target_shape", True),
    ("deconv-adj", lambda: mx.sym.Deconvolution(data(), kernel=(3, 3), stride=(2, 2), num_filter=2, adj=(1, 1),
                                                name="x"), "adj", False),
    ("clip-a_min", lambda: mx.sym.clip(data(), a_min=-1.0, a_max=1.0, name="x"), "a_min", False),
    ("activation-act_type", lambda: mx.sym.Activation(data(), act_type="relu", name="x"), "act_type", False),
    # tuples: MXNet's "None" is its unknown tuple; some ops take it as not given (UNSET_TUPLES)
    ("dropout-axes", lambda: mx.sym.Dropout(data(), p=0.5, axes=(2, 3), name="x"), "axes", True),
    ("crop-offset", lambda: mx.sym.Crop(data(), offset=(1, 1), h_w=(2, 2), num_args=1, name="x"), "offset", False),
    ("tile-reps", lambda: mx.sym.tile(data(), reps=(1, 2), name="x"), "reps", True),
    ("adaptive-output_size",
     lambda: mx.sym.contrib.AdaptiveAvgPooling2D(data(), output_size=(2, 2), name="x"), "output_size", True),
    ("reshape-target_shape", lambda: mx.sym.Reshape(data(), shape=(0, -1), target_shape=(4, 64), name="x"),
     "target_shape", True),
    ("pool-global-stride", lambda: mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), global_pool=True, name="x"),
     "stride", False),
    ("transpose-axes", lambda: mx.sym.transpose(data(), axes=(0, 1, 3, 2), name="x"), "axes", False),
    ("pad-pad_width", lambda: mx.sym.Pad(data(), mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), name="x"),
     "pad_width", False),
    ("poolv1-stride", lambda: mx.sym.Pooling_v1(data(), kernel=(2, 2), stride=(2, 2), name="x"), "stride", False),
    ("deconv-stride", lambda: mx.sym.Deconvolution(data(), kernel=(3, 3), num_filter=2, stride=(2, 2), name="x"),
     "stride", False),
]


def with_none(symbol, key):
    document = json.loads(symbol.tojson())
    (node,) = [node for node in document["nodes"] if node["name"] == "x"]
    node["attrs"][key] = "None"
    return json.dumps(document)


def mxnet_accepts(text):
    """MXNet loads the symbol and runs it (infer_shape alone lets some bad tuples through)."""
    try:
        executor = mx.sym.load_json(text).simple_bind(mx.cpu(), data=SHAPE)
        executor.forward(data=mx.nd.ones(SHAPE))[0].wait_to_read()
    except (mx.base.MXNetError, RuntimeError):  # simple_bind raises its errors as RuntimeError
        return False
    return True


@pytest.mark.parametrize("build, key, accepted", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_none_as_mxnet_reads_it(tmp_path, build, key, accepted):
    symbol = build()
    args, aux = random_params(symbol, {"data": SHAPE})
    params = {name: value.asnumpy() for name, value in {**args, **aux}.items()}
    text = with_none(symbol, key)
    assert mxnet_accepts(text) is accepted
    path = tmp_path / "x-symbol.json"
    path.write_text(text)
    if accepted:
        convert_to_net(path, params, {"data": SHAPE})
        return
    with pytest.raises(ConversionError) as info:
        convert_to_net(path, params, {"data": SHAPE})
    message = str(info.value)
    assert "node 'x'" in message and len(message) < 300, message
    assert f"'{key}'" in message or f"{key} 'None'" in message, message

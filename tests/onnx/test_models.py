"""MXNet models converted to ONNX and run in onnxruntime against real MXNet (<= 1e-4 relative):
the gluon zoo set of tests/models, the SE-ResNet example, the traps of MXNet's own exporter, and
a dynamic batch at 1 and 4."""

import mxnet as mx
import numpy as np
import onnxruntime
import pytest
from models.test_gluon_zoo import MODELS, export_symbol

import mxnet2caffe
from mxnet2caffe.onnx import convert_to_onnx
from mxnet2caffe.verify.inputs import random_inputs

from harness import EXAMPLE, mxnet_forward, random_params

DATA = mx.sym.Variable("data")


@pytest.mark.slow
@pytest.mark.parametrize("name, size", MODELS, ids=[name for name, _ in MODELS])
def test_gluon_vision_model(onnx_exactly, tmp_path, name, size):
    sym = export_symbol(name, size, tmp_path)
    errors = onnx_exactly(sym, {"data": (1, 3, size, size)})
    assert len(errors) == 1


@pytest.mark.parametrize("form", ["stock", "native"])
@pytest.mark.parametrize("dynamic_batch", [False, True])
def test_se_resnet_example(tmp_path, form, dynamic_batch):
    """The bundled SE-ResNet with its trained weights; the SE blocks' broadcast_mul in either form."""
    symbol, params = f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params"
    options = mxnet2caffe.ConvertOptions(forms={"broadcast_mul": form})
    convert_to_onnx(symbol, params, {"data": (1, 1, 108, 108)}, tmp_path / "se", options, dynamic_batch=dynamic_batch)
    session = onnxruntime.InferenceSession(str(tmp_path / "se.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 4) if dynamic_batch else (1,):
        inputs = random_inputs({"data": (batch, 1, 108, 108)}, seed=batch)
        (want,) = mxnet_forward(symbol, params, inputs)
        (got,) = session.run(None, inputs)
        assert got.shape == want.shape == (batch, 64)
        assert np.abs(got - want).max() / np.abs(want).max() <= 1e-4


def test_fix_gamma_batch_norm_ignores_the_stored_gamma(onnx_exactly):
    """fix_gamma=True: MXNet uses gamma = 1 whatever is stored (here 3.0, which MXNet's own
    exporter multiplies in)."""
    sym = mx.sym.BatchNorm(mx.sym.Convolution(DATA, kernel=(3, 3), num_filter=4, name="conv"), fix_gamma=True, name="bn")
    args, aux = random_params(sym, {"data": (1, 3, 8, 8)})
    args["bn_gamma"] = mx.nd.full((4,), 3.0)
    onnx_exactly(sym, {"data": (1, 3, 8, 8)}, args=args, aux=aux)


# (kernel, stride, pad, H, W) where MXNet's rounding down and Caffe's rounding up differ
FLOOR_NOT_CEIL = [((3, 3), (2, 2), (0, 0), 8, 8), ((3, 3), (2, 2), (1, 1), 6, 7), ((3, 2), (3, 2), (1, 0), 9, 7)]


@pytest.mark.parametrize("profile", ["portable", "opencv"])
@pytest.mark.parametrize("pool_type", ["max", "avg"])
@pytest.mark.parametrize("kernel, stride, pad, height, width", FLOOR_NOT_CEIL)
def test_pooling_rounded_down(onnx_exactly, profile, pool_type, kernel, stride, pad, height, width):
    """portable: Pooling + Crop; opencv: one Pooling with ceil_mode: false."""
    sym = mx.sym.Pooling(DATA, kernel=kernel, stride=stride, pad=pad, pool_type=pool_type, pooling_convention="valid")
    onnx_exactly(sym, {"data": (1, 2, height, width)}, mxnet2caffe.ConvertOptions(profile=profile))


@pytest.mark.parametrize("pool_type, count_include_pad", [("max", True), ("avg", True), ("avg", False)])
def test_pooling_full_convention(onnx_exactly, pool_type, count_include_pad):
    sym = mx.sym.Pooling(DATA, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type=pool_type,
                         pooling_convention="full", count_include_pad=count_include_pad)
    onnx_exactly(sym, {"data": (1, 2, 8, 9)})


def _classifier():
    conv = mx.sym.Convolution(DATA, kernel=(3, 3), pad=(1, 1), num_filter=8, num_group=2, name="conv")
    act = mx.sym.LeakyReLU(mx.sym.BatchNorm(conv, fix_gamma=False, name="bn"), act_type="prelu", name="prelu")
    pool = mx.sym.Pooling(act, kernel=(2, 2), stride=(2, 2), pool_type="avg")
    fc = mx.sym.FullyConnected(pool, num_hidden=10, name="fc")
    return mx.sym.softmax(fc, axis=1)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("fuse_bn", [False, True])
def test_dynamic_batch_at_1_and_4(onnx_exactly, opset, fuse_bn):
    onnx_exactly(_classifier(), {"data": (1, 4, 10, 10)}, mxnet2caffe.ConvertOptions(fuse_bn=fuse_bn), dynamic_batch=True, opset=opset)


OPS = {
    "deconvolution_cut": lambda: mx.sym.Deconvolution(DATA, kernel=(4, 4), stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=3, name="deconv"),
    "fully_connected_no_flatten": lambda: mx.sym.FullyConnected(DATA, num_hidden=5, flatten=False, name="fc"),
    "se_gate_broadcast": lambda: mx.sym.broadcast_mul(DATA, mx.sym.sigmoid(mx.sym.mean(DATA, axis=(2, 3), keepdims=True))),
    "broadcast_add_sub_div": lambda: mx.sym.broadcast_div(
        mx.sym.broadcast_sub(mx.sym.broadcast_add(DATA, mx.sym.max(DATA, axis=1, keepdims=True)), mx.sym.mean(DATA, axis=3, keepdims=True)),
        mx.sym.exp(mx.sym.mean(DATA, axis=2, keepdims=True)),
    ),
    "elementwise": lambda: mx.sym.maximum(mx.sym.abs(DATA) * 2 + 1, mx.sym.elemwise_mul(DATA, mx.sym.tanh(DATA))),
    "activations": lambda: mx.sym.Concat(
        mx.sym.LeakyReLU(DATA, act_type="elu", slope=0.3), mx.sym.LeakyReLU(DATA, act_type="leaky", slope=0.2),
        mx.sym.Activation(DATA, act_type="softrelu"), mx.sym.log(mx.sym.abs(DATA) + 1), dim=1,
    ),
    "slice_and_transpose": lambda: mx.sym.transpose(mx.sym.slice_axis(DATA, axis=1, begin=1, end=3), axes=(0, 2, 3, 1)),
    "split_reshape_softmax": lambda: mx.sym.softmax(mx.sym.reshape(mx.sym.SliceChannel(DATA, num_outputs=2, axis=1)[1], shape=(0, -1, 2)), axis=-1),
    "lrn_instance_norm": lambda: mx.sym.InstanceNorm(mx.sym.LRN(DATA, nsize=3), name="inorm"),
}


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("name", list(OPS))
def test_ops(onnx_exactly, name, native):
    """Ops whose Caffe forms use the other layer types, stock and with every native layer."""
    from mxnet2caffe.caffe.native_layers import NATIVE_LAYERS

    forms = {layer.switch: "native" for layer in NATIVE_LAYERS} if native else {}
    onnx_exactly(OPS[name](), {"data": (1, 4, 6, 8)}, mxnet2caffe.ConvertOptions(forms=forms))


def test_cli_writes_a_checked_onnx_file(tmp_path):
    """`mxnet2caffe onnx PREFIX EPOCH ... -o OUT --dynamic-batch` writes OUT.onnx with batch axis 'N'."""
    import onnx

    from mxnet2caffe.cli import main

    argv = ["onnx", str(EXAMPLE), "0", "--input-shape", "data:1,1,108,108", "-o", str(tmp_path / "se"), "--dynamic-batch"]
    assert main(argv) == 0
    model = onnx.load(str(tmp_path / "se.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == ["N", 64]

"""Real Caffe (built by `mxnet2caffe build-caffe`) is found, imported and runs a net.
A missing build is a failure: the test command builds it first."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mxnet2caffe.runtimes import caffe_home

# the layer types that the converter emits
CONVERTER_LAYER_TYPES = {
    "Convolution", "Pooling", "BatchNorm", "Scale", "Slice", "Silence", "Eltwise", "InnerProduct",
}


@pytest.fixture(scope="module")
def caffe():
    return caffe_home.import_caffe()


def test_layer_types_registered(caffe):
    types = set(caffe.layer_type_list())
    assert CONVERTER_LAYER_TYPES <= types, sorted(CONVERTER_LAYER_TYPES - types)


CONV_NET = """
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 5 } } }
layer {
  name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param {
    num_output: 4 kernel_h: 3 kernel_w: 2 stride: 2 pad_h: 1 pad_w: 0
    weight_filler { type: "constant" value: 0.5 } bias_filler { type: "constant" value: 0.25 }
  }
}
"""


def numpy_conv(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    kh, kw = w.shape[2:]
    oh = (x.shape[2] - kh) // stride + 1
    ow = (x.shape[3] - kw) // stride + 1
    out = np.empty((x.shape[0], w.shape[0], oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


@pytest.fixture
def conv_net(caffe, tmp_path):
    prototxt = tmp_path / "tiny.prototxt"
    prototxt.write_text(CONV_NET)
    caffe.set_mode_cpu()
    return caffe.Net(str(prototxt), caffe.TEST)


def test_constant_filler_convolution(conv_net):
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 5)).astype(np.float32)
    conv_net.blobs["data"].data[...] = x
    out = conv_net.forward()["conv"]
    w = np.full((4, 3, 3, 2), 0.5)
    np.testing.assert_allclose(out, numpy_conv(x, w, 0.25, 2, (1, 0)), rtol=1e-5, atol=1e-5)


def test_convolution_with_set_weights(conv_net):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    conv_net.params["conv"][0].data[...] = w
    conv_net.params["conv"][1].data[...] = b
    x = rng.normal(size=(2, 3, 6, 5)).astype(np.float32)
    out = conv_net.forward(data=x)["conv"]
    assert out.shape == (2, 4, 3, 2)
    expected = numpy_conv(x.astype(np.float64), w, b.reshape(1, 4), 2, (1, 0))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_default_home_honours_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tag = f"caffe-brocolli-9.0.2-py{sys.version_info[0]}{sys.version_info[1]}"
    assert caffe_home.default_home() == tmp_path / "mxnet2caffe" / tag
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert caffe_home.default_home() == Path.home() / ".cache" / "mxnet2caffe" / tag


def test_missing_caffe_names_the_build_command(tmp_path):
    """In a fresh interpreter with no Caffe to find, the error says how to build one."""
    code = (
        "import sys; sys.modules['caffe'] = None\n"  # nothing importable as caffe
        "from mxnet2caffe.runtimes import caffe_home\n"
        "from mxnet2caffe.errors import RuntimeMissingError\n"
        "try:\n    caffe_home.import_caffe()\n"
        "except RuntimeMissingError as exc:\n    print(exc)\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop(caffe_home.ENV_VAR, None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "-m mxnet2caffe build-caffe" in result.stdout, result.stdout + result.stderr
    env[caffe_home.ENV_VAR] = str(tmp_path / "nowhere")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert caffe_home.ENV_VAR in result.stdout, result.stdout + result.stderr

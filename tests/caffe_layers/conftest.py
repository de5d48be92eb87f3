"""Real pycaffe with the layer plugin loaded, and a writer of small nets using MXBroadcastMul."""

from pathlib import Path
from typing import Callable

import pytest
from native_nets import broadcast_mul_prototxt

from mxnet2caffe.caffe_layers import load
from mxnet2caffe.verify.caffe_home import import_caffe


@pytest.fixture(scope="session")
def caffe():
    load()
    module = import_caffe()
    module.set_mode_cpu()
    return module


@pytest.fixture
def write_net(tmp_path) -> Callable[..., Path]:
    """Writes broadcast_mul_prototxt(...) to a file and returns its path."""

    def write(x_shape, s_shape, **kwargs) -> Path:
        path = tmp_path / "net.prototxt"
        path.write_text(broadcast_mul_prototxt(x_shape, s_shape, **kwargs))
        return path

    return write

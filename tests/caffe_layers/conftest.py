"""Real pycaffe with the layer plugin loaded, and a writer of small nets using the native layers."""

from pathlib import Path
from typing import Callable

import pytest

from mxnet2caffe.caffe_layers import load
from mxnet2caffe.runtimes.caffe_home import import_caffe

from native_nets import broadcast_prototxt


@pytest.fixture(scope="session")
def caffe():
    load()
    module = import_caffe()
    module.set_mode_cpu()
    return module


@pytest.fixture
def write_net(tmp_path) -> Callable[..., Path]:
    """Writes broadcast_prototxt(...) to a file and returns its path."""

    def write(a_shape, b_shape, **kwargs) -> Path:
        path = tmp_path / "net.prototxt"
        path.write_text(broadcast_prototxt(a_shape, b_shape, **kwargs))
        return path

    return write

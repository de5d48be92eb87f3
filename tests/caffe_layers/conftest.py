"""Real pycaffe with the layer plugin loaded, and a writer of small nets using the native layers."""

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from mxnet2caffe.caffe_layers import CAFFE_TREE_FILES, copy_into_caffe_tree, load
from mxnet2caffe.caffe_layers.build import resolve_caffe_home
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


# Caffe's own flags (Makefile: -Wall -Wno-sign-compare; C++11 is the oldest standard it builds with)
CAFFE_CXXFLAGS = ["-std=c++11", "-O2", "-fPIC", "-DCPU_ONLY", "-Wall", "-Wno-sign-compare", "-Werror"]


@pytest.fixture(scope="session")
def caffe_tree(tmp_path_factory) -> Path:
    """A Caffe source tree's layout: the reference build's headers, an empty src/caffe/."""
    root = tmp_path_factory.mktemp("caffe_tree")
    shutil.copytree(resolve_caffe_home() / "include", root / "include")
    (root / "src" / "caffe" / "layers").mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def objects(caffe_tree) -> list:
    """Every native layer source copied into the tree and compiled with only its include/ on the
    path, as a Caffe build would: the object files."""
    written = copy_into_caffe_tree(caffe_tree)
    assert sorted(written) == sorted(caffe_tree / path for path in CAFFE_TREE_FILES.values())
    compiled = []
    for source in sorted((caffe_tree / "src").rglob("*.cpp")):
        target = source.with_suffix(".o")
        result = subprocess.run(
            ["g++", *CAFFE_CXXFLAGS, f"-I{caffe_tree / 'include'}", "-c", str(source), "-o", str(target)],
            capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stderr
        compiled.append(target)
    return compiled

"""`pip wheel .` ships the layer sources (mxnet2caffe/native_src/), and the installed package
builds the plugin from them, as a pip user would, against the reference Caffe."""

import os
import sys
import zipfile

import pytest

from mxnet2caffe.caffe_layers import CAFFE_TREE_FILES, LIBRARY_NAME
from mxnet2caffe.caffe_layers.build import resolve_caffe_home

from harness import ROOT, run


@pytest.mark.slow
def test_installed_package_builds_the_plugin_from_its_own_sources(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("mxnet2caffe-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"mxnet2caffe/native_src/{source}" for source in CAFFE_TREE_FILES}
    shipped |= {"mxnet2caffe/native_src/caffe_layers/CMakeLists.txt", "mxnet2caffe/native_src/caffe_layers/README.md"}
    assert shipped <= names, sorted(shipped - names)

    site = tmp_path / "site"
    run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel)
    code = (
        "import sys; from pathlib import Path; from mxnet2caffe.caffe_layers import build_plugin, native_sources; "
        "assert native_sources() == Path(sys.argv[1]) / 'mxnet2caffe' / 'native_src', native_sources(); "
        "print(build_plugin(sys.argv[2]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    library = run(sys.executable, "-c", code, site, resolve_caffe_home(), cwd=tmp_path, env=env).strip()
    assert library.startswith(str(tmp_path / "cache" / "mxnet2caffe" / "layers-")) and library.endswith(LIBRARY_NAME)
    assert os.path.isfile(library)

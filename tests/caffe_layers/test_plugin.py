"""Building and loading the plugin library: the type gets registered, loading twice is safe,
builds are cached, and failures are ConversionErrors that show what went wrong."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mxnet2caffe import ConversionError
from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
from mxnet2caffe.caffe_layers import (
    LIBRARY_NAME,
    CaffeHomeError,
    PluginBuildError,
    build_plugin,
    load,
)
from mxnet2caffe.caffe_layers.build import resolve_caffe_home
from mxnet2caffe.caffe_layers.opencv import OPENCV_LAYERS


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ)  # the package under test, as the parent process imports it
    command = [sys.executable, "-c", textwrap.dedent(code), *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment)


def test_plugin_registers_every_native_type(caffe):
    assert NATIVE_LAYER_TYPES <= set(caffe.layer_type_list())
    assert set(OPENCV_LAYERS) == NATIVE_LAYER_TYPES


def test_load_twice_gives_the_same_library(caffe):
    first = load()
    assert first is not None and first.name == LIBRARY_NAME
    assert load() == first == build_plugin()


def test_load_twice_in_a_fresh_process():
    result = run_python(
        """
        from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
        from mxnet2caffe.caffe_layers import load
        first, second = load(), load()
        import caffe
        assert first == second, (first, second)
        print(" ".join(sorted(set(caffe.layer_type_list()) & NATIVE_LAYER_TYPES)))
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == sorted(NATIVE_LAYER_TYPES)


def test_load_leaves_a_caffe_that_has_the_types_alone():
    """As with a Caffe built with the sources copied in: here the plugin is loaded behind
    load()'s back first, which a second registration would abort."""
    result = run_python(
        """
        import ctypes, os
        from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
        from mxnet2caffe.caffe_layers import build_plugin, load
        from mxnet2caffe.runtimes.caffe_home import import_caffe
        caffe = import_caffe()
        ctypes.CDLL(str(build_plugin()), mode=os.RTLD_GLOBAL)
        assert load() is None
        print(NATIVE_LAYER_TYPES <= set(caffe.layer_type_list()))
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"


def test_build_is_cached_and_force_rebuilds(tmp_path, monkeypatch):
    home = resolve_caffe_home()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    library = build_plugin(home)
    assert library.parent.parent == tmp_path / "cache" / "mxnet2caffe"
    assert library.parent.name.startswith(f"layers-{home.name}-")
    built = library.stat().st_mtime_ns
    assert build_plugin(home) == library and library.stat().st_mtime_ns == built
    assert build_plugin(home, force=True) == library and library.stat().st_mtime_ns != built
    assert [path.name for path in library.parent.parent.iterdir() if path.is_dir()] == [library.parent.name]


def test_no_caffe_home(tmp_path):
    with pytest.raises(CaffeHomeError, match="lacks include/caffe/layer.hpp"):
        build_plugin(tmp_path)
    assert issubclass(CaffeHomeError, ConversionError)


def fake_home(tmp_path: Path, layer_hpp: str) -> Path:
    """A Caffe home whose layer.hpp is `layer_hpp` and the rest the reference build's."""
    home = tmp_path / "home"
    shutil.copytree(resolve_caffe_home() / "include", home / "include")
    (home / "include" / "caffe" / "layer.hpp").write_text(layer_hpp)
    (home / "lib").mkdir()
    shutil.copy(resolve_caffe_home() / "lib" / "libcaffe.so", home / "lib")
    return home


def test_compiler_failure_shows_the_compiler_output(tmp_path, monkeypatch):
    home = fake_home(tmp_path, '#error "this layer.hpp is broken"\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(PluginBuildError) as failure:
        build_plugin(home)
    message = str(failure.value)
    assert f"compiling the Caffe layers against {home}" in message
    assert "this layer.hpp is broken" in message
    assert not list((tmp_path / "cache" / "mxnet2caffe").glob("layers-*"))


def test_no_cmake(tmp_path, monkeypatch):
    home = resolve_caffe_home()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PluginBuildError, match="needs CMake"):
        build_plugin(home)


def test_load_refuses_a_home_other_than_the_running_caffe(tmp_path):
    """The plugin must link the libcaffe.so that pycaffe runs: one registry per library."""
    home = fake_home(tmp_path, (resolve_caffe_home() / "include" / "caffe" / "layer.hpp").read_text())
    result = run_python(
        """
        import sys
        from mxnet2caffe.caffe_layers import NativeLayerError, load
        try:
            load(sys.argv[1])
        except NativeLayerError as error:
            print(error)
        """,
        str(home),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"layers built against {home} cannot load into it" in result.stdout


def test_unwritable_cache(tmp_path, monkeypatch):
    home = resolve_caffe_home()
    (tmp_path / "cache").write_text("a file where the cache dir would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(PluginBuildError, match="cannot write the Caffe layers to"):
        build_plugin(home)

"""The second way into a Caffe: the sources copied into a Caffe source tree compile there with
only that tree's include/ on the path (as Caffe's CMake and Makefile builds compile them), and
the objects, linked into a library, give a Caffe with the native layer types built in."""

import os
import subprocess
import sys
import textwrap

import pytest

from mxnet2caffe.caffe_layers import NativeLayerError, copy_into_caffe_tree
from mxnet2caffe.caffe_layers.build import resolve_caffe_home


def test_the_layer_header_needs_only_caffe_headers(caffe_tree, objects):
    header = (caffe_tree / "include" / "caffe" / "layers" / "mx_broadcast_layer.hpp").read_text()
    includes = [line.split()[1].strip('"<>') for line in header.splitlines() if line.startswith("#include")]
    assert all(name.startswith("caffe/") or "/" not in name for name in includes), includes


def test_objects_define_the_layer_for_float_and_double(objects):
    symbols = subprocess.run(["nm", "-C", *map(str, objects)], capture_output=True, text=True, check=True).stdout
    for dtype in ("float", "double"):
        assert f"caffe::MXBroadcastLayer<{dtype}>::Forward_cpu" in symbols
        for name in ("Mul", "Add", "Sub", "Div"):
            assert f"caffe::MXBroadcast{name}Layer<{dtype}>::MXBroadcast{name}Layer" in symbols
        assert f"mxnet2caffe::broadcast_backward<{dtype}>" in symbols


def test_a_caffe_with_the_objects_built_in_runs_the_layer(tmp_path, objects):
    """The objects linked into a library stand for a rebuilt libcaffe; load() then sees the type
    and loads no plugin (which would abort Caffe with a second registration)."""
    home = resolve_caffe_home()
    library = tmp_path / "libbuilt_in_layers.so"
    subprocess.run(
        ["g++", "-shared", "-o", str(library), *map(str, objects), f"-L{home}/lib", "-lcaffe", "-lglog",
         f"-Wl,-rpath,{home}/lib"],
        check=True, capture_output=True,
    )
    code = textwrap.dedent(
        """
        import ctypes, os, sys
        import numpy as np
        from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
        from mxnet2caffe.caffe_layers import load
        from mxnet2caffe.runtimes.caffe_home import import_caffe
        caffe = import_caffe()
        ctypes.CDLL(sys.argv[1], mode=os.RTLD_GLOBAL)
        assert load() is None
        assert NATIVE_LAYER_TYPES <= set(caffe.layer_type_list())
        with open(sys.argv[2], "w") as net:
            net.write('''
        layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }
        layer { name: "s" type: "Input" top: "s" input_param { shape { dim: 2 dim: 3 dim: 1 dim: 1 } } }
        layer { name: "y" type: "MXBroadcastMul" bottom: "x" bottom: "s" top: "y" }
        layer { name: "z" type: "MXBroadcastDiv" bottom: "s" bottom: "x" top: "z" }
        ''')
        net = caffe.Net(sys.argv[2], caffe.TEST)
        x, s = np.random.rand(2, 3, 4, 5).astype(np.float32) + 0.5, np.random.rand(2, 3, 1, 1).astype(np.float32)
        out = net.forward(x=x, s=s)
        assert np.array_equal(out["y"], x * s) and np.array_equal(out["z"], s / x)
        print("ok")
        """
    )
    env = dict(os.environ)  # the package under test, as the parent process imports it
    result = subprocess.run(
        [sys.executable, "-c", code, str(library), str(tmp_path / "net.prototxt")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_copy_needs_a_caffe_tree(tmp_path):
    with pytest.raises(NativeLayerError, match="not a Caffe source tree"):
        copy_into_caffe_tree(tmp_path)

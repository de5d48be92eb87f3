"""The MXTranspose layer in real Caffe (the reference build with the plugin loaded) and in OpenCV
DNN (the Python custom layer over the same kernel): forward against numpy (bit for bit: a
transpose only copies), backward against numpy and by finite differences, the double-precision
layer from a C++ program, nets that must stop with a clear message, and the sources compiled
into a Caffe source tree.

The axis order travels as reshape_param { shape { dim: ... } }, a BVLC field that Caffe parses
for every layer type and that OpenCV's importer hands to the custom layer as params["dim"]."""

import itertools
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import pytest

from mxnet2caffe.caffe_layers import build_plugin, register_opencv_layers
from mxnet2caffe.caffe_layers.build import resolve_caffe_home

HERE = Path(__file__).resolve().parent

# (shape, order): every order of ranks 2 to 4 on odd sizes, and longer ones seen in models
CASES = [
    *(((3, 5), order) for order in itertools.permutations(range(2))),
    *(((3, 5, 7), order) for order in itertools.permutations(range(3))),
    *(((2, 3, 5, 7), order) for order in itertools.permutations(range(4))),
    ((2, 3, 4, 5, 7), (0, 2, 1, 3, 4)),  # ShuffleNet's channel shuffle
    ((1, 3, 1, 5, 2), (4, 2, 0, 1, 3)),  # axes of size 1 among them
    ((2, 3, 2, 3, 2, 3), (5, 3, 1, 4, 2, 0)),
]


def case_id(case) -> str:
    shape, order = case
    return "x".join(map(str, shape)) + "-by-" + "".join(map(str, order))


each_case = pytest.mark.parametrize("case", CASES, ids=case_id)


def transpose_prototxt(shape, order, top: str = "y", order_param: Optional[str] = None) -> str:
    """Input x and one MXTranspose layer y; `order_param`, if given, replaces the reshape_param of `order`."""
    dims = " ".join(f"dim: {dim}" for dim in shape)
    if order_param is None:
        order_param = "reshape_param { shape { " + " ".join(f"dim: {axis}" for axis in order) + " } }"
    return (
        'name: "mx_transpose"\nforce_backward: true\n'
        f'layer {{ name: "x" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
        f'layer {{ name: "y" type: "MXTranspose" bottom: "x" top: "{top}" {order_param} }}\n'
    )


def random_array(shape, seed: int, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.fixture
def make_net(caffe, tmp_path):
    def make(shape, order):
        path = tmp_path / "net.prototxt"
        path.write_text(transpose_prototxt(shape, order))
        return caffe.Net(str(path), caffe.TEST)

    return make


def run_backward(net, x, dy):
    net.blobs["x"].data[...] = x
    net.forward()
    net.blobs["y"].diff[...] = dy
    net.backward()
    return net.blobs["x"].diff.copy()


@each_case
def test_caffe_forward_and_backward_match_numpy(make_net, case):
    shape, order = case
    net = make_net(shape, order)
    x = random_array(shape, seed=0)
    y = net.forward(x=x)["y"]
    np.testing.assert_array_equal(y, x.transpose(order))
    dy = random_array(y.shape, seed=1)
    # the gradient of a transpose is the gradient transposed back
    np.testing.assert_array_equal(run_backward(net, x, dy), dy.transpose(np.argsort(order)))


@pytest.mark.parametrize("case", [CASES[1], CASES[10], CASES[-3], CASES[-1]], ids=case_id)
def test_caffe_backward_matches_finite_differences(make_net, case):
    shape, order = case
    net = make_net(shape, order)
    x = random_array(shape, seed=2)
    dy = random_array(x.transpose(order).shape, seed=3)
    analytic = run_backward(net, x, dy)
    eps = 1e-2
    for index in np.random.default_rng(4).choice(x.size, size=min(x.size, 12), replace=False):
        sums = []
        for step in (eps, -eps):
            moved = x.copy()
            moved.flat[index] += step
            sums.append(np.sum(net.forward(x=moved)["y"].astype(np.float64) * dy))
        numeric = (sums[0] - sums[1]) / (2 * eps)
        np.testing.assert_allclose(analytic.flat[index], numeric, rtol=1e-3, atol=1e-3, err_msg=str(index))


@pytest.fixture(scope="module")
def double_program(tmp_path_factory):
    """run_transpose_double.cpp: Caffe's Layer<double>, the plugin linked as a C++ application would."""
    home = resolve_caffe_home()
    library = build_plugin()
    program = tmp_path_factory.mktemp("program") / "run_transpose_double"
    subprocess.run(
        ["g++", "-std=c++14", "-DCPU_ONLY", f"-I{home}/include", str(HERE / "run_transpose_double.cpp"), "-o",
         str(program), f"-L{library.parent}", "-Wl,--no-as-needed", "-lmxnet2caffe_layers", "-Wl,--as-needed",
         f"-L{home}/lib", "-lcaffe", "-lglog", "-lprotobuf", f"-Wl,-rpath,{library.parent}:{home}/lib"],
        check=True, capture_output=True,
    )
    return program


def run_double(program, directory, shape, order, x, dy, propagate=True):
    x.tofile(directory / "x")
    dy.tofile(directory / "dy")
    subprocess.run(
        [str(program), ",".join(map(str, shape)), ",".join(map(str, order)), "1" if propagate else "0", str(directory)],
        check=True, capture_output=True,
    )
    return np.fromfile(directory / "y"), np.fromfile(directory / "dx")


@each_case
def test_double_precision_layer(double_program, tmp_path, case):
    shape, order = case
    x = random_array(shape, seed=5, dtype=np.float64)
    dy = random_array(x.transpose(order).shape, seed=6, dtype=np.float64)
    y, dx = run_double(double_program, tmp_path, shape, order, x, dy)
    np.testing.assert_array_equal(y, x.transpose(order).ravel())
    np.testing.assert_array_equal(dx, dy.transpose(np.argsort(order)).ravel())


def test_double_backward_not_propagated_leaves_the_diff(double_program, tmp_path):
    """The program fills the bottom diff with 7 before Backward."""
    shape, order = (2, 3, 5, 7), (0, 2, 3, 1)
    x = random_array(shape, seed=7, dtype=np.float64)
    dy = random_array(x.transpose(order).shape, seed=8, dtype=np.float64)
    _, dx = run_double(double_program, tmp_path, shape, order, x, dy, propagate=False)
    np.testing.assert_array_equal(dx, np.full(x.size, 7.0))


@pytest.mark.parametrize(
    "top, order_param, message",
    [
        ("y", "reshape_param { shape { dim: 0 dim: 2 dim: 1 } }",
         "MXTranspose layer y: cannot transpose (2,3,4,5) by (0,2,1): the order has 3 axes and the tensor 4"),
        ("y", "reshape_param { shape { dim: 0 dim: 2 dim: 2 dim: 1 } }",
         "MXTranspose layer y: cannot transpose (2,3,4,5) by (0,2,2,1): it is not an order of the axes 0..3, each once"),
        ("y", "reshape_param { shape { dim: 0 dim: 4 dim: 2 dim: 1 } }", "it is not an order of the axes 0..3"),
        ("y", "", "MXTranspose layer y needs its axis order, and only that, as reshape_param { shape { dim: ... } }"),
        ("y", "reshape_param { shape { dim: 0 dim: 2 dim: 3 dim: 1 } axis: 1 }",
         "MXTranspose layer y needs its axis order, and only that, as reshape_param { shape { dim: ... } }"),
        ("x", "reshape_param { shape { dim: 0 dim: 2 dim: 3 dim: 1 } }", "MXTranspose layer y cannot compute in place"),
    ],
)
def test_bad_nets_stop_caffe_with_a_clear_message(tmp_path, top, order_param, message):
    prototxt = tmp_path / "bad.prototxt"
    prototxt.write_text(transpose_prototxt((2, 3, 4, 5), (), top=top, order_param=order_param))
    code = (
        "import sys; from mxnet2caffe.caffe_layers import load; load(); import caffe; "
        "caffe.Net(sys.argv[1], caffe.TEST)"
    )
    # a fresh process: Caffe aborts on a failed CHECK
    result = subprocess.run([sys.executable, "-c", code, str(prototxt)], capture_output=True, text=True,
                            env=dict(os.environ))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]


def opencv_forward(prototxt: Path, x: np.ndarray) -> np.ndarray:
    net = cv2.dnn.readNetFromCaffe(str(prototxt))
    net.setInput(x, "x")
    return net.forward("y")


def opencv_case(case):
    """A 3-d case as the converter emits it for OpenCV: on a 4-d view with a trailing axis of 1
    (test_opencv_cannot_take_3d_blobs_from_python_layers)."""
    shape, order = case
    return (tuple(shape) + (1,), tuple(order) + (3,)) if len(shape) == 3 else case


@pytest.mark.parametrize("case", [opencv_case(case) for case in CASES], ids=case_id)
def test_opencv_matches_numpy(tmp_path, case):
    register_opencv_layers()
    shape, order = case
    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(transpose_prototxt(shape, order))
    x = random_array(shape, seed=9)
    np.testing.assert_array_equal(opencv_forward(prototxt, x), x.transpose(order))


def test_opencv_cannot_take_3d_blobs_from_python_layers(tmp_path):
    """OpenCV 4.11's Python binding reads a 3-d array whose last axis is at most 512 long as a 2-d
    image with channels, so a Python layer's 3-d output never matches the blob it should fill;
    the converter gives the native layer a trailing axis of 1 instead. If this test fails, OpenCV
    has lifted the limit and that Reshape pair can go."""
    register_opencv_layers()
    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(transpose_prototxt((3, 5, 7), (1, 0, 2)))
    with pytest.raises(cv2.error, match=re.escape("pyOutputs[i].size == outputs[i].size")):
        opencv_forward(prototxt, random_array((3, 5, 7), seed=10))


def test_opencv_refuses_an_order_that_does_not_fit(tmp_path, caplog):
    register_opencv_layers()
    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(transpose_prototxt((2, 3, 4, 5), (0, 2, 1)))
    with pytest.raises(cv2.error, match="getMemoryShapes"):
        opencv_forward(prototxt, np.zeros((2, 3, 4, 5), np.float32))
    assert "MXTranspose: cannot transpose (2,3,4,5) by (0,2,1): the order has 3 axes and the tensor 4" in caplog.text


@pytest.mark.parametrize("order_param", ["", "reshape_param { shape { dim: 0 dim: 2 dim: 3 dim: 1 } num_axes: 2 }"])
def test_opencv_refuses_a_layer_without_its_order(tmp_path, caplog, order_param):
    register_opencv_layers()
    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(transpose_prototxt((2, 3, 4, 5), (), order_param=order_param))
    with pytest.raises(cv2.error):
        opencv_forward(prototxt, np.zeros((2, 3, 4, 5), np.float32))
    assert "MXTranspose: needs its axis order, and only that, as reshape_param { shape { dim: ... } }" in caplog.text


def test_the_layer_header_needs_only_caffe_and_standard_headers(caffe_tree, objects):
    header = (caffe_tree / "include" / "caffe" / "layers" / "mx_transpose_layer.hpp").read_text()
    includes = [line.split()[1].strip('"<>') for line in header.splitlines() if line.startswith("#include")]
    assert includes and all(name.startswith("caffe/") or "/" not in name for name in includes), includes


def test_tree_objects_define_the_layer_for_float_and_double(objects):
    symbols = subprocess.run(["nm", "-C", *map(str, objects)], capture_output=True, text=True, check=True).stdout
    for dtype in ("float", "double"):
        for method in ("LayerSetUp", "Reshape", "Forward_cpu", "Backward_cpu"):
            assert f"caffe::MXTransposeLayer<{dtype}>::{method}" in symbols
        assert f"mxnet2caffe::transpose_forward<{dtype}>" in symbols


def test_a_caffe_with_the_tree_objects_built_in_runs_the_layer(tmp_path, objects):
    """The objects linked into a library stand for a rebuilt libcaffe: load() then loads no plugin."""
    home = resolve_caffe_home()
    library = tmp_path / "libbuilt_in_layers.so"
    subprocess.run(
        ["g++", "-shared", "-o", str(library), *map(str, objects), f"-L{home}/lib", "-lcaffe", "-lglog",
         f"-Wl,-rpath,{home}/lib"],
        check=True, capture_output=True,
    )
    (tmp_path / "net.prototxt").write_text(transpose_prototxt((2, 3, 4, 5, 7), (0, 2, 1, 3, 4)))
    code = textwrap.dedent(
        """
        import ctypes, os, sys
        import numpy as np
        from mxnet2caffe.caffe_layers import load
        from mxnet2caffe.runtimes.caffe_home import import_caffe
        caffe = import_caffe()
        ctypes.CDLL(sys.argv[1], mode=os.RTLD_GLOBAL)
        assert load() is None
        net = caffe.Net(sys.argv[2], caffe.TEST)
        x = np.random.rand(2, 3, 4, 5, 7).astype(np.float32)
        assert np.array_equal(net.forward(x=x)["y"], x.transpose(0, 2, 1, 3, 4))
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code, str(library), str(tmp_path / "net.prototxt")],
                            capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"

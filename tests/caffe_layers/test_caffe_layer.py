"""The native layers in real Caffe (the reference build with the plugin loaded), for every
operation and both operand orders: forward against numpy, backward against numpy and finite
differences, shape errors; and the double-precision layers and partial backward from a C++
program."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mxnet2caffe.caffe_layers import build_plugin
from mxnet2caffe.caffe_layers.build import resolve_caffe_home

from native_nets import (
    BROADCAST_SHAPES,
    OPERATIONS,
    bottom_shapes,
    broadcast_prototxt,
    each_order,
    each_shape,
    each_type,
    expected_gradients,
    random_bottoms,
    shape_ids,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture
def make_net(caffe, write_net):
    def make(a_shape, b_shape, layer_type):
        return caffe.Net(str(write_net(a_shape, b_shape, layer_type=layer_type)), caffe.TEST)

    return make


@each_order
@each_shape
@each_type
def test_forward_matches_numpy(make_net, layer_type, shapes, order):
    a_shape, b_shape = bottom_shapes(shapes, order)
    a, b = random_bottoms(layer_type, a_shape, b_shape)
    y = make_net(a_shape, b_shape, layer_type).forward(a=a, b=b)["y"]
    assert y.shape == shapes[0]
    np.testing.assert_array_equal(y, OPERATIONS[layer_type][0](a, b))  # one float32 operation per value


def run_backward(net, a, b, dy):
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    net.forward()
    net.blobs["y"].diff[...] = dy
    net.backward()
    return net.blobs["a"].diff.copy(), net.blobs["b"].diff.copy()


@each_order
@each_shape
@each_type
def test_backward_matches_numpy(make_net, layer_type, shapes, order):
    a_shape, b_shape = bottom_shapes(shapes, order)
    a, b = random_bottoms(layer_type, a_shape, b_shape)
    dy = np.random.default_rng(1).normal(size=shapes[0]).astype(np.float32)
    da, db = run_backward(make_net(a_shape, b_shape, layer_type), a, b, dy)
    want_a, want_b = expected_gradients(layer_type, a, b, dy)
    np.testing.assert_allclose(da, want_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, want_b, rtol=1e-5, atol=1e-5)


def numeric_gradient(net, a, b, dy, which, indices, eps=1e-2):
    """d/dv sum(y * dy) at the given flat indices of v (a or b) by central differences."""
    inputs = {"a": a, "b": b}
    grads = []
    for index in indices:
        values = []
        for step in (eps, -eps):
            moved = inputs[which].copy()
            moved.flat[index] += step
            y = net.forward(**{**inputs, which: moved})["y"]
            values.append(np.sum(y.astype(np.float64) * dy))
        grads.append((values[0] - values[1]) / (2 * eps))
    return np.array(grads)


@each_order
@pytest.mark.parametrize(
    "shapes", [BROADCAST_SHAPES[0], BROADCAST_SHAPES[2], BROADCAST_SHAPES[3], BROADCAST_SHAPES[6]], ids=shape_ids
)
@each_type
def test_backward_matches_finite_differences(make_net, layer_type, shapes, order):
    a_shape, b_shape = bottom_shapes(shapes, order)
    a, b = random_bottoms(layer_type, a_shape, b_shape, seed=2)
    dy = np.random.default_rng(3).normal(size=shapes[0]).astype(np.float32)
    net = make_net(a_shape, b_shape, layer_type)
    da, db = run_backward(net, a, b, dy)
    rng = np.random.default_rng(4)
    for which, analytic in (("a", da), ("b", db)):
        indices = rng.choice(analytic.size, size=min(analytic.size, 12), replace=False)
        numeric = numeric_gradient(net, a, b, dy, which, indices)
        np.testing.assert_allclose(analytic.flat[indices], numeric, rtol=1e-3, atol=2e-3, err_msg=which)


def caffe_net_in_subprocess(prototxt: Path) -> subprocess.CompletedProcess:
    """Builds the net in a fresh process: Caffe aborts on a failed CHECK."""
    code = (
        "import sys; from mxnet2caffe.caffe_layers import load; load(); import caffe; "
        "caffe.Net(sys.argv[1], caffe.TEST)"
    )
    env = dict(os.environ)  # the package under test, as the parent process imports it
    return subprocess.run([sys.executable, "-c", code, str(prototxt)], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "layer_type, a_shape, b_shape, top, message",
    [
        ("MXBroadcastMul", (2, 3, 4, 5), (2, 3, 2, 1), "y", "MXBroadcastMul layer y: cannot broadcast a (2,3,4,5) "
         "with b (2,3,2,1): axis 2 is 4 in a and 2 in b"),
        ("MXBroadcastAdd", (2, 3, 4, 5), (2, 3), "y", "a has 4 axes and b 2"),
        ("MXBroadcastSub", (2, 3, 1, 1), (1, 3, 4, 5), "y", "MXBroadcastSub layer y: cannot broadcast a (2,3,1,1) "
         "with b (1,3,4,5): both are stretched, a along axis 2 and b along axis 0"),
        ("MXBroadcastDiv", (2, 3, 4, 5), (2, 3, 1, 1), "a", "MXBroadcastDiv layer y cannot compute in place"),
    ],
)
def test_bad_nets_stop_with_a_clear_message(tmp_path, layer_type, a_shape, b_shape, top, message):
    prototxt = tmp_path / "bad.prototxt"
    prototxt.write_text(broadcast_prototxt(a_shape, b_shape, layer_type, top=top))
    result = caffe_net_in_subprocess(prototxt)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]


@pytest.fixture(scope="module")
def double_program(tmp_path_factory):
    """A C++ program that runs Caffe's Layer<double>, created through the registry, and links
    the plugin as a C++ Caffe application would (run_layer_double.cpp)."""
    home = resolve_caffe_home()
    library = build_plugin()
    program = tmp_path_factory.mktemp("program") / "run_layer_double"
    subprocess.run(
        ["g++", "-std=c++14", "-DCPU_ONLY", f"-I{home}/include", str(HERE / "run_layer_double.cpp"), "-o", str(program),
         f"-L{library.parent}", "-Wl,--no-as-needed", "-lmxnet2caffe_layers", "-Wl,--as-needed",
         f"-L{home}/lib", "-lcaffe", "-lglog", "-lprotobuf", f"-Wl,-rpath,{library.parent}:{home}/lib"],
        check=True, capture_output=True,
    )
    return program


def run_double(program, tmp_path, layer_type, a, b, dy, propagate=(True, True)):
    for name, value in (("a", a), ("b", b), ("dy", dy)):
        value.tofile(tmp_path / name)
    shapes = [",".join(map(str, value.shape)) for value in (a, b)]
    flags = "".join("1" if flag else "0" for flag in propagate)
    subprocess.run([str(program), layer_type, *shapes, flags, str(tmp_path)], check=True, capture_output=True)
    return {name: np.fromfile(tmp_path / name) for name in ("y", "da", "db")}


@each_order
@each_shape
@each_type
def test_double_precision_layer(double_program, tmp_path, layer_type, shapes, order):
    a, b = random_bottoms(layer_type, *bottom_shapes(shapes, order), seed=5, dtype=np.float64)
    dy = np.random.default_rng(6).normal(size=shapes[0])
    out = run_double(double_program, tmp_path, layer_type, a, b, dy)
    np.testing.assert_array_equal(out["y"], OPERATIONS[layer_type][0](a, b).ravel())
    want_a, want_b = expected_gradients(layer_type, a, b, dy)
    np.testing.assert_allclose(out["da"], want_a.ravel(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["db"], want_b.ravel(), rtol=1e-12, atol=1e-12)


@each_order
@pytest.mark.parametrize("propagate", [(True, False), (False, True)])
@each_type
def test_backward_to_one_bottom_leaves_the_other(double_program, tmp_path, layer_type, propagate, order):
    """The program fills both bottom diffs with 7 before Backward."""
    a, b = random_bottoms(layer_type, *bottom_shapes(BROADCAST_SHAPES[0], order), seed=7, dtype=np.float64)
    dy = np.random.default_rng(8).normal(size=BROADCAST_SHAPES[0][0])
    out = run_double(double_program, tmp_path, layer_type, a, b, dy, propagate)
    for name, wanted, propagated in zip(("da", "db"), expected_gradients(layer_type, a, b, dy), propagate):
        expected = wanted.ravel() if propagated else np.full(wanted.size, 7.0)
        np.testing.assert_allclose(out[name], expected, rtol=1e-12, atol=1e-12, err_msg=name)

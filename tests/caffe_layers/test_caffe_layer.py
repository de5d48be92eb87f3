"""MXBroadcastMul in real Caffe (the reference build with the plugin loaded): forward against
numpy, backward against numpy and finite differences, shape errors; and the double-precision
layer and partial backward from a C++ program."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from native_nets import BROADCAST_SHAPES, broadcast_mul_prototxt, shape_ids

from mxnet2caffe.caffe_layers import build_plugin
from mxnet2caffe.caffe_layers.build import resolve_caffe_home

HERE = Path(__file__).resolve().parent


def random_inputs(x_shape, s_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=x_shape).astype(np.float32), rng.normal(size=s_shape).astype(np.float32)


def reduce_to(values, shape):
    """Sums `values` over the axes where `shape` is 1 (what broadcasting spread)."""
    axes = tuple(axis for axis, dim in enumerate(shape) if dim == 1 and values.shape[axis] != 1)
    return values.sum(axis=axes, keepdims=True)


@pytest.fixture
def make_net(caffe, write_net):
    def make(x_shape, s_shape, **kwargs):
        return caffe.Net(str(write_net(x_shape, s_shape, **kwargs)), caffe.TEST)

    return make


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=shape_ids)
def test_forward_matches_numpy(make_net, shapes):
    x, s = random_inputs(*shapes)
    net = make_net(*shapes)
    y = net.forward(x=x, s=s)["y"]
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x * s)  # one float32 product per value: bit for bit


def run_backward(net, x, s, dy):
    net.blobs["x"].data[...] = x
    net.blobs["s"].data[...] = s
    net.forward()
    net.blobs["y"].diff[...] = dy
    net.backward()
    return net.blobs["x"].diff.copy(), net.blobs["s"].diff.copy()


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=shape_ids)
def test_backward_matches_numpy(make_net, shapes):
    x, s = random_inputs(*shapes)
    dy = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    dx, ds = run_backward(make_net(*shapes), x, s, dy)
    np.testing.assert_array_equal(dx, dy * s)
    expected = reduce_to(dy.astype(np.float64) * x, s.shape)
    np.testing.assert_allclose(ds, expected, rtol=1e-5, atol=1e-5)


def numeric_gradient(net, x, s, dy, which, indices, eps=1e-2):
    """d/dv sum(y * dy) at the given flat indices of v (x or s) by central differences."""
    inputs = {"x": x, "s": s}
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


@pytest.mark.parametrize(
    "shapes", [BROADCAST_SHAPES[0], BROADCAST_SHAPES[2], BROADCAST_SHAPES[3], BROADCAST_SHAPES[6]], ids=shape_ids
)
def test_backward_matches_finite_differences(make_net, shapes):
    x, s = random_inputs(*shapes, seed=2)
    dy = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    net = make_net(*shapes)
    dx, ds = run_backward(net, x, s, dy)
    rng = np.random.default_rng(4)
    for which, analytic in (("x", dx), ("s", ds)):
        indices = rng.choice(analytic.size, size=min(analytic.size, 12), replace=False)
        numeric = numeric_gradient(net, x, s, dy, which, indices)
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
    "x_shape, s_shape, top, message",
    [
        ((2, 3, 4, 5), (2, 3, 2, 1), "y", "MXBroadcastMul layer y: cannot broadcast s (2,3,2,1) to x (2,3,4,5): "
         "axis 2 is 2 in s and 4 in x"),
        ((2, 3, 4, 5), (2, 3), "y", "s has 2 axes and x 4"),
        ((2, 3, 4, 5), (2, 3, 1, 1), "x", "MXBroadcastMul layer y cannot compute in place"),
    ],
)
def test_bad_nets_stop_with_a_clear_message(tmp_path, x_shape, s_shape, top, message):
    prototxt = tmp_path / "bad.prototxt"
    prototxt.write_text(broadcast_mul_prototxt(x_shape, s_shape, top=top))
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


def run_double(program, tmp_path, x, s, dy, propagate=(True, True)):
    for name, value in (("x", x), ("s", s), ("dy", dy)):
        value.tofile(tmp_path / name)
    shapes = [",".join(map(str, value.shape)) for value in (x, s)]
    flags = "".join("1" if flag else "0" for flag in propagate)
    subprocess.run([str(program), *shapes, flags, str(tmp_path)], check=True, capture_output=True)
    return {name: np.fromfile(tmp_path / name) for name in ("y", "dx", "ds")}


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=shape_ids)
def test_double_precision_layer(double_program, tmp_path, shapes):
    x_shape, s_shape = shapes
    rng = np.random.default_rng(5)
    x, s, dy = rng.normal(size=x_shape), rng.normal(size=s_shape), rng.normal(size=x_shape)
    out = run_double(double_program, tmp_path, x, s, dy)
    np.testing.assert_array_equal(out["y"], (x * s).ravel())
    np.testing.assert_array_equal(out["dx"], (dy * s).ravel())
    np.testing.assert_allclose(out["ds"], reduce_to(dy * x, s_shape).ravel(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("propagate", [(True, False), (False, True)])
def test_backward_to_one_bottom_leaves_the_other(double_program, tmp_path, propagate):
    """The program fills both bottom diffs with 7 before Backward."""
    x_shape, s_shape = BROADCAST_SHAPES[0]
    rng = np.random.default_rng(6)
    x, s, dy = rng.normal(size=x_shape), rng.normal(size=s_shape), rng.normal(size=x_shape)
    out = run_double(double_program, tmp_path, x, s, dy, propagate)
    np.testing.assert_array_equal(out["dx"], (dy * s).ravel() if propagate[0] else 7)
    expected_ds = reduce_to(dy * x, s_shape).ravel() if propagate[1] else np.full(s.size, 7.0)
    np.testing.assert_allclose(out["ds"], expected_ds, rtol=1e-12, atol=1e-12)

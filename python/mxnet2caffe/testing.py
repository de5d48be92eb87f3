"""Test helpers for authors of Caffe layers (mxnet2caffe new-layer writes tests that use them).

One layer at a time, in the real runtimes. The layer is a mxnet2caffe.extend.Layer, as a converter
makes it (`layer("MyScale", {"power_param": {"scale": 2.0}})` is one with bottom x and top y), and
it runs in a net of its own whose inputs are its bottoms, written as the converter writes models
(weights in `blobs` go to the .caffemodel) and run by the runners `verify` uses:

- caffe_forward / caffe_backward: real Caffe (pycaffe). The layer library
  (mxnet2caffe.caffe_layers.load) is built with the sources of every user layer declared so far
  (import your plugin module first) and loaded once per process: Caffe cannot register a type
  twice, so a process that loaded a library without your layer cannot test it (run your tests in
  a process of their own).
- opencv_forward: OpenCV DNN, with the custom layer classes of mxnet2caffe's and the declared
  user layers registered. OpenCV's Python binding turns a 3-d array whose last axis is at most
  512 long into an image: give 4-d inputs.
- check_forward: both against expected values (numpy), by relative max error.
- check_gradients: a backward function against central differences of its forward function in
  float64, for the layer's own kernel (what `new-layer`'s plugin exposes through ctypes).
- check_caffe_backward: Caffe's Backward against central differences of Caffe's Forward, in
  float32 (Caffe's precision), hence a looser tolerance.

Errors are measured as verify measures them: relative max error = max|actual - expected| /
max|expected|, except that against all zeros the absolute error is taken.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .caffe.net import Layer, Net, Tensor
from .caffe.writer import caffemodel_bytes, prototxt_text
from .verify.backends import caffe_net, opencv_blobs
from .verify.compare import compare

Arrays = Sequence[np.ndarray]
# forward(inputs) -> outputs; backward(inputs, output diffs) -> input diffs
Forward = Callable[[List[np.ndarray]], Arrays]
Backward = Callable[[List[np.ndarray], List[np.ndarray]], Arrays]

RUNTIMES = ("caffe", "opencv")
DEFAULT_TOLERANCE = 1e-4  # mxnet2caffe's "exact"
# float32 central differences: eps 1e-2 keeps the rounding of Caffe's forward (~6e-8 |y| / eps)
# small; the truncation error is eps^2 |f'''| / 6, so curved functions need a smaller eps
CAFFE_EPS = 1e-2
CAFFE_GRADIENT_TOLERANCE = 1e-3
# float64 central differences: rounding ~1e-16 |y| / eps, truncation ~eps^2
KERNEL_EPS = 1e-6
KERNEL_GRADIENT_TOLERANCE = 1e-6


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """verify's relative max error (verify.compare), except against all zeros: there the
    absolute error, as a layer test often expects zeros (a masked or clipped output)."""
    comparison = compare("", actual, expected)
    return comparison.relative_error if np.any(expected) else comparison.max_abs_error


def assert_close(
    actual: np.ndarray, expected: np.ndarray, tolerance: float = DEFAULT_TOLERANCE, what: str = ""
) -> None:
    """Fails (AssertionError) when the relative max error exceeds `tolerance`."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    label = f"{what}: " if what else ""
    if actual.shape != expected.shape:
        raise AssertionError(f"{label}shape {actual.shape}, expected {expected.shape}")
    error = relative_error(actual, expected)
    if not error <= tolerance:  # NaN fails too
        worst = np.unravel_index(int(np.argmax(np.abs(actual.astype(np.float64) - expected))), actual.shape)
        raise AssertionError(
            f"{label}relative max error {error:.3g} > {tolerance:g}; worst at {tuple(map(int, worst))}: "
            f"{actual[worst]!r}, expected {expected[worst]!r}"
        )


def layer(
    type_: str,
    params: Optional[Mapping[str, Mapping[str, Any]]] = None,
    blobs: Sequence[np.ndarray] = (),
    bottoms: Sequence[str] = ("x",),
    tops: Sequence[str] = ("y",),
) -> Layer:
    """A layer of `type_` named after its first top, as a converter makes one: `params` are
    LayerParameter fields as nested dicts ({"power_param": {"scale": 2.0}}), `blobs` its weights."""
    weights = tuple(np.asarray(blob, np.float32) for blob in blobs)
    return Layer(tops[0], type_, tuple(bottoms), tuple(tops), dict(params or {}), weights)


def layer_net(tested: Layer, shapes: Mapping[str, Tuple[int, ...]]) -> Net:
    """The net of one layer: an input per bottom (name -> shape), the layer, its tops as outputs."""
    if sorted(shapes) != sorted(tested.bottoms):
        raise ValueError(f"inputs {sorted(shapes)} are not the bottoms {list(tested.bottoms)} of layer {tested.name}")
    return Net(
        name="layer_test",
        inputs=[Tensor(name, tuple(shapes[name])) for name in tested.bottoms],
        layers=[tested],
        outputs=[Tensor(top, ()) for top in tested.tops],
    )


def _write_net(
    tested: Layer, inputs: Mapping[str, np.ndarray], folder: Path, force_backward: bool
) -> Tuple[Path, Path]:
    """layer_net(...) as folder/net.prototxt and folder/net.caffemodel."""
    net = layer_net(tested, {name: np.shape(value) for name, value in inputs.items()})
    prototxt, caffemodel = folder / "net.prototxt", folder / "net.caffemodel"
    # without force_backward Caffe computes no diffs for a net's inputs (a NetParameter field)
    prototxt.write_text(prototxt_text(net) + ("force_backward: true\n" if force_backward else ""))
    caffemodel.write_bytes(caffemodel_bytes(net))
    return prototxt, caffemodel


def _caffe_net(tested: Layer, inputs: Mapping[str, np.ndarray], force_backward: bool = False) -> Any:
    """A pycaffe Net of the layer's net with the inputs set (in a process with the layer library)."""
    with tempfile.TemporaryDirectory(prefix="layer-test-") as folder:
        net = caffe_net(*_write_net(tested, inputs, Path(folder), force_backward))
    for name, value in inputs.items():
        net.blobs[name].data[...] = value
    return net


def caffe_forward(tested: Layer, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The tops of the layer run by real Caffe (pycaffe, CPU, float32) on `inputs` (bottom name
    -> array)."""
    net = _caffe_net(tested, inputs)
    net.forward()
    return {name: net.blobs[name].data.copy() for name in tested.tops}


def caffe_backward(
    tested: Layer, inputs: Mapping[str, np.ndarray], top_diffs: Mapping[str, np.ndarray]
) -> Dict[str, np.ndarray]:
    """The bottom diffs Caffe's Backward computes from `top_diffs` (top name -> diff) after a
    forward pass on `inputs`."""
    net = _caffe_net(tested, inputs, force_backward=True)
    net.forward()
    for name, diff in top_diffs.items():
        net.blobs[name].diff[...] = diff
    net.backward()
    return {name: net.blobs[name].diff.copy() for name in tested.bottoms}


def opencv_forward(tested: Layer, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The tops of the layer run by OpenCV DNN (CPU, float32, no layer fusion) on `inputs`."""
    with tempfile.TemporaryDirectory(prefix="layer-test-") as folder:
        prototxt, caffemodel = _write_net(tested, inputs, Path(folder), force_backward=False)
        return opencv_blobs(prototxt, caffemodel, inputs, list(tested.tops), fuse=False)


def check_forward(
    tested: Layer,
    inputs: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    tolerance: float = DEFAULT_TOLERANCE,
    runtimes: Sequence[str] = RUNTIMES,
) -> None:
    """Runs the layer in each runtime ("caffe", "opencv") and asserts that every top of
    `expected` (top name -> values, from numpy) is within `tolerance` relative max error."""
    runners = {"caffe": caffe_forward, "opencv": opencv_forward}
    for runtime in runtimes:
        if runtime not in runners:
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(runners)}")
        outputs = runners[runtime](tested, inputs)
        for name, values in expected.items():
            assert_close(outputs[name], values, tolerance, f"{tested.type} in {runtime}, top {name}")


def numeric_gradients(
    forward: Forward, inputs: Arrays, top_diffs: Arrays, eps: float, indices: Optional[Sequence[np.ndarray]] = None
) -> List[np.ndarray]:
    """d sum_k(outputs[k] * top_diffs[k]) / d inputs[i] by central differences with step `eps`,
    in the inputs' precision (the sums in float64); at the flat positions indices[i] of each
    input (default: all)."""
    grads = []
    for i, value in enumerate(inputs):
        positions = np.arange(value.size) if indices is None else indices[i]
        grad = np.empty(len(positions))
        for n, position in enumerate(positions):
            sums = []
            for step in (eps, -eps):
                moved = [array.copy() for array in inputs]
                moved[i].flat[position] += step
                outputs = zip(forward(moved), top_diffs)
                sums.append(sum(float(np.sum(np.asarray(out, np.float64) * diff)) for out, diff in outputs))
            grad[n] = (sums[0] - sums[1]) / (2 * eps)
        grads.append(grad)
    return grads


def _random_diffs(outputs: Arrays, seed: int) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=np.shape(out)).astype(np.asarray(out).dtype) for out in outputs]


def check_gradients(
    forward: Forward,
    backward: Backward,
    inputs: Arrays,
    eps: float = KERNEL_EPS,
    tolerance: float = KERNEL_GRADIENT_TOLERANCE,
    seed: int = 0,
) -> None:
    """Asserts that backward(inputs, top diffs) matches central differences of forward, for
    random top diffs (seeded), at every input value: relative max error <= `tolerance` per
    input. Give float64 inputs, and functions that compute in their precision (a kernel's double
    entry points): the defaults suit float64."""
    inputs = [np.asarray(value) for value in inputs]
    top_diffs = _random_diffs(forward(list(inputs)), seed)
    analytic = backward(list(inputs), top_diffs)
    if len(analytic) != len(inputs):
        raise AssertionError(f"backward gave {len(analytic)} diffs for {len(inputs)} inputs")
    numeric = numeric_gradients(forward, inputs, top_diffs, eps)
    for i, (got, want) in enumerate(zip(analytic, numeric)):
        assert_close(np.asarray(got).ravel(), want, tolerance, f"gradient of input {i}")


def check_caffe_backward(
    tested: Layer,
    inputs: Mapping[str, np.ndarray],
    eps: float = CAFFE_EPS,
    tolerance: float = CAFFE_GRADIENT_TOLERANCE,
    samples: int = 16,
    seed: int = 0,
) -> None:
    """Asserts that Caffe's Backward of the layer matches central differences of Caffe's Forward
    (float32, the sums in float64) at `samples` random positions of each bottom, for random top
    diffs (seeded): relative max error <= `tolerance` per bottom. Caffe runs float32, so the
    check is as good as eps 1e-2 allows (see CAFFE_EPS); check the kernel itself in float64 with
    check_gradients."""
    names = list(tested.bottoms)
    net = _caffe_net(tested, inputs, force_backward=True)

    def forward(values: List[np.ndarray]) -> List[np.ndarray]:
        for name, value in zip(names, values):
            net.blobs[name].data[...] = value
        net.forward()
        return [net.blobs[name].data.copy() for name in tested.tops]

    values = [np.asarray(inputs[name], np.float32) for name in names]
    top_diffs = _random_diffs(forward(values), seed)
    for name, diff in zip(tested.tops, top_diffs):
        net.blobs[name].diff[...] = diff
    net.backward()
    analytic = [net.blobs[name].diff.copy() for name in names]
    rng = np.random.default_rng(seed + 1)
    indices = [rng.choice(value.size, size=min(value.size, samples), replace=False) for value in values]
    numeric = numeric_gradients(forward, values, top_diffs, eps, indices)
    for name, got, want, where in zip(names, analytic, numeric, indices):
        assert_close(got.ravel()[where], want, tolerance, f"{tested.type} in caffe, gradient of {name}")

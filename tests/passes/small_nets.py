"""Hand-built Caffe Net IRs for net-pass tests, and running them in the real Caffe runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.compare import compare

TOLERANCE = 1e-4


def conv(name: str, bottom: str, weight: np.ndarray, bias: Optional[np.ndarray] = None, pad: int = 0, group: int = 1) -> Layer:
    param = {
        "num_output": weight.shape[0],
        "bias_term": bias is not None,
        "kernel_h": weight.shape[2],
        "kernel_w": weight.shape[3],
        "pad_h": pad,
        "pad_w": pad,
        "group": group,
    }
    blobs = (weight,) if bias is None else (weight, bias)
    return Layer(name, "Convolution", (bottom,), (name,), {"convolution_param": param}, blobs)


def pooling(name: str, bottom: str) -> Layer:
    param = {"pool": "MAX", "kernel_h": 2, "kernel_w": 2, "stride_h": 2, "stride_w": 2}
    return Layer(name, "Pooling", (bottom,), (name,), {"pooling_param": param})


def power(name: str, bottom: str, scale: float = 1.0, shift: float = 0.0, exponent: float = 1.0) -> Layer:
    return Layer(name, "Power", (bottom,), (name,), {"power_param": {"power": exponent, "scale": scale, "shift": shift}})


def scale(name: str, bottom: str, weights: Sequence[float], bias: Optional[Sequence[float]] = None, num_axes: int = 1) -> Layer:
    blobs = [np.asarray(weights, dtype=np.float32)]
    if bias is not None:
        blobs.append(np.asarray(bias, dtype=np.float32))
    params = {"scale_param": {"axis": 1, "num_axes": num_axes, "bias_term": bias is not None}}
    return Layer(name, "Scale", (bottom,), (name,), params, tuple(blobs))


def net_of(input_shape: Tuple[int, ...], layers: Sequence[Layer], inputs: Sequence[str] = ("data",)) -> Net:
    """A net of `layers` reading the inputs; its outputs are the tops no layer reads, and the
    NameMap maps "TOP_output" to every top (the passes must keep it right)."""
    net = Net("small", inputs=[Tensor(name, input_shape) for name in inputs], layers=list(layers))
    net.shapes.update({name: input_shape for name in inputs})
    read = {bottom for layer in layers for bottom in layer.bottoms}
    # the passes under test never look at output shapes
    net.outputs = [Tensor(top, ()) for layer in layers for top in layer.tops if top not in read]
    for layer in layers:
        for top in layer.tops:
            net.names.add(f"{top}_output", top)
    return net


def random_weight(shape: Tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)


def raw_pixels(shape: Tuple[int, ...], seed: int = 0) -> np.ndarray:
    """What a camera gives: values 0..255."""
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def run_everywhere(net: Net, inputs: Mapping[str, np.ndarray], directory: Path) -> Dict[str, Dict[str, np.ndarray]]:
    """Writes the net and runs it in every Caffe runtime: runtime -> output blob -> value."""
    directory.mkdir(parents=True, exist_ok=True)
    prototxt, caffemodel = write_net(net, directory / net.name)
    outputs = [tensor.blob for tensor in net.outputs]
    return {runtime: blobs(prototxt, caffemodel, inputs, outputs) for runtime, blobs in BACKENDS.items()}


def assert_same_outputs(
    before: Net, before_inputs: Mapping[str, np.ndarray], after: Net, after_inputs: Mapping[str, np.ndarray], directory: Path
) -> None:
    """`after` fed `after_inputs` computes what `before` computes fed `before_inputs`, in every
    runtime, within TOLERANCE relative max error."""
    want = run_everywhere(before, before_inputs, directory / "before")
    got = run_everywhere(after, after_inputs, directory / "after")
    assert [t.blob for t in after.outputs] == [t.blob for t in before.outputs]
    for runtime in want:
        for blob, reference in want[runtime].items():
            result = compare(blob, got[runtime][blob], reference)
            assert result.within(TOLERANCE), f"{runtime}: {blob}: relative max error {result.relative_error:.3g}"

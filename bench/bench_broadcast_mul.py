"""MXBroadcastMul (the native layer) against the stock form of SE's broadcast_mul (Reshape of s to
N,C, then a two-bottom Scale with axis 0) in real Caffe: the forward time of each net, timed in
one process, median over repeats; the ratio is stock time / native time (above 1: native is faster).

    PYTHONPATH=python python bench/bench_broadcast_mul.py [--repeat 7] [--min-time 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import timeit
from pathlib import Path
from typing import Callable, Sequence, Tuple

import numpy as np

from mxnet2caffe.caffe_layers import load
from mxnet2caffe.runtimes.caffe_home import import_caffe

# SE blocks of ResNet-like nets: channels grow as the maps shrink
SE_SHAPES = [(n, c, hw, hw) for n in (1, 8) for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7))]


def input_layer(name: str, shape: Sequence[int]) -> str:
    dims = " ".join(f"dim: {dim}" for dim in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def native_net(x_shape: Sequence[int], s_shape: Sequence[int]) -> str:
    return (
        input_layer("x", x_shape)
        + input_layer("s", s_shape)
        + 'layer { name: "y" type: "MXBroadcastMul" bottom: "x" bottom: "s" top: "y" }\n'
    )


def stock_net(x_shape: Sequence[int], s_shape: Sequence[int]) -> str:
    return (
        input_layer("x", x_shape)
        + input_layer("s", s_shape)
        + 'layer { name: "s_flat" type: "Reshape" bottom: "s" top: "s_flat" '
        "reshape_param { shape { dim: 0 dim: 0 } } }\n"
        + 'layer { name: "y" type: "Scale" bottom: "x" bottom: "s_flat" top: "y" scale_param { axis: 0 } }\n'
    )


def seconds_per_call(call: Callable[[], object], repeat: int, min_time: float) -> float:
    """Median over `repeat` runs of the time of one call, each run long enough to time."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    number = max(number, int(number * min_time / 0.2))
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def bench_shape(caffe, folder: Path, x_shape: Tuple[int, ...], repeat: int, min_time: float) -> Tuple[float, float]:
    s_shape = x_shape[:2] + (1, 1)
    rng = np.random.default_rng(0)
    x, s = rng.normal(size=x_shape).astype(np.float32), rng.normal(size=s_shape).astype(np.float32)
    times = []
    outputs = []
    for name, text in (("stock", stock_net(x_shape, s_shape)), ("native", native_net(x_shape, s_shape))):
        prototxt = folder / f"{name}.prototxt"
        prototxt.write_text(text)
        net = caffe.Net(str(prototxt), caffe.TEST)
        net.blobs["x"].data[...] = x
        net.blobs["s"].data[...] = s
        outputs.append(net.forward()["y"].copy())
        times.append(seconds_per_call(net.forward, repeat, min_time))
    np.testing.assert_array_equal(outputs[0], outputs[1])  # the same numbers, or the race means nothing
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per net (median taken)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timed run, about")
    args = parser.parse_args()
    load()
    caffe = import_caffe()
    caffe.set_mode_cpu()
    print(f"{'x shape (s: N,C,1,1)':>22}  {'stock us':>10}  {'native us':>10}  {'stock/native':>12}")
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for x_shape in SE_SHAPES:
            stock, native = bench_shape(caffe, Path(folder), x_shape, args.repeat, args.min_time)
            ratios.append(stock / native)
            shape = "x".join(map(str, x_shape))
            print(f"{shape:>22}  {stock * 1e6:>10.1f}  {native * 1e6:>10.1f}  {stock / native:>12.2f}")
    print(f"geometric mean stock/native: {float(np.exp(np.mean(np.log(ratios)))):.2f}")


if __name__ == "__main__":
    main()

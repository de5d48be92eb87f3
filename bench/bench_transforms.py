"""Target (4) of the fast path (issue #9): the native transpose against numpy, in one run.

For each 4-D permutation conversion meets (MXNet OIHW weights to HWOI and back, NCHW <-> NHWC
activations, the OI swap of large 3x3 weights), on float32 tensors of random values:

  numpy    np.ascontiguousarray(a.transpose(p)) (a new array each call)
  native   mxnet2caffe._native.transpose(a, p)  (a new array each call; large ones on all cores)
  memcpy   np.copyto(out, a) of the same bytes  (the limit: every byte read and written once)

Each time is the median over --rounds rounds of the mean of a batch of calls (batches of about
20 ms), page cache and caches warm. Printed: the times, the memcpy-equivalent bandwidth, and the
ratios numpy / native (target >= 2) and native / memcpy. The float16 and float64 -> float32
conversion of .params arrays is timed the same way against astype.

    PYTHONPATH=python python bench/bench_transforms.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, Sequence, Tuple

import numpy as np

from mxnet2caffe import _native

SHAPES: Sequence[Tuple[Tuple[int, ...], Tuple[int, ...], str]] = (
    ((64, 64, 3, 3), (2, 3, 0, 1), "OIHW -> HWOI weights"),
    ((64, 64, 3, 3), (2, 3, 1, 0), "OIHW -> HWIO weights"),
    ((1, 64, 112, 112), (0, 2, 3, 1), "NCHW -> NHWC"),
    ((1, 112, 112, 64), (0, 3, 1, 2), "NHWC -> NCHW"),
    ((512, 512, 3, 3), (1, 0, 2, 3), "OI swap, 9 MB"),
    ((512, 512, 3, 3), (2, 3, 0, 1), "OIHW -> HWOI, 9 MB"),
)
MB = 1 << 20


def seconds_per_call(rounds: int, function: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    function(*args)
    once = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(0.02 / once))
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            function(*args)
        means.append((time.perf_counter() - start) / batch)
    return statistics.median(means)


def numpy_transpose(a: np.ndarray, order: Tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(order))


def bench_transpose(rounds: int) -> None:
    print("(4) transpose, float32: numpy ascontiguousarray(a.transpose(p)) vs _native.transpose vs memcpy")
    print(
        f"  {'shape':>18} {'order':>12} {'MB':>5} {'numpy ms':>9} {'native ms':>9} {'memcpy ms':>9} "
        f"{'native GB/s':>11} {'numpy/native':>12} {'native/memcpy':>13}  what"
    )
    ratios = []
    for shape, order, what in SHAPES:
        a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        assert np.array_equal(_native.transpose(a, order), a.transpose(order))
        out = np.empty_like(a)
        numpy_time = seconds_per_call(rounds, numpy_transpose, a, order)
        native_time = seconds_per_call(rounds, _native.transpose, a, order)
        copy_time = seconds_per_call(rounds, np.copyto, out, a)
        ratios.append(numpy_time / native_time)
        print(
            f"  {str(shape):>18} {str(order):>12} {a.nbytes / MB:5.1f} {numpy_time * 1e3:9.3f} "
            f"{native_time * 1e3:9.3f} {copy_time * 1e3:9.3f} {2 * a.nbytes / native_time / 1e9:11.1f} "
            f"{ratios[-1]:12.2f} {native_time / copy_time:13.2f}  {what}"
        )
    print(
        f"  numpy/native: min {min(ratios):.2f}, geometric mean {statistics.geometric_mean(ratios):.2f}   target >= 2"
    )


def bench_to_float32(rounds: int) -> None:
    print("float16/float64 -> float32 (.params): numpy astype vs _native.to_float32")
    for dtype in ("<f2", "<f8"):
        for count in (64 * 64 * 9, 512 * 512 * 9):
            a = np.random.default_rng(1).normal(size=count).astype(dtype)
            numpy_time = seconds_per_call(rounds, a.astype, np.float32)
            native_time = seconds_per_call(rounds, _native.to_float32, a)
            print(
                f"  {dtype} x {count:>8}: numpy {numpy_time * 1e3:7.3f} ms, native {native_time * 1e3:7.3f} ms, "
                f"numpy/native {numpy_time / native_time:5.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    bench_transpose(args.rounds)
    bench_to_float32(args.rounds)


if __name__ == "__main__":
    main()

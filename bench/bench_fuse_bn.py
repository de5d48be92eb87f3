"""--fuse-bn on a whole network: a gluon model zoo model (random weights, BatchNorm statistics far
from 0 and 1) converted with and without BatchNorm folded into the convolutions, each forward timed
in real Caffe (pycaffe, CPU, batch 1) in one process, median over repeats after a warm-up; the
ratio is unfused time / fused time (above 1: the fused model is faster).

    PYTHONPATH=python python bench/bench_fuse_bn.py [--model resnet50_v1] [--repeat 7] [--min-time 0.2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Tuple

import mxnet as mx
import numpy as np
from bench_broadcast_mul import seconds_per_call
from mxnet.gluon.model_zoo import vision

import mxnet2caffe
from mxnet2caffe.runtimes.caffe_home import import_caffe
from mxnet2caffe.verify.compare import compare

SIZE = 224


def export_model(name: str, folder: Path) -> Tuple[Path, Path]:
    """NAME-symbol.json and NAME-0000.params of a zoo model with random, non-trivial weights."""
    net = vision.get_model(name, pretrained=False)
    net.initialize()
    net.hybridize()
    net(mx.nd.zeros((1, 3, SIZE, SIZE)))
    rng = np.random.default_rng(0)
    for param_name, param in net.collect_params().items():
        if param_name.endswith(("running_mean", "beta")):
            param.set_data(mx.nd.array(rng.normal(0, 0.5, param.shape)))
        elif param_name.endswith(("running_var", "gamma")):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
    net.export(str(folder / name))
    return folder / f"{name}-symbol.json", folder / f"{name}-0000.params"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50_v1", help="a mxnet.gluon.model_zoo.vision model name")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per net (median taken)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timed run, about")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    caffe = import_caffe()
    caffe.set_mode_cpu()
    image = np.random.default_rng(1).normal(size=(1, 3, SIZE, SIZE)).astype(np.float32)
    times, outputs = {}, {}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        symbol, params = export_model(args.model, folder)
        for label, fuse in (("unfused", False), ("fused", True)):
            options = mxnet2caffe.ConvertOptions(fuse_bn=fuse)
            summary = mxnet2caffe.convert(symbol, params, {"data": image.shape}, folder / label, options)
            net = caffe.Net(str(summary.prototxt), str(summary.caffemodel), caffe.TEST)
            net.blobs["data"].data[...] = image
            (output,) = summary.outputs
            outputs[label] = net.forward()[output].copy()  # also the warm-up
            times[label] = seconds_per_call(net.forward, args.repeat, args.min_time)
            print(f"{label:>8}: {summary.layer_count:4d} layers  {times[label] * 1e3:8.2f} ms per forward")
    # the same numbers, or the race means nothing
    error = compare("output", outputs["fused"], outputs["unfused"]).relative_error
    assert error <= 1e-4, f"fused and unfused outputs differ: relative max error {error:.3g}"
    print(f"{args.model}, batch 1, {SIZE}x{SIZE}, Caffe CPU: unfused/fused {times['unfused'] / times['fused']:.2f} "
          f"(outputs agree to {error:.1e} relative)")


if __name__ == "__main__":
    main()

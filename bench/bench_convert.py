"""The fast path (issue #9): conversion time and memory against copying the bytes, in one run.

Two models: a gluon resnet152_v1 with random weights (>= 200 MB of params, exported with MXNet once
and cached in ~/.cache/mxnet2caffe/bench/) and the bundled example (examples/se_resnet), where
start-up dominates. For each, medians of 3 runs after a warm-up, page cache warm:

  (1) mxnet2caffe.convert(...) in-process / `cp` of the .params file (also with fsync=False, and
      against cp followed by a sync of the copy: the durability the converter gives its outputs),
      and the floor of that ratio for durable outputs: the time before the first weight byte can
      be written (reading, lowering, layer headers) plus the time the disk takes the bytes (the
      sync after cp);
  (2) the classic route as a process (import mxnet, load_checkpoint, pycaffe Net from our
      prototxt, every blob assigned from MXNet data of its size, net.save) / the
      `mxnet2caffe convert` process;
  (3) peak RSS of the `mxnet2caffe convert` process / the .params size;
  (5) for the small model, the convert process split into interpreter start, imports (with the
      heaviest packages) and conversion.

Target (4), native transpose throughput, is bench/bench_transforms.py.

    PYTHONPATH=python python bench/bench_convert.py [--model resnet152_v1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mxnet2caffe
from mxnet2caffe.caffe.writer import caffemodel_chunks
from mxnet2caffe.convert import convert_to_net
from mxnet2caffe.runtimes.caffe_home import find_caffe_home

BENCH = Path(__file__).resolve().parent
EXAMPLE = BENCH.parent / "examples" / "se_resnet" / "se_resnet"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mxnet2caffe" / "bench"
MB = 1 << 20
TIME = "/usr/bin/time"  # GNU time, for the peak RSS of a child
# child processes run with a bytecode cache, as an installed wheel has (pip compiles it);
# PYTHONDONTWRITEBYTECODE would make every start compile the package's source again
PROCESS_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
PROCESS_ENV["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")

# bench_fuse_bn.export_model: random weights, BatchNorm statistics far from 0 and 1
EXPORT = "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; " \
         "from bench_fuse_bn import export_model; export_model(sys.argv[2], Path(sys.argv[3]))"

# What a hand-written conversion script does: MXNet reads the checkpoint, pycaffe builds the net
# from the prototxt, every blob is assigned once (from an MXNet array of its size, else 1: the
# values are not the point, the bytes moved are), then net.save serializes.
CLASSIC = """
import sys
import mxnet as mx
import caffe
prefix, prototxt, output = sys.argv[1:]
_, args, aux = mx.model.load_checkpoint(prefix, 0)
by_size = {}
for array in list(args.values()) + list(aux.values()):
    by_size.setdefault(array.size, array.asnumpy())
net = caffe.Net(prototxt, caffe.TEST)
for blobs in net.params.values():
    for blob in blobs:
        source = by_size.get(blob.data.size)
        blob.data[...] = 1 if source is None else source.reshape(blob.data.shape)
net.save(output)
"""


@dataclass(frozen=True)
class Model:
    name: str
    prefix: Path  # PREFIX-symbol.json and PREFIX-0000.params
    shape: Tuple[int, ...]

    @property
    def symbol(self) -> Path:
        return self.prefix.with_name(self.prefix.name + "-symbol.json")

    @property
    def params(self) -> Path:
        return self.prefix.with_name(self.prefix.name + "-0000.params")


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int  # bytes


def zoo_model(name: str) -> Model:
    """The exported zoo model, made once (in a child process: this one stays free of MXNet)."""
    model = Model(name, CACHE / name, (1, 3, 224, 224))
    if not model.params.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as temporary:
            print(f"exporting {name} to {CACHE} (once)", flush=True)
            subprocess.run([sys.executable, "-c", EXPORT, str(BENCH), name, temporary], check=True)
            made = Model(name, Path(temporary) / name, model.shape)
            os.replace(made.symbol, model.symbol)
            os.replace(made.params, model.params)  # last: its presence means the export is whole
    return model


def run_process(command: Sequence[str], env: Optional[Dict[str, str]] = None) -> Run:
    """Wall time and peak RSS of one child process. GNU time reports the RSS: it forks the command
    itself, while a child of this process would inherit this process's peak RSS at exec."""
    with tempfile.NamedTemporaryFile("r") as rss, tempfile.TemporaryFile() as errors:
        timed_command = [TIME, "-f", "%M", "-o", rss.name, *command]
        start = time.perf_counter()
        result = subprocess.run(timed_command, env=env or PROCESS_ENV, stdout=subprocess.DEVNULL, stderr=errors)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{errors.read().decode(errors='replace')}")
        return Run(seconds, int(rss.read().split()[-1]) * 1024)


def removed(*paths: Path) -> None:
    """Outputs of the previous run go before the next is timed: each run writes new files."""
    for path in paths:
        path.unlink(missing_ok=True)


def median_run(runs: Callable[[], Run], repeat: int) -> Run:
    """Median time and the largest peak RSS over `repeat` runs, after one warm-up."""
    runs()
    measured = [runs() for _ in range(repeat)]
    return Run(statistics.median(r.seconds for r in measured), max(r.peak_rss for r in measured))


def timed(call: Callable[[], object]) -> Run:
    start = time.perf_counter()
    call()
    return Run(time.perf_counter() - start, 0)


def shape_argument(shape: Sequence[int]) -> str:
    return ",".join(str(dim) for dim in shape)


def measure(model: Model, folder: Path, repeat: int) -> Dict[str, Run]:
    copy = folder / "copy.params"
    api, cli = folder / "api", folder / "cli"

    def outputs(prefix: Path) -> List[Path]:
        return [prefix.with_suffix(".prototxt"), prefix.with_suffix(".caffemodel")]

    def cp() -> Run:
        removed(copy)
        return run_process(["cp", str(model.params), str(copy)])

    def cp_synced() -> Run:  # the same durability as the converter's outputs
        removed(copy)
        return run_process(["sh", "-c", 'cp "$0" "$1" && sync "$1"', str(model.params), str(copy)])

    def convert() -> Run:
        removed(*outputs(api))
        return timed(lambda: mxnet2caffe.convert(model.symbol, model.params, {"data": model.shape}, api))

    def first_byte() -> Run:  # what must be done before the first weight byte can be written
        return timed(lambda: caffemodel_chunks(convert_to_net(model.symbol, model.params, {"data": model.shape})))

    def convert_without_fsync() -> Run:  # the --no-fsync option
        removed(*outputs(api))
        return timed(lambda: mxnet2caffe.convert(model.symbol, model.params, {"data": model.shape}, api, fsync=False))

    def convert_process() -> Run:
        removed(*outputs(cli))
        return run_process([sys.executable, "-m", "mxnet2caffe", "convert", str(model.symbol), str(model.params),
                            "--input-shape", shape_argument(model.shape), "--output", str(cli)])

    def classic_process() -> Run:
        removed(folder / "classic.caffemodel")
        return run_process([sys.executable, "-c", CLASSIC, str(model.prefix), str(folder / "cli.prototxt"),
                            str(folder / "classic.caffemodel")], classic_env)

    caffe_home = find_caffe_home()
    if caffe_home is None:
        raise SystemExit("the classic route needs pycaffe: build it with `mxnet2caffe build-caffe`")
    classic_env = dict(PROCESS_ENV, PYTHONPATH=str(caffe_home / "python"), GLOG_minloglevel="2")
    return {
        "cp": median_run(cp, repeat),
        "cp synced": median_run(cp_synced, repeat),
        "convert": median_run(convert, repeat),
        "convert without fsync": median_run(convert_without_fsync, repeat),
        "first byte": median_run(first_byte, repeat),
        "convert process": median_run(convert_process, repeat),
        "classic process": median_run(classic_process, repeat),
        "interpreter start": median_run(lambda: run_process([sys.executable, "-c", "pass"]), repeat),
        "import": median_run(lambda: run_process([sys.executable, "-c", "import mxnet2caffe.cli"]), repeat),
    }


def import_split() -> List[Tuple[str, float]]:
    """Import seconds per top-level package (each module's own time, summed), heaviest first,
    from python -X importtime in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mxnet2caffe.cli"],
                            capture_output=True, text=True, check=True, env=PROCESS_ENV)
    packages: Dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if match:
            name = match.group(2).split(".")[0]
            packages[name] = packages.get(name, 0.0) + int(match.group(1)) / 1e6
    return sorted(packages.items(), key=lambda item: -item[1])


def report(model: Model, results: Dict[str, Run], repeat: int) -> None:
    size = model.params.stat().st_size
    cp, convert, unsynced = results["cp"], results["convert"], results["convert without fsync"]
    process, classic = results["convert process"], results["classic process"]
    print(f"\n{model.name}: {size / MB:.1f} MB of params, median of {repeat} runs, page cache warm")
    print(f"  cp of the .params file            {cp.seconds:7.3f} s")
    print(f"  cp, then sync of the copy         {results['cp synced'].seconds:7.3f} s")
    print(f"  convert in-process                {convert.seconds:7.3f} s  "
          f"(--no-fsync {unsynced.seconds:.3f} s)")
    print(f"  `mxnet2caffe convert` process     {process.seconds:7.3f} s  peak RSS {process.peak_rss / MB:7.1f} MB")
    print(f"  classic route process             {classic.seconds:7.3f} s  peak RSS {classic.peak_rss / MB:7.1f} MB")
    print(f"  (1) in-process / cp               {convert.seconds / cp.seconds:7.2f}   target <= 1.5 "
          f"(--no-fsync {unsynced.seconds / cp.seconds:.2f}; "
          f"against cp + sync {convert.seconds / results['cp synced'].seconds:.2f})")
    # the weights' offsets follow from every header before them, so no weight byte can be written
    # before the graph is read and lowered; from then on, a durable output waits for the disk
    # to take the bytes at least as long as the sync after cp does
    first, disk = results["first byte"].seconds, results["cp synced"].seconds - cp.seconds
    print(f"      floor of (1) with fsync: (first byte {first:.3f} s + disk time of the bytes {disk:.3f} s) "
          f"/ cp = {(first + disk) / cp.seconds:.2f}")
    print(f"  (2) classic / convert process     {classic.seconds / process.seconds:7.2f}   target >= 3")
    print(f"  (3) peak RSS / params size        {process.peak_rss / size:7.2f}   target <= 1.3")


def report_start_up(results: Dict[str, Run]) -> None:
    """(5): where the small model's process time goes."""
    start, process = results["interpreter start"].seconds, results["convert process"].seconds
    imports, conversion = results["import"].seconds - start, results["convert"].seconds
    heaviest = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in import_split()[:6])
    print(f"  (5) process {process:.3f} s = interpreter start {start:.3f} s + imports {imports:.3f} s "
          f"+ conversion {conversion:.3f} s + the rest {process - start - imports - conversion:.3f} s")
    print(f"      imports by package (python -X importtime, own time of each module): {heaviest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet152_v1", help="a mxnet.gluon.model_zoo.vision model, >= 200 MB")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median taken)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = [zoo_model(args.model), Model("se_resnet (bundled example)", EXAMPLE, (1, 1, 108, 108))]
    for model in models:
        with tempfile.TemporaryDirectory(dir=CACHE) as temporary:  # on the disk the outputs go to
            results = measure(model, Path(temporary), args.repeat)
        report(model, results, args.repeat)
        if model.prefix == EXAMPLE:
            report_start_up(results)
    print("\n(4) native transpose throughput: bench/bench_transforms.py")


if __name__ == "__main__":
    main()

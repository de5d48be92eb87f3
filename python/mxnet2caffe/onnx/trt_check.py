"""--trt-check: seeded random inputs and MXNet's outputs for them in polygraphy's JSON format, and
the `polygraphy run` line that compares TensorRT (or any polygraphy runner) with them.

inputs.json is a list of feed dicts (one iteration, keyed by the ONNX input names, which are the
Caffe input blobs); outputs.json is a RunResults of one runner "mxnet" keyed by the ONNX output
names. The tolerance is our rule, max|a - b| <= tolerance * max|b| per output: an absolute
tolerance per output and rtol 0 (polygraphy passes a value within either tolerance).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Dict, Mapping

import numpy as np

from ..caffe.annotations import Annotations
from ..caffe.net import Net
from ..convert import PathLike
from ..errors import ConversionError
from ..runtimes.imports import require
from ..verify.backends import mxnet_internal_outputs
from ..verify.inputs import random_inputs
from ..verify.report import DEFAULT_TOLERANCE, mxnet_inputs

RUNNER = "mxnet"


def mxnet_outputs(
    symbol: PathLike, params: PathLike, net: Net, inputs: Mapping[str, np.ndarray]
) -> Dict[str, np.ndarray]:
    """MXNet's value of each net output (by blob), for the Caffe inputs `inputs`."""
    fed = mxnet_inputs(inputs, Annotations(net.names, net.input_transforms))
    expected = mxnet_internal_outputs(symbol, params, fed)
    key_of = {blob: key for key, blob in net.names.items()}  # the last MXNet output a blob holds
    missing = [t.blob for t in net.outputs if key_of.get(t.blob) not in expected]
    if missing:
        raise ConversionError(f"no MXNet output is known for the net outputs {missing}")
    return {t.blob: expected[key_of[t.blob]] for t in net.outputs}


def write_trt_check(
    directory: PathLike,
    model_path: PathLike,
    symbol: PathLike,
    params: PathLike,
    net: Net,
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
) -> str:
    """Writes DIRECTORY/inputs.json and DIRECTORY/outputs.json (inputs at the net's converted
    shapes); returns the polygraphy command line running the ONNX model in TensorRT on them."""
    require("polygraphy")  # first, for the install hint of the package itself
    save_json = require("polygraphy.json").save_json
    RunResults = require("polygraphy.comparator").RunResults
    inputs = random_inputs({t.blob: t.shape for t in net.inputs}, seed)
    outputs = mxnet_outputs(symbol, params, net, inputs)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    save_json([inputs], str(folder / "inputs.json"))
    results = RunResults()
    results.add([outputs], runner_name=RUNNER)
    results.save(str(folder / "outputs.json"))
    atols = [f"{blob}:{tolerance * float(np.abs(value).max()):.6g}" for blob, value in outputs.items()]
    command = [
        "polygraphy", "run", str(model_path), "--trt",
        "--load-inputs", str(folder / "inputs.json"), "--load-outputs", str(folder / "outputs.json"),
        "--atol", *atols, "--rtol", "0",
    ]
    return shlex.join(command)

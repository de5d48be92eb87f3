"""Builds MXNet graphs, converts them and runs both sides in real runtimes.

Every numerical test goes through `assert_converts_exactly`: real MXNet 1.9.1 on one side,
real Caffe runtimes (OpenCV DNN now) on the other, compared by relative max error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

import cv2
import mxnet as mx
import numpy as np
import pytest
from google.protobuf.message import Message

import mxnet2caffe
from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
from mxnet2caffe.caffe.profiles import DEFAULT_PROFILE, PROFILE_ONLY_FIELDS, STOCK_LAYER_TYPES
from mxnet2caffe.caffe.reader import read_prototxt
from mxnet2caffe.caffe.user_layers import user_layer_types
from mxnet2caffe.caffe_layers import register_opencv_layers
from mxnet2caffe.verify.backends import BACKENDS, backend_blobs, mxnet_executor, uses_native_layers
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

TOLERANCE = 1e-4
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "se_resnet" / "se_resnet"  # the bundled model, as a checkpoint prefix


def run(*command, **kwargs) -> str:
    """Runs a command that must succeed; returns its standard output."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def mxnet_forward(symbol, params, inputs: Mapping[str, np.ndarray]) -> List[np.ndarray]:
    """The heads of an MXNet checkpoint at inference (is_train=False)."""
    _, executor = mxnet_executor(symbol, params, inputs, internals=False)
    return [out.asnumpy() for out in executor.forward(is_train=False)]


def backend_forward(backend: str, prototxt, caffemodel, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]):
    """The named outputs of a Caffe model in `backend`, as deployed."""
    blobs = backend_blobs(backend)(prototxt, caffemodel, inputs, outputs)
    return [blobs[name] for name in outputs]


def random_params(
    sym: mx.sym.Symbol, input_shapes: Mapping[str, Sequence[int]], seed: int = 0
) -> Tuple[Dict[str, mx.nd.NDArray], Dict[str, mx.nd.NDArray]]:
    """Random weights for every argument that is not an input, and non-trivial BN stats."""
    rng = np.random.default_rng(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(**input_shapes)
    args = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in input_shapes or name.endswith("label"):
            continue
        if name.endswith("gamma"):
            values = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("beta") or name.endswith("bias"):
            values = rng.normal(0, 0.5, shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            values = rng.normal(0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
        args[name] = mx.nd.array(values, dtype="float32")
    aux = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        values = rng.uniform(0.5, 2.0, shape) if name.endswith("var") else rng.normal(0, 0.5, shape)
        aux[name] = mx.nd.array(values, dtype="float32")
    return args, aux


def save_model(
    sym: mx.sym.Symbol,
    args: Mapping[str, mx.nd.NDArray],
    aux: Mapping[str, mx.nd.NDArray],
    directory: Path,
    name: str = "model",
) -> Tuple[Path, Path]:
    """Writes NAME-symbol.json and NAME-0000.params as mx.model.save_checkpoint does."""
    symbol_path = directory / f"{name}-symbol.json"
    params_path = directory / f"{name}-0000.params"
    sym.save(str(symbol_path))
    saved = {f"arg:{k}": v for k, v in args.items()}
    saved.update({f"aux:{k}": v for k, v in aux.items()})
    mx.nd.save(str(params_path), saved)
    return symbol_path, params_path


def assert_converts_exactly(
    sym: mx.sym.Symbol,
    input_shapes: Mapping[str, Sequence[int]],
    directory: Path,
    args: Optional[Mapping[str, mx.nd.NDArray]] = None,
    aux: Optional[Mapping[str, mx.nd.NDArray]] = None,
    tolerance: float = TOLERANCE,
    inputs: Optional[Mapping[str, np.ndarray]] = None,
    options: Optional[mxnet2caffe.ConvertOptions] = None,
    reference: Optional[mx.sym.Symbol] = None,
    plugins: Sequence[str] = (),
) -> mxnet2caffe.ConversionSummary:
    """Saves `sym` with (random) weights, converts it (with `plugins` loaded), and checks every
    head in every runtime.

    `reference` is what MXNet runs for the expected outputs when `options.outputs` cuts `sym`
    (the group of the outputs named, say); random weights are then made for it."""
    if args is None or aux is None:
        random_args, random_aux = random_params(sym if reference is None else reference, input_shapes)
        args = random_args if args is None else args
        aux = random_aux if aux is None else aux
    symbol_path, params_path = save_model(sym, args, aux, directory)
    summary = mxnet2caffe.convert(
        symbol_path, params_path, dict(input_shapes), directory / "converted", options, plugins=plugins
    )
    allowed = STOCK_LAYER_TYPES | (NATIVE_LAYER_TYPES if options and options.forms else frozenset()) | user_layer_types()
    emitted = set(layer_types(summary))
    assert emitted <= allowed, f"layer types beyond the chosen profile: {emitted - allowed}"
    assert_fields_fit_the_profile(summary, options.profile if options else DEFAULT_PROFILE)
    assert_opencv_lists_only_the_outputs(summary)
    inputs = dict(inputs) if inputs is not None else random_inputs(input_shapes)
    if reference is not None:
        symbol_path = directory / "reference-symbol.json"
        reference.save(str(symbol_path))
    output_names = list(summary.outputs)
    expected = assert_runtimes_match_mxnet(
        symbol_path, params_path, summary.prototxt, summary.caffemodel, inputs, output_names, tolerance
    )
    for name, want in zip(output_names, expected):
        assert tuple(summary.outputs[name]) == want.shape, name
    return summary


def assert_runtimes_match_mxnet(
    symbol_path, params_path, prototxt, caffemodel, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
    tolerance: float = TOLERANCE,
) -> List[np.ndarray]:
    """The Caffe model's `outputs` (blobs, in the order of MXNet's heads) in every runtime are
    within `tolerance` of MXNet's heads on `inputs`; returns MXNet's heads."""
    expected = mxnet_forward(symbol_path, params_path, inputs)
    assert len(outputs) == len(expected)
    for runtime in BACKENDS:
        actual = backend_forward(runtime, prototxt, caffemodel, inputs, outputs)
        for name, want, got in zip(outputs, expected, actual):
            result = compare(name, got, want)
            assert got.shape == want.shape, f"{runtime}: {name}: shape {got.shape} != MXNet {want.shape}"
            assert result.within(tolerance), f"{runtime}: {name}: relative max error {result.relative_error:.3g} > {tolerance}"
    return expected


def fields_set(message: Message) -> Set[Tuple[str, str]]:
    """(message type, field name) of every field set anywhere in a protobuf message."""
    found = set()
    for field, value in message.ListFields():
        found.add((message.DESCRIPTOR.name, field.name))
        if field.message_type is not None:
            for item in [value] if isinstance(value, Message) else value:
                found |= fields_set(item)
    return found


def assert_fields_fit_the_profile(summary: mxnet2caffe.ConversionSummary, profile: str) -> None:
    """Fields BVLC master lacks appear only in output for the one profile allowed to emit them."""
    used = fields_set(read_prototxt(summary.prototxt))
    foreign = {field for field in used & set(PROFILE_ONLY_FIELDS) if PROFILE_ONLY_FIELDS[field] != profile}
    assert not foreign, f"fields beyond profile {profile}: {foreign}"


def assert_opencv_lists_only_the_outputs(summary: mxnet2caffe.ConversionSummary) -> None:
    """OpenCV's standard idiom, net.forward(net.getUnconnectedOutLayersNames()), gets exactly the
    model's outputs: no dangling blob (a Silence layer, an unused Slice top) shows up."""
    if uses_native_layers(summary.prototxt):
        register_opencv_layers()
    net = cv2.dnn.readNetFromCaffe(str(summary.prototxt), str(summary.caffemodel))
    assert sorted(net.getUnconnectedOutLayersNames()) == sorted(summary.outputs)


def assert_rejected(sym: mx.sym.Symbol, shapes: Mapping[str, Sequence[int]], directory: Path, match: str) -> None:
    """Conversion of `sym` (weights need not exist) fails with a NodeError matching `match`."""
    symbol_path = directory / "model-symbol.json"
    sym.save(str(symbol_path))
    with pytest.raises(mxnet2caffe.NodeError, match=match):
        mxnet2caffe.convert(symbol_path, {}, dict(shapes))


def layer_types(summary: mxnet2caffe.ConversionSummary) -> List[str]:
    """The Caffe layer types of a converted model, in prototxt order (Input layers included)."""
    return [layer.type for layer in read_prototxt(summary.prototxt).layer]

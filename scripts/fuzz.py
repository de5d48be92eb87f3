#!/usr/bin/env python3
"""Structured fuzzing of the symbol reader and the .params reader (issue 11).

Each case is a model on disk (symbol.json, model.params, case.json with the input shapes) made
from a seeded generator: small generated graphs with consistent weights and the bundled example
(examples/se_resnet), then mutated (hostile attribute values, broken structure, flipped bytes; for
.params files, header fields rewritten, arrays re-encoded, truncation). Worker processes convert
each case, writing the Caffe model, under a memory limit (RLIMIT_AS) and a per-case time limit. A
case passes when it ends in a valid model or a ConversionError (the CLI's exit 1) with a short
message, short logs and no output file; anything else (another exception, a crash, a timeout, a
long message) is a failure, printed with the case and kept for replay.

    scripts/fuzz.py --seed 0 --cases 10000            # both readers, 10000 cases each
    scripts/fuzz.py --seed 0 --cases 10000 --save-corpus DIR   # also keep every case
    scripts/fuzz.py --corpus DIR                      # replay saved cases (e.g. under ASan)

Deterministic: the cases depend only on the seed and the case number.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import random
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

import mxnet2caffe.converters  # noqa: F401  (registers every converter: the ops to fuzz)
from mxnet2caffe.converters.registry import supported_ops

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "se_resnet"
READERS = ("symbol", "params")
MAX_MESSAGE = 500  # characters of one error message
MAX_LOG = 4000  # characters logged by one case
EXAMPLE_SHAPE = (1, 1, 112, 112)

Shapes = Dict[str, List[int]]


@dataclass
class Case:
    """One model to convert: files' bytes and the input shapes."""

    name: str
    reader: str
    symbol: bytes
    params: bytes
    shapes: Shapes

    def save(self, directory: Path) -> Path:
        path = directory / self.name
        path.mkdir(parents=True, exist_ok=True)
        (path / "symbol.json").write_bytes(self.symbol)
        _write_shared(directory, path / "model.params", self.params)
        (path / "case.json").write_text(json.dumps({"reader": self.reader, "input_shapes": self.shapes}))
        return path


_SHARED_SIZE = 1 << 16


def _write_shared(directory: Path, path: Path, data: bytes) -> None:
    """Writes `data` to `path`; a large file as a hard link to one copy per content in
    DIRECTORY/.shared (the example's 2 MB .params recurs in a thousand cases of a corpus)."""
    if len(data) < _SHARED_SIZE:
        path.write_bytes(data)
        return
    shared = directory / ".shared" / hashlib.sha256(data).hexdigest()
    if not shared.exists():
        shared.parent.mkdir(exist_ok=True)
        temporary = shared.with_suffix(f".{os.getpid()}")
        temporary.write_bytes(data)
        os.replace(temporary, shared)
    if path.exists():
        path.unlink()
    os.link(shared, path)


# --- the .params format (MXNet's NDArray list), with the offset of every header field --------

_DTYPE_FLAGS = {"<f4": 0, "<f8": 1, "<f2": 2, "u1": 3, "<i4": 4, "i1": 5, "<i8": 6}
_V1, _V2, _V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


class ParamsWriter:
    """Builds a .params file and remembers where each header field lies, for mutations."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.fields: List[Tuple[str, int, int]] = []  # (kind, offset, size)

    def put(self, kind: str, fmt: str, *values: Any) -> None:
        data = struct.pack(fmt, *values)
        self.fields.append((kind, self.out.tell(), len(data)))
        self.out.write(data)

    def raw(self, data: bytes) -> None:
        self.out.write(data)

    def array(self, array: Optional[np.ndarray], version: int) -> None:
        if array is None:  # an uninitialised NDArray: shape "none"
            self.put("magic", "<I", _V2)
            self.put("stype", "<i", 0)
            self.put("ndim", "<i", 0)
            return
        if version == 0:  # the legacy layout: the magic is ndim, u32 dims
            self.put("ndim", "<I", array.ndim)
            for dim in array.shape:
                self.put("dim", "<I", dim)
        else:
            self.put("magic", "<I", (_V1, _V2, _V3)[version - 1])
            if version > 1:
                self.put("stype", "<i", 0)
            self.put("ndim", "<i", array.ndim)
            for dim in array.shape:
                self.put("dim", "<q", dim)
        self.put("context", "<ii", 1, 0)
        self.put("dtype", "<i", _DTYPE_FLAGS[array.dtype.str if array.dtype.itemsize > 1 else array.dtype.str[1:]])
        self.raw(np.ascontiguousarray(array).tobytes())

    def names(self, names: Sequence[str]) -> None:
        self.put("count", "<Q", len(names))
        for name in names:
            encoded = name.encode("utf-8")
            self.put("length", "<Q", len(encoded))
            self.raw(encoded)


def params_file(
    params: Sequence[Tuple[str, Optional[np.ndarray]]], version: int = 2
) -> Tuple[bytes, List[Tuple[str, int, int]]]:
    writer = ParamsWriter()
    writer.put("magic", "<Q", 0x112)
    writer.put("reserved", "<Q", 0)
    writer.put("count", "<Q", len(params))
    for _, array in params:
        writer.array(array, version)
    writer.names([name for name, _ in params])
    return writer.out.getvalue(), writer.fields


def read_example_params(data: bytes) -> List[Tuple[str, np.ndarray]]:
    """The bundled example's arrays (float32 V2 arrays, as mx.nd.save wrote them)."""
    pos = 24
    (count,) = struct.unpack_from("<Q", data, 16)
    arrays = []
    for _ in range(count):
        pos += 8  # magic, storage type
        (ndim,) = struct.unpack_from("<i", data, pos)
        shape = struct.unpack_from(f"<{ndim}q", data, pos + 4)
        pos += 4 + 8 * ndim + 12
        size = int(np.prod(shape)) * 4
        arrays.append(np.frombuffer(data, "<f4", size // 4, pos).reshape(shape))
        pos += size
    pos += 8
    names = []
    for _ in range(count):
        (length,) = struct.unpack_from("<Q", data, pos)
        names.append(data[pos + 8 : pos + 8 + length].decode())
        pos += 8 + length
    return list(zip(names, arrays))


# --- small graphs with consistent weights -------------------------------------------------------


class GraphBuilder:
    """An MXNet symbol JSON document under construction, with the shape of every output."""

    def __init__(self, rng: random.Random, shape: Tuple[int, ...]) -> None:
        self.rng = rng
        self.nodes: List[Dict[str, Any]] = []
        self.shapes: List[Tuple[int, ...]] = []
        self.params: List[Tuple[str, np.ndarray]] = []
        self.data = self.variable("data", None)
        self.shapes[self.data] = shape

    def variable(self, name: str, value: Optional[np.ndarray]) -> int:
        self.nodes.append({"op": "null", "name": name, "inputs": []})
        self.shapes.append(() if value is None else value.shape)
        if value is not None:
            self.params.append((f"arg:{name}", value))
        return len(self.nodes) - 1

    def weight(self, name: str, shape: Tuple[int, ...], positive: bool = False) -> int:
        value = np.asarray(self.rng.random(), dtype=np.float32) + np.zeros(shape, np.float32)
        value = value + np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) % 7 * 0.01
        return self.variable(name, np.abs(value) + 0.1 if positive else value - 0.3)

    def op(self, op: str, name: str, inputs: Sequence[int], attrs: Dict[str, str], shape: Tuple[int, ...]) -> int:
        node: Dict[str, Any] = {"op": op, "name": name, "inputs": [[i, 0, 0] for i in inputs]}
        if attrs:
            node["attrs"] = attrs
        self.nodes.append(node)
        self.shapes.append(shape)
        return len(self.nodes) - 1

    def document(self, head: int) -> Dict[str, Any]:
        arg_nodes = [i for i, node in enumerate(self.nodes) if node["op"] == "null"]
        return {
            "nodes": self.nodes,
            "arg_nodes": arg_nodes,
            "node_row_ptr": list(range(len(self.nodes) + 1)),
            "heads": [[head, 0, 0]],
            "attrs": {"mxnet_version": ["int", 10901]},
        }


def _window(size: int, rng: random.Random) -> Tuple[int, int, int]:
    kernel = rng.choice([1, 2, 3]) if size >= 3 else 1
    stride = rng.choice([1, 1, 2])
    pad = rng.choice([0, kernel // 2])
    return kernel, stride, pad


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _convolution(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    kernel, stride, pad = _window(min(h, w), b.rng)
    group = b.rng.choice([1, c])
    filters = group * b.rng.choice([1, 2])
    no_bias = b.rng.random() < 0.5
    inputs = [x, b.weight(f"{name}_weight", (filters, c // group, kernel, kernel))]
    if not no_bias:
        inputs.append(b.weight(f"{name}_bias", (filters,)))
    attrs = {"kernel": f"({kernel}, {kernel})", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})",
             "num_filter": str(filters), "num_group": str(group), "no_bias": str(no_bias)}
    shape = (n, filters, _out(h, kernel, stride, pad), _out(w, kernel, stride, pad))
    return b.op("Convolution", name, inputs, attrs, shape)


def _batch_norm(b: GraphBuilder, x: int, name: str) -> int:
    c = b.shapes[x][1]
    inputs = [x] + [b.weight(f"{name}_{k}", (c,), positive=k == "var") for k in ("gamma", "beta")]
    aux = [b.weight(f"{name}_moving_{k}", (c,), positive=k == "var") for k in ("mean", "var")]
    b.params[-2:] = [(f"aux:{key[4:]}", value) for key, value in b.params[-2:]]
    attrs = {"eps": b.rng.choice(["1e-05", "0.001", "2e-5"]), "fix_gamma": str(b.rng.random() < 0.5)}
    return b.op("BatchNorm", name, inputs + aux, attrs, b.shapes[x])


def _activation(b: GraphBuilder, x: int, name: str) -> int:
    act = b.rng.choice(["relu", "sigmoid", "tanh", "softrelu"])
    return b.op("Activation", name, [x], {"act_type": act}, b.shapes[x])


def _leaky(b: GraphBuilder, x: int, name: str) -> int:
    if b.rng.random() < 0.5:
        gamma = b.weight(f"{name}_gamma", (b.shapes[x][1],))
        return b.op("LeakyReLU", name, [x, gamma], {"act_type": "prelu"}, b.shapes[x])
    return b.op("LeakyReLU", name, [x], {"act_type": "leaky", "slope": "0.1"}, b.shapes[x])


def _pooling(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    if b.rng.random() < 0.2:
        attrs = {"global_pool": "True", "kernel": "(1, 1)", "pool_type": b.rng.choice(["avg", "max"])}
        return b.op("Pooling", name, [x], attrs, (n, c, 1, 1))
    kernel, stride, pad = _window(min(h, w), b.rng)
    pad = min(pad, kernel - 1)
    attrs = {"kernel": f"({kernel}, {kernel})", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})",
             "pool_type": b.rng.choice(["max", "avg", "sum"]), "pooling_convention": "valid"}
    if b.rng.random() < 0.3:
        attrs["count_include_pad"] = "False"
    return b.op("Pooling", name, [x], attrs, (n, c, _out(h, kernel, stride, pad), _out(w, kernel, stride, pad)))


def _fully_connected(b: GraphBuilder, x: int, name: str) -> int:
    shape = b.shapes[x]
    hidden = b.rng.choice([2, 5])
    features = int(np.prod(shape[1:]))
    inputs = [x, b.weight(f"{name}_weight", (hidden, features)), b.weight(f"{name}_bias", (hidden,))]
    return b.op("FullyConnected", name, inputs, {"num_hidden": str(hidden)}, (shape[0], hidden))


def _concat(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    return b.op("Concat", name, [x, x], {"dim": "1", "num_args": "2"}, (n, 2 * c, h, w))


def _add(b: GraphBuilder, x: int, name: str) -> int:
    return b.op("elemwise_add", name, [x, x], {}, b.shapes[x])


def _scale_channels(b: GraphBuilder, x: int, name: str) -> int:
    n, c = b.shapes[x][:2]
    pooled = b.op("Pooling", f"{name}_pool", [x], {"global_pool": "True", "kernel": "(1, 1)", "pool_type": "avg"},
                  (n, c, 1, 1))
    gate = b.op("Activation", f"{name}_gate", [pooled], {"act_type": "sigmoid"}, (n, c, 1, 1))
    return b.op("broadcast_mul", name, [x, gate], {}, b.shapes[x])


def _simple(op: str, attrs: Dict[str, str]) -> Callable[[GraphBuilder, int, str], int]:
    def make(b: GraphBuilder, x: int, name: str) -> int:
        return b.op(op, name, [x], dict(attrs), b.shapes[x])

    return make


def _reshape(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    return b.op("Reshape", name, [x], {"shape": "(0, -1, 0)"}, (n, c * h, w)) if b.rng.random() < 0.5 else \
        b.op("Reshape", name, [x], {"shape": "(0, 0, -1)"}, (n, c, h * w))


def _transpose(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    return b.op("transpose", name, [x], {"axes": "(0, 1, 3, 2)"}, (n, c, w, h))


def _slice(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    if c < 2:
        return x
    return b.op("slice_axis", name, [x], {"axis": "1", "begin": "0", "end": str(c // 2)}, (n, c // 2, h, w))


def _upsampling(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    attrs = {"scale": "2", "sample_type": "nearest", "num_args": "1"}
    return b.op("UpSampling", name, [x], attrs, (n, c, 2 * h, 2 * w))


def _pad(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    attrs = {"mode": "constant", "pad_width": "(0, 0, 0, 0, 1, 1, 1, 1)", "constant_value": "0"}
    return b.op("Pad", name, [x], attrs, (n, c, h + 2, w + 2))


def _deconvolution(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    kernel, stride = b.rng.choice([(2, 2), (3, 1), (4, 2), (3, 2)])
    pad = b.rng.choice([0, 1]) if kernel > 2 else 0
    adj = 1 if stride == 2 and kernel == 3 and b.rng.random() < 0.5 else 0
    filters = b.rng.choice([1, 3])
    inputs = [x, b.weight(f"{name}_weight", (c, filters, kernel, kernel))]
    attrs = {"kernel": f"({kernel}, {kernel})", "stride": f"({stride}, {stride})", "pad": f"({pad}, {pad})",
             "adj": f"({adj}, {adj})", "num_filter": str(filters), "no_bias": "True"}
    size = [(d - 1) * stride - 2 * pad + kernel + adj for d in (h, w)]
    return b.op("Deconvolution", name, inputs, attrs, (n, filters, *size))


def _instance_norm(b: GraphBuilder, x: int, name: str) -> int:
    c = b.shapes[x][1]
    inputs = [x, b.weight(f"{name}_gamma", (c,)), b.weight(f"{name}_beta", (c,))]
    return b.op("InstanceNorm", name, inputs, {"eps": "0.001"}, b.shapes[x])


def _l2_normalization(b: GraphBuilder, x: int, name: str) -> int:
    return b.op("L2Normalization", name, [x], {"mode": b.rng.choice(["channel", "instance"])}, b.shapes[x])


def _mean(b: GraphBuilder, x: int, name: str) -> int:
    n, c = b.shapes[x][:2]
    return b.op("mean", name, [x], {"axis": "(2, 3)", "keepdims": "True"}, (n, c, 1, 1))


def _full_pooling(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    if min(h, w) < 3:
        return x
    attrs = {"kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": b.rng.choice(["max", "avg"]),
             "pooling_convention": "full"}
    return b.op("Pooling", name, [x], attrs, (n, c, -(-(h - 3) // 2) + 1, -(-(w - 3) // 2) + 1))


def _split_reshape(b: GraphBuilder, x: int, name: str) -> int:
    n, c, h, w = b.shapes[x]
    if c % 2:
        return x
    return b.op("Reshape", name, [x], {"shape": "(0, -4, 2, -1, -2)"}, (n, 2, c // 2, h, w)) if b.rng.random() < 0.3 \
        else b.op("Reshape", name, [x], {"shape": "(0, -3, -2)"}, (n, c * h, w))


_SPATIAL_OPS: List[Callable[[GraphBuilder, int, str], int]] = [
    _deconvolution, _instance_norm, _l2_normalization, _mean, _full_pooling,
    _convolution, _convolution, _batch_norm, _activation, _leaky, _pooling, _concat, _add, _scale_channels,
    _simple("Dropout", {"p": "0.5"}), _simple("clip", {"a_min": "-1", "a_max": "1"}),
    _simple("_mul_scalar", {"scalar": "0.5"}), _simple("softmax", {"axis": "1"}), _transpose, _slice,
    _upsampling, _pad,
]


def generated_model(rng: random.Random) -> Tuple[Dict[str, Any], List[Tuple[str, np.ndarray]], Shapes]:
    """A random chain of 1..6 ops on a small NCHW input, sometimes ending in a Reshape,
    a Flatten or a FullyConnected head."""
    shape = (1, rng.choice([1, 2, 3]), rng.choice([4, 5, 8]), rng.choice([4, 6, 8]))
    b = GraphBuilder(rng, shape)
    x = b.data
    for index in range(rng.randint(1, 6)):
        if len(b.shapes[x]) != 4 or min(b.shapes[x][2:]) > 64 or b.shapes[x][1] > 24:
            break
        step = rng.choice(_SPATIAL_OPS + [_split_reshape])
        x = step(b, x, f"n{index}")
    tail = rng.random() if len(b.shapes[x]) == 4 else 1.0
    if tail < 0.2:
        x = _fully_connected(b, x, "fc")
    elif tail < 0.3:
        x = b.op("Flatten", "flatten", [x], {}, (b.shapes[x][0], int(np.prod(b.shapes[x][1:]))))
    elif tail < 0.4:
        x = _reshape(b, x, "reshape")
    if x == b.data:
        x = _activation(b, x, "act")
    return b.document(x), b.params, {"data": list(shape)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Python's stdout and the process's stderr (where MXNet's C++ logs) silenced."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def mxnet_function(mx: ModuleType, op: str) -> Optional[Callable[..., Any]]:
    """MXNet's symbol function of an op name, None if it has none."""
    if op.startswith("_contrib_"):
        return getattr(mx.sym.contrib, op[len("_contrib_"):], None)
    for namespace in (mx.sym, mx.sym._internal):
        if hasattr(namespace, op):
            return getattr(namespace, op)
    return None


def mxnet_parameters(function: Callable[..., Any]) -> List[Tuple[str, str]]:
    """(name, type as documented) of each parameter in the function's MXNet docstring."""
    return re.findall(r"^(\w+) : ([^\n]*)", function.__doc__ or "", re.M)


class SingleOps:
    """One-op graphs whose attributes are drawn from MXNet's own parameter list of the op (types,
    choices), kept when MXNet 1.9.1 accepts them on a random input, with weights of the shapes
    MXNet infers: valid models of every converted op, in many configurations. Needs MXNet (the
    test environment has it); without it this generator is left out."""

    _SKIPPED = {"name", "attr", "out", "ctx", "workspace", "cudnn_tune", "cudnn_off", "dtype", "out_dtype"}
    _POSITIVE = {"num_group", "stride", "dilate", "kernel", "scale", "num_filter", "num_hidden", "num_outputs",
                 "num_args", "reps", "repeats", "p_value", "nsize", "input_dim", "output_dim", "output_size",
                 "height", "width", "target_shape", "step"}

    def __init__(self) -> None:
        import mxnet as mx

        self.mx = mx
        self.ops: List[Tuple[str, Callable[..., Any], List[str], List[Tuple[str, str]]]] = []
        for op in _OPS:
            function = mxnet_function(mx, op)
            if function is None:
                continue
            symbols, params = [], []
            for name, kind in mxnet_parameters(function):
                if kind.startswith("Symbol[]"):
                    symbols += ["*"]
                elif kind.startswith("Symbol"):
                    symbols.append(name)
                elif name not in self._SKIPPED:
                    params.append((name, kind))
            self.ops.append((op, function, symbols, params))

    @staticmethod
    def _value(name: str, kind: str, rng: random.Random) -> str:
        choices = re.match(r"\{([^}]*)\}", kind)
        if choices:
            return rng.choice([c.strip().strip("'") for c in choices.group(1).split(",")])
        # MXNet's own shape inference divides by these unchecked (SIGFPE): positive values only
        small = [1, 1, 2, 2, 3] if name in SingleOps._POSITIVE else [-1, 0, 1, 1, 2, 2, 3]
        if kind.startswith("Shape") or kind.startswith("tuple"):
            length = rng.choice([1, 2, 2, 3, 4])
            return "(" + ", ".join(str(rng.choice(small)) for _ in range(length)) + ")"
        if kind.startswith("boolean"):
            return rng.choice(["True", "False"])
        if kind.startswith(("float", "double")):
            return rng.choice(["0.5", "1e-3", "2", "-1.5", "0"])
        if kind.startswith(("int", "long")):
            return str(rng.choice(small + [4]))
        return rng.choice(["None", "1"])

    def model(self, rng: random.Random) -> Optional[Tuple[Dict[str, Any], List[Tuple[str, np.ndarray]], Shapes]]:
        mx = self.mx
        for _ in range(8):
            op, function, symbols, params = rng.choice(self.ops)
            chosen = [(name, kind) for name, kind in params if "required" in kind or rng.random() < 0.5]
            attrs = {name: self._value(name, kind, rng) for name, kind in chosen}
            shape = tuple(rng.choice([1, 2, 3, 4, 6]) for _ in range(rng.choice([2, 3, 4, 4, 4, 5])))
            names = ["data"] + [f"x_{name}" for name in symbols[1:] if name != "*"]
            inputs = [mx.sym.Variable(name) for name in names]
            if symbols[:1] == ["*"]:
                inputs = [mx.sym.Variable(f"data{i}") for i in range(rng.choice([1, 2]))]
                names = [v.name for v in inputs]
                attrs["num_args"] = str(len(inputs))
            try:
                with _quiet():  # MXNet prints the arguments of a failure, and logs deprecations
                    symbol = function(*inputs, name="x", **attrs)
                    arg_shapes, _, aux_shapes = symbol.infer_shape(**{n: shape for n in names if n.startswith("data")})
            except Exception:
                continue
            if arg_shapes is None or any(d <= 0 for s in arg_shapes + aux_shapes for d in s):
                continue
            weights = [
                (f"arg:{n}", (np.arange(int(np.prod(s)), dtype=np.float32).reshape(s) % 5 * 0.25 + 0.5))
                for n, s in zip(symbol.list_arguments(), arg_shapes) if not n.startswith("data")
            ] + [
                (f"aux:{n}", np.full(s, 0.75, np.float32)) for n, s in zip(symbol.list_auxiliary_states(), aux_shapes)
            ]
            data = {n: list(shape) for n in names if n.startswith("data")}
            return json.loads(symbol.tojson()), weights, data
        return None


# --- mutations ----------------------------------------------------------------------------------

_HOSTILE_VALUES = [
    "None", "", " ", "(", ")", "(,)", "[]", "()", "(1,,1)", "[1, 2", "0", "-1", "-2147483649", "1.5", "nan",
    "inf", "-inf", "1e400", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
    "(0, 0)", "(1, 1, 1)", "(-1, -1)", "(4294967296, 1)", "(2, 0)", "(1L, 1L)", "True", "False", "true",
    "abc", "\u00e9", "\x00", "1" * 200, "(16, 1152921504606847705)", "(0, -1, 0)", "(-4, -1, 2, 0)",
    "(-3, -2)", "(0, 0, 0, 0, 0, 0, 0, -1)", "max", "avg", "full", "same", "prelu", "channel",
]
_ATTRIBUTE_KEYS = [
    "kernel", "stride", "pad", "dilate", "num_filter", "num_group", "no_bias", "eps", "fix_gamma", "axis",
    "num_args", "dim", "shape", "act_type", "slope", "pool_type", "global_pool", "pooling_convention",
    "count_include_pad", "num_hidden", "flatten", "p", "a_min", "a_max", "scalar", "axes", "begin", "end",
    "scale", "sample_type", "mode", "pad_width", "constant_value", "use_global_stats", "p_value", "reverse",
    "layout", "adj", "target_shape", "keepdims", "exclude", "momentum", "output_size", "num_outputs",
    "squeeze_axis", "reps", "repeats", "offset", "h_w", "center_crop", "input_dim", "output_dim", "alpha", "beta",
    "knorm", "nsize", "dim1", "dim2", "multi_input_mode", "num_filter", "height", "width", "scale_height",
    "align_corners", "step", "dtype", "ord", "temperature", "use_length", "mode", "lhs_axes", "rhs_axes",
]
# the ops mxnet2caffe converts (and a few it does not), for nodes given another op
_OPS = [*supported_ops(), "NoSuchOp", "null", "Custom", "_contrib_MultiBoxPrior"]
_NAMES = ["data", "n0", "n1", "fc", "n0/reshape", "n0_output", "n1_weight", "", "a b", "\u00e9", "x" * 300]


def _hostile_value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        return rng.choice(_HOSTILE_VALUES)
    if roll < 0.8:
        return "(" + ", ".join(str(rng.randint(-3, 2**rng.randint(1, 64))) for _ in range(rng.randint(1, 5))) + ")"
    if roll < 0.9:
        return str(rng.choice([-1, 1]) * 2 ** rng.randint(0, 70))
    return "(" + "3," * rng.randint(1, 100000) + ")"  # a tuple far too long


def _random_ref(rng: random.Random, count: int) -> Any:
    return rng.choice([
        [rng.randrange(count), 0], [rng.randrange(count), rng.randint(1, 3)], [count + 5, 0], [-1, 0],
        [0, 0, 0, 0], "x", [0.5, 0], [True, 0], [2**70, 0], None,
    ])


def mutate_document(document: Dict[str, Any], rng: random.Random) -> None:
    """Edits of the symbol's structure and attributes, one to three of them."""
    for _ in range(rng.randint(1, 3)):
        try:
            _mutate_once(document, rng)
        except (TypeError, KeyError, AttributeError, IndexError, ValueError):
            pass  # an earlier edit broke what this one edits: the document stays as it is


def _mutate_once(document: Dict[str, Any], rng: random.Random) -> None:
    nodes = document["nodes"]
    node = rng.choice(nodes)
    kind = rng.randrange(14)
    if kind < 5:  # an attribute given a hostile value (op nodes mostly)
        ops = [n for n in nodes if n["op"] != "null"] or nodes
        target = rng.choice(ops)
        attrs = target.setdefault("attrs", {})
        keys = list(attrs) if attrs and rng.random() < 0.6 else _ATTRIBUTE_KEYS
        attrs[rng.choice(keys)] = _hostile_value(rng)
    elif kind == 5:  # an attribute removed
        if node.get("attrs"):
            del node["attrs"][rng.choice(list(node["attrs"]))]
    elif kind == 6:
        node["op"] = rng.choice(_OPS)
    elif kind == 7:
        node["name"] = rng.choice(_NAMES + [n["name"] for n in nodes])
    elif kind == 8 and node["inputs"]:
        node["inputs"][rng.randrange(len(node["inputs"]))] = _random_ref(rng, len(nodes))
    elif kind == 9:
        node["inputs"] = node["inputs"] + node["inputs"][:1] if rng.random() < 0.5 else node["inputs"][1:]
    elif kind == 10:
        document["heads"] = rng.choice([[], [[0, 0, 0]], [[len(nodes) - 1, 1, 0]], "heads",
                                        [[len(nodes) - 1, 0, 0], [len(nodes) - 2, 0, 0]]])
    elif kind == 11:  # a field of the wrong JSON type
        key = rng.choice(["attrs", "inputs", "name", "op"])
        node[key] = rng.choice([None, 7, [], {}, "s", [[0, 0]], {"k": None}, 1.5])
    elif kind == 12:
        document["attrs"] = rng.choice([{"mxnet_version": ["int", 1e300]}, {"mxnet_version": "x"}, [], None,
                                        {"mxnet_version": ["int", -1]}])
    else:
        position = rng.randrange(len(nodes) + 1)
        nodes.insert(position, json.loads(json.dumps(rng.choice(nodes))))


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: flips, insertions, deletions, truncation, duplicated slices."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buffer:
            break
        kind = rng.randrange(6)
        position = rng.randrange(len(buffer))
        if kind == 0:
            buffer[position] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buffer[position] = rng.randrange(256)
        elif kind == 2:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 3:
            del buffer[position : position + rng.randint(1, 64)]
        elif kind == 4:
            del buffer[position:]
        else:
            end = min(len(buffer), position + rng.randint(1, 256))
            buffer[position:position] = buffer[position:end]
    return bytes(buffer)


def mutate_input_shapes(shapes: Shapes, rng: random.Random) -> Shapes:
    name = next(iter(shapes))
    choice = rng.randrange(6)
    if choice == 0:
        return {name: [rng.randint(1, 4) for _ in range(rng.randint(0, 6))]}
    if choice == 1:
        dims = list(shapes[name])
        dims[rng.randrange(len(dims))] = rng.choice([0, -1, 2**31, 2**40, 2**62, 2**63 - 1, 2**63, 100000])
        return {name: dims}
    if choice == 2:
        return {"nosuch": shapes[name]}
    if choice == 3:
        return {name: shapes[name], "other": [1]}
    if choice == 4:
        return {"": shapes[name]}
    dims = list(shapes[name])
    return {name: dims[:2] + [d * rng.choice([100, 1000, 20000]) for d in dims[2:]]}


_HEADER_VALUES = {
    "magic": [0, 1, 33, 0xF993FAC7, _V1, _V2, _V3, 0xFFFFFFFF, 2**31],
    "stype": [-1, 1, 2, 3, 2**31 - 1],
    "ndim": [-2, -1, 0, 1, 5, 32, 33, 64, 1000, 2**20, 2**31 - 1],
    "dim": [-2, -1, 0, 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1],
    "context": [0, -1, 2**31 - 1],
    "dtype": [-1, 1, 2, 3, 7, 11, 12, 13, 100],
    "count": [0, 1, 2**16, 2**32, 2**63, 2**64 - 1],
    "length": [0, 1, 2**20, 2**40, 2**64 - 1],
    "reserved": [1, 2**64 - 1],
}


def mutate_params(data: bytes, fields: List[Tuple[str, int, int]], rng: random.Random) -> bytes:
    """Header fields rewritten with telling values (most), or byte-level damage."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3 or not fields:
            return mutate_bytes(bytes(buffer), rng)
        kind, offset, size = rng.choice(fields)
        values = _HEADER_VALUES.get(kind, [0])
        value = rng.choice(values) if rng.random() < 0.8 else rng.randrange(2 ** (8 * size))
        if offset + size <= len(buffer):
            buffer[offset : offset + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
    return bytes(buffer)


def reencoded_params(
    params: List[Tuple[str, np.ndarray]], rng: random.Random
) -> List[Tuple[str, Optional[np.ndarray]]]:
    """The same arrays in other dtypes and names, some uninitialised, some added."""
    out: List[Tuple[str, Optional[np.ndarray]]] = []
    dtype = rng.choice(["<f4", "<f8", "<f2", "<i4", "u1"])
    for name, array in params:
        roll = rng.random()
        if roll < 0.05:
            out.append((name, None))
            continue
        if roll < 0.1:
            name = name[4:]  # Gluon's bare names
        out.append((name, array.astype(dtype)))
    if rng.random() < 0.3:
        out += [(f"arg:unused{i}", None) for i in range(rng.choice([1, 50, 3000]))]
    if rng.random() < 0.2 and out:
        out.append(out[0])  # a duplicate name
    return out


# --- the cases ----------------------------------------------------------------------------------


class Generator:
    """Case `index` of `reader` for a seed: the same bytes every time."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        try:
            self.single_ops: Optional[SingleOps] = SingleOps()
        except ImportError:
            print("MXNet is not installed: no one-op graphs", file=sys.stderr)
            self.single_ops = None
        self.example_symbol = json.loads((EXAMPLE / "se_resnet-symbol.json").read_text())
        self.example_params = read_example_params((EXAMPLE / "se_resnet-0000.params").read_bytes())

    def base(self, rng: random.Random) -> Tuple[Dict[str, Any], List[Tuple[str, np.ndarray]], Shapes]:
        roll = rng.random()
        if roll < 0.1:
            return json.loads(json.dumps(self.example_symbol)), self.example_params, {"data": list(EXAMPLE_SHAPE)}
        if roll < 0.4 and self.single_ops is not None:
            model = self.single_ops.model(rng)
            if model is not None:
                return model
        return generated_model(rng)

    def case(self, reader: str, index: int) -> Case:
        rng = random.Random(f"{self.seed}/{reader}/{index}")
        document, params, shapes = self.base(rng)
        if reader == "params" and params is self.example_params and rng.random() < 0.95:
            document, params, shapes = generated_model(rng)  # a mutated 2 MB file is a 2 MB case
        version = rng.choice([1, 2, 2, 2, 3, 0]) if reader == "params" else 2
        encoded = reencoded_params(params, rng) if reader == "params" and rng.random() < 0.3 else list(params)
        params_bytes, fields = params_file(encoded, version)
        if reader == "symbol":
            roll = rng.random()
            if roll < 0.65:
                mutate_document(document, rng)
            if roll > 0.85:
                shapes = mutate_input_shapes(shapes, rng)
            symbol = json.dumps(document).encode()
            if 0.65 <= roll < 0.85:
                symbol = mutate_bytes(symbol, rng)
        else:
            symbol = json.dumps(document).encode()
            if rng.random() < 0.85:
                params_bytes = mutate_params(params_bytes, fields, rng)
        return Case(f"{reader}-{index:06d}", reader, symbol, params_bytes, shapes)


def load_corpus(directory: Path) -> List[Case]:
    cases = []
    for path in sorted(p for p in directory.iterdir() if (p / "case.json").is_file()):
        meta = json.loads((path / "case.json").read_text())
        cases.append(Case(path.name, meta["reader"], (path / "symbol.json").read_bytes(),
                          (path / "model.params").read_bytes(), meta["input_shapes"]))
    return cases


# --- the worker: converts one case directory at a time ------------------------------------------


class CaseTimeout(BaseException):
    """The case ran past its time limit (a BaseException: no `except Exception` swallows it)."""


def _raise_timeout(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def net_defect(net: Any) -> str:
    """What makes a converted net one that Caffe or OpenCV refuses or misreads ('' if nothing):
    repeated layer names, a layer not named after its first top, a blob written twice (other than
    in place), a bottom read before any layer writes it, an output that is no blob, a blob with a
    dim below 1."""
    produced = {tensor.blob for tensor in net.inputs}
    names = set()
    for layer in net.layers:
        if layer.name in names:
            return f"two layers named {layer.name!r}"
        if layer.tops and layer.name != layer.tops[0]:  # OpenCV addresses outputs by layer name
            return f"layer {layer.name!r} is not named after its first top {layer.tops[0]!r}"
        names.add(layer.name)
        for bottom in layer.bottoms:
            if bottom not in produced:
                return f"layer {layer.name!r} reads {bottom!r} before any layer writes it"
        for top in layer.tops:
            if top in produced and top not in layer.bottoms:
                return f"blob {top!r} written twice (layer {layer.name!r})"
            produced.add(top)
    for tensor in net.outputs:
        if tensor.blob not in produced:
            return f"output {tensor.blob!r} is no blob"
    for blob, shape in net.shapes.items():
        if any(dim < 1 for dim in shape):
            return f"blob {blob!r} has shape {shape}"
    return ""


def run_case(path: Path, timeout: float) -> Dict[str, Any]:
    """Converts the case in `path`: {'outcome': 'valid'|'error'|'failure', 'detail': ...}."""
    from mxnet2caffe.caffe.writer import write_net
    from mxnet2caffe.convert import convert_to_net
    from mxnet2caffe.errors import ConversionError

    meta = json.loads((path / "case.json").read_text())
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    root = logging.getLogger()
    root.addHandler(handler)
    output = path / "out"
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        net = convert_to_net(path / "symbol.json", path / "model.params", meta["input_shapes"], output)
        write_net(net, output)  # as convert() does
        notes = "\n".join(net.notes)  # the CLI prints them
        broken = net_defect(net)
        result = {"outcome": "valid", "detail": ""}
        if broken:
            result = {"outcome": "failure", "detail": f"a broken model: {broken}"}
        elif len(notes) > MAX_LOG:
            result = {"outcome": "failure", "detail": f"notes of {len(notes)} characters: {notes[:200]}..."}
    except ConversionError as error:
        message = str(error)
        written = [p.name for p in path.iterdir() if p.name.startswith(("out.", ".out."))]
        if len(message) > MAX_MESSAGE:
            result = {"outcome": "failure", "detail": f"a {len(message)}-character message: {message[:300]}..."}
        elif written:
            result = {"outcome": "failure", "detail": f"files written by a failed conversion: {written}"}
        else:
            result = {"outcome": "error", "detail": message}
    except CaseTimeout:
        result = {"outcome": "failure", "detail": f"timeout after {timeout} s"}
    except BaseException as error:
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        where = "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)
        result = {"outcome": "failure", "detail": f"{type(error).__name__}: {str(error)[:300]} at {where}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        root.removeHandler(handler)
    logged = log.getvalue()
    if result["outcome"] != "failure" and len(logged) > MAX_LOG:
        result = {"outcome": "failure", "detail": f"{len(logged)} characters logged: {logged[:200]}..."}
    return result


def worker(timeout: float, memory_mb: int) -> None:
    """Reads case directories from stdin, one per line; answers one JSON line each."""
    if memory_mb:  # 0: no limit (AddressSanitizer reserves terabytes of address space)
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGALRM, _raise_timeout)
    logging.getLogger().setLevel(logging.WARNING)
    import mxnet2caffe.convert  # noqa: F401  (imported before the first case: its time is not the case's)

    for line in sys.stdin:
        result = run_case(Path(line.strip()), timeout)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


# --- the parent: hands cases to workers, counts, reports ----------------------------------------


@dataclass
class Worker:
    timeout: float
    memory_mb: int
    process: subprocess.Popen = field(init=False)
    case: Optional[Case] = None
    path: Optional[Path] = None
    started: float = 0.0

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        command = [sys.executable, str(Path(__file__).resolve()), "--worker",
                   "--timeout", str(self.timeout), "--memory", str(self.memory_mb)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    @property
    def stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def send(self, case: Case, path: Path) -> None:
        assert self.process.stdin is not None
        self.case, self.path, self.started = case, path, time.monotonic()
        try:
            self.process.stdin.write(f"{path}\n")
            self.process.stdin.flush()
        except BrokenPipeError:  # the worker died already: its closed stdout says so next
            pass

    def restart(self) -> None:
        self.process.kill()
        self.process.wait()
        self.start()

    def stop(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()


@dataclass
class Tally:
    cases: int = 0
    valid: int = 0
    errors: int = 0
    failures: List[Tuple[str, str]] = field(default_factory=list)


def run_cases(
    cases: Callable[[], Any], jobs: int, timeout: float, memory_mb: int, scratch: Path, keep: Path
) -> Dict[str, Tally]:
    """Runs every case of the iterator `cases()` on `jobs` workers; failing cases are copied to `keep`."""
    tallies = {reader: Tally() for reader in READERS}
    pending = iter(cases())
    workers = [Worker(timeout, memory_mb) for _ in range(jobs)]
    busy: List[Worker] = []

    def finish(w: Worker, result: Dict[str, Any]) -> None:
        assert w.case is not None and w.path is not None
        tally = tallies[w.case.reader]
        tally.cases += 1
        if result["outcome"] == "valid":
            tally.valid += 1
        elif result["outcome"] == "error":
            tally.errors += 1
        else:
            saved = w.case.save(keep)
            tally.failures.append((w.case.name, result["detail"]))
            print(f"FAILURE {w.case.name} (saved in {saved}): {result['detail']}", flush=True)
        shutil.rmtree(w.path, ignore_errors=True)
        busy.remove(w)
        w.case = w.path = None

    def feed(w: Worker) -> bool:
        case = next(pending, None)
        if case is None:
            return False
        w.send(case, case.save(scratch))
        busy.append(w)
        return True

    for w in workers:
        feed(w)
    while busy:
        ready, _, _ = select.select([w.stdout for w in busy], [], [], 1.0)
        for w in list(busy):
            if w.stdout in ready:
                line = w.stdout.readline()
                if line:
                    finish(w, json.loads(line))
                else:  # the worker died: a crash
                    code = w.process.wait()
                    finish(w, {"outcome": "failure", "detail": f"the worker died (exit {code})"})
                    w.start()
                feed(w)
            elif time.monotonic() - w.started > timeout + 10:  # stuck where the alarm cannot reach
                w.restart()
                finish(w, {"outcome": "failure", "detail": f"no answer after {timeout + 10} s: killed"})
                feed(w)
    for w in workers:
        w.stop()
    return tallies


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=10000, help="cases per reader")
    parser.add_argument("--reader", choices=READERS + ("all",), default="all")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds one case may take")
    parser.add_argument(
        "--memory", type=int, default=2048, help="MiB of address space a worker may use (0: no limit, for ASan)"
    )
    parser.add_argument("--save-corpus", type=Path, metavar="DIR", help="keep every generated case in DIR")
    parser.add_argument("--corpus", type=Path, metavar="DIR", help="replay the cases saved in DIR instead")
    parser.add_argument("--failures", type=Path, metavar="DIR", help="where failing cases are kept")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.timeout, args.memory)
        return 0

    readers = READERS if args.reader == "all" else (args.reader,)
    if args.corpus:
        corpus = [case for case in load_corpus(args.corpus) if case.reader in readers]
        if not corpus:
            print(f"no cases in {args.corpus}", file=sys.stderr)
            return 1

        def cases() -> Any:
            return iter(corpus)
    else:
        generator = Generator(args.seed)

        def cases() -> Any:
            for reader in readers:
                for index in range(args.cases):
                    case = generator.case(reader, index)
                    if args.save_corpus:
                        case.save(args.save_corpus)
                    yield case

    keep = args.failures or Path(tempfile.mkdtemp(prefix="fuzz-failures-"))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-", dir=base) as scratch:
        tallies = run_cases(cases, max(1, args.jobs), args.timeout, args.memory, Path(scratch), keep)
    failed = 0
    for reader in readers:
        t = tallies[reader]
        failed += len(t.failures)
        print(f"{reader} reader: {t.cases} cases, {t.valid} valid models, {t.errors} clear errors, "
              f"{len(t.failures)} failures")
    print(f"{time.monotonic() - started:.0f} s, seed {args.seed}" if not args.corpus else
          f"{time.monotonic() - started:.0f} s, corpus {args.corpus}")
    if failed:
        print(f"failing cases kept in {keep}; replay with: {Path(__file__).name} --corpus {keep}")
        return 1
    if not args.failures:
        keep.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

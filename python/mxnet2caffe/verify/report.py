"""Layer-by-layer verification: every MXNet op output against the Caffe blob standing for it.

Which blob holds which MXNet output is the NameMap the converter stores in the prototxt
(naming.py), kept right by every pass: renamed duplicates, fused layers and identities
removed at inference all compare as they should. A prototxt without the map (written by hand
or by another tool) is compared by the naming convention: output "conv0_output" is blob "conv0".
MXNet outputs that no blob holds (a convolution folded into the BatchNorm after it) get no row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..caffe.annotations import Annotations, read_annotations
from ..caffe.reader import input_shapes, read_prototxt
from ..caffe.writer import recover_install
from ..errors import ConversionError
from ..plugins import PluginSpec, load_plugins
from .backends import backend_blobs, mxnet_internal_outputs
from .compare import Comparison, compare
from .inputs import image_input, random_inputs

PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LayerRow:
    mxnet_output: str  # as MXNet's get_internals() names it
    comparison: Comparison  # its name is the Caffe blob
    is_output: bool  # a head of the model

    def within(self, tolerance: float) -> bool:
        return self.comparison.within(tolerance)


@dataclass(frozen=True)
class VerifyReport:
    backend: str
    tolerance: float
    input_description: str
    rows: List[LayerRow]  # in MXNet's topological order

    @property
    def outputs(self) -> List[LayerRow]:
        return [row for row in self.rows if row.is_output]

    @property
    def first_failure(self) -> Optional[LayerRow]:
        return next((row for row in self.rows if not row.within(self.tolerance)), None)

    @property
    def ok(self) -> bool:
        return self.first_failure is None

    def format(self, layers: bool = True) -> str:
        """The report as the CLI prints it: one row per layer (or per output)."""
        shown = self.rows if layers else self.outputs
        width = max([len(row.comparison.name) for row in shown] + [5])
        lines = [
            f"MXNet vs Caffe model in {self.backend}; input: {self.input_description}; "
            f"tolerance {self.tolerance:g} (relative max error = max|caffe - mxnet| / max|mxnet|)",
            f"  {'blob':<{width}}  {'shape':<16} {'max abs err':>12} {'rel err':>10} {'cosine':>10}",
        ]
        for row in shown:
            result = row.comparison
            shape = "x".join(map(str, result.shape))
            over = "" if row.within(self.tolerance) else "  <-- over tolerance"
            marks = (" output" if row.is_output else "") + over
            lines.append(
                f"  {result.name:<{width}}  {shape:<16} {result.max_abs_error:>12.3g} "
                f"{result.relative_error:>10.3g} {result.cosine:>10.6f}{marks}"
            )
        failure = self.first_failure
        if failure is None:
            lines.append(f"OK: {len(self.rows)} blobs compared, every one within tolerance")
        else:
            count = sum(not row.within(self.tolerance) for row in self.rows)
            lines.append(
                f"FAILED: first layer over tolerance: {failure.comparison.name} "
                f"(MXNet {failure.mxnet_output}); {count} of {len(self.rows)} blobs over tolerance"
            )
        return "\n".join(lines)


def _conventional_blob(key: str) -> str:
    """The blob a hand-written model names after an MXNet output (node_blob's rule)."""
    return key[: -len("_output")] if key.endswith("_output") else key


def mxnet_inputs(caffe_inputs: Mapping[str, np.ndarray], annotations: Annotations) -> Dict[str, np.ndarray]:
    """What MXNet is fed for the Caffe model's inputs: under the MXNet name of each (lowering may
    rename an input), normalized where the Caffe model takes raw pixels."""
    mxnet_name = {blob: key for key, blob in annotations.names.items()} if annotations.names is not None else {}
    fed = {}
    for blob, value in caffe_inputs.items():
        transform = annotations.inputs.get(blob)
        fed[mxnet_name.get(blob, blob)] = transform.mxnet_input(value) if transform is not None else value
    return fed


def verify(
    symbol: PathLike,
    params: PathLike,
    prototxt: PathLike,
    caffemodel: PathLike,
    backend: str = "opencv",
    tolerance: float = DEFAULT_TOLERANCE,
    image: Optional[PathLike] = None,
    inputs: Optional[Mapping[str, np.ndarray]] = None,
    seed: int = 0,
    plugins: Sequence[PluginSpec] = (),
) -> VerifyReport:
    """Runs MXNet with every internal output and the Caffe model with every blob on the
    same input, and compares each MXNet op output with its Caffe blob.

    The Caffe model's input is `inputs` if given (by Caffe input name), else `image` (for a single
    image input), else a tensor of seeded random values, shaped as the prototxt's Input layers.
    MXNet gets the same, normalized first if the model was converted to take raw pixels.
    `plugins` as in convert(): they declare the layer types of their own the model may use."""
    load_plugins(plugins)
    recover_install(Path(caffemodel))  # an install a crash left half done is completed first
    fetch = backend_blobs(backend)
    net = read_prototxt(prototxt)
    if inputs is not None:
        description = "given tensors"
    elif image is not None:
        shapes = input_shapes(net)
        if len(shapes) != 1:
            raise ConversionError(f"{prototxt}: --input IMAGE needs a model with one input, it has {list(shapes)}")
        ((name, shape),) = shapes.items()
        inputs = {name: image_input(image, shape)}
        description = f"image {image}"
    else:
        inputs = random_inputs(input_shapes(net), seed)
        description = f"random normal, seed {seed}"
    with open(prototxt, encoding="utf-8", errors="replace") as handle:
        annotations = read_annotations(handle.read())
    blob_of = annotations.names.blob if annotations.names is not None else _conventional_blob
    tops = {top for layer in net.layer if layer.type != "Input" for top in layer.top}
    outputs = tops - {bottom for layer in net.layer for bottom in layer.bottom}
    expected = mxnet_internal_outputs(symbol, params, mxnet_inputs(inputs, annotations))
    compared: List[Tuple[str, str]] = []  # (MXNet output, blob) of the outputs a blob holds
    for key in expected:
        blob = blob_of(key)
        if blob is not None and blob in tops:
            compared.append((key, blob))
    actual = fetch(prototxt, caffemodel, inputs, sorted({blob for _, blob in compared}), fuse=False)
    rows = [LayerRow(key, compare(blob, actual[blob], expected[key]), blob in outputs) for key, blob in compared]
    return VerifyReport(backend, tolerance, description, rows)

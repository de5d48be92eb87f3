"""Layer-by-layer verification: every MXNet op output against the Caffe blob standing for it.

The converter names the last Caffe layer of every MXNet node, and its top, after the node;
the extra layers an op may need are named "node/suffix". So MXNet's internal output
"conv0_output" is Caffe blob "conv0" (and "split_output1" is "split_output1"), with no
side file to keep in step. Ops that are identities at inference have no blob of their own
and no row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence

import numpy as np

from ..caffe.reader import input_shapes, read_prototxt
from ..errors import ConversionError
from ..mxnet.symbol import read_symbol
from .compare import Comparison, compare
from .inputs import image_input, random_inputs
from .runtimes import backend_blobs, mxnet_internal_outputs

PathLike = "str | os.PathLike[str]"
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
            marks = (" output" if row.is_output else "") + ("" if row.within(self.tolerance) else "  <-- over tolerance")
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


def _caffe_blob(mxnet_output: str) -> str:
    return mxnet_output[: -len("_output")] if mxnet_output.endswith("_output") else mxnet_output


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
) -> VerifyReport:
    """Runs MXNet with every internal output and the Caffe model with every blob on the
    same input, and compares each MXNet op output with its Caffe blob.

    The input is `inputs` if given, else `image` (for a single image input), else a
    tensor of seeded random values, shaped as the prototxt's Input layers."""
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
    graph = read_symbol(symbol)
    heads = {graph.node(ref).name if ref.index == 0 else f"{graph.node(ref).name}_output{ref.index}" for ref in graph.heads}
    tops = {top for layer in net.layer if layer.type != "Input" for top in layer.top}
    expected = mxnet_internal_outputs(symbol, params, inputs)
    pairs = [(name, _caffe_blob(name)) for name in expected if _caffe_blob(name) in tops]
    actual = fetch(prototxt, caffemodel, inputs, [blob for _, blob in pairs], fuse=False)
    rows = [LayerRow(name, compare(blob, actual[blob], expected[name]), blob in heads) for name, blob in pairs]
    return VerifyReport(backend, tolerance, description, rows)

"""The conversion API: read the files, run the pipeline, write the Caffe model."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .caffe.net import Net, Shape
from .caffe.writer import write_net
from .mxnet.graph import Graph
from .mxnet.params import read_params
from .mxnet.symbol import read_symbol
from .options import ConvertOptions
from .pipeline import build_net, run_graph_passes
from .plugins import PluginSpec, load_plugins

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ConversionSummary:
    prototxt: Optional[Path]
    caffemodel: Optional[Path]
    inputs: Dict[str, Shape]
    outputs: Dict[str, Shape]
    layer_count: int
    # MXNet output (naming.output_key: "fc1_output", "fc7_output#2") -> Caffe blob with its value
    names: Dict[str, str] = field(default_factory=dict)
    # what the passes did: cut, dropped, removed, renamed, fused, folded
    notes: List[str] = field(default_factory=list)


def convert_to_net(
    symbol: Union[PathLike, Graph],
    params: Union[PathLike, Mapping[str, np.ndarray]],
    input_shapes: Mapping[str, Sequence[int]],
    output: Optional[PathLike] = None,
    options: Optional[ConvertOptions] = None,
    plugins: Sequence[PluginSpec] = (),
) -> Net:
    """The pipeline of convert() up to the Net, for emitters other than Caffe's (onnx/).
    The Net is named after `output`'s file name, else after the symbol file."""
    load_plugins(plugins)
    graph = symbol if isinstance(symbol, Graph) else read_symbol(symbol)
    graph.params = dict(params) if isinstance(params, Mapping) else read_params(params)
    name = Path(output).name if output is not None else Path(graph.source).stem.replace("-symbol", "")
    options = options or ConvertOptions()
    net = build_net(run_graph_passes(graph, options), graph.params, input_shapes, options, name)
    for note in net.notes:
        log.info("%s", note)
    return net


def convert(
    symbol: Union[PathLike, Graph],
    params: Union[PathLike, Mapping[str, np.ndarray]],
    input_shapes: Mapping[str, Sequence[int]],
    output: Optional[PathLike] = None,
    options: Optional[ConvertOptions] = None,
    plugins: Sequence[PluginSpec] = (),
    fsync: bool = True,
) -> ConversionSummary:
    """Converts an MXNet model; writes OUTPUT.prototxt and OUTPUT.caffemodel if `output`.

    `symbol` and `params` are file paths (or an already read Graph, which the passes edit, /
    a name->array dict); `input_shapes` maps input names to shapes ('' for the only input);
    `plugins`: modules or .py files to load first (mxnet2caffe.extend), besides installed ones.
    The outputs are installed together or not at all; with fsync=False they are not flushed to
    disk first, so a crash or a power loss can leave them old, new, empty, mixed or missing
    (caffe.writer.write_files_atomically).
    """
    net = convert_to_net(symbol, params, input_shapes, output, options, plugins)
    prototxt = caffemodel = None
    if output is not None:
        prototxt, caffemodel = write_net(net, output, fsync)
        log.info("wrote %s and %s (%d layers)", prototxt, caffemodel, len(net.layers))
    return ConversionSummary(
        prototxt=prototxt,
        caffemodel=caffemodel,
        inputs={t.blob: t.shape for t in net.inputs},
        outputs={t.blob: t.shape for t in net.outputs},
        layer_count=len(net.layers),
        names=net.names.as_dict(),
        notes=list(net.notes),
    )

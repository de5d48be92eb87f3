"""convert_to_onnx: the conversion pipeline of convert(), then the ONNX emitter, written atomically;
caffe_to_onnx: the same emitter over a Caffe model read back (converted earlier, or by hand)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..caffe.net import Net, Tensor
from ..caffe.net_reader import output_shapes, read_net
from ..caffe.writer import write_files_atomically
from ..convert import PathLike, convert_to_net
from ..errors import ConversionError, OutputFileError
from ..mxnet.graph import Graph
from ..options import ConvertOptions
from ..plugins import PluginSpec, load_plugins
from ..runtimes.imports import require
from .emit import infer_shapes, net_to_onnx
from .tensorrt import DEFAULT_OPSET

log = logging.getLogger(__name__)


def onnx_path(output: PathLike) -> Path:
    """OUTPUT.onnx, unless `output` already ends in .onnx."""
    path = Path(output)
    return path if path.suffix == ".onnx" else path.with_name(path.name + ".onnx")


def write_onnx(model: Any, output: PathLike, fsync: bool = True) -> Path:
    """Checks the model (with full shape inference) and writes it atomically (flushed to disk
    unless not `fsync`); returns the path."""
    onnx = require("onnx")
    onnx.checker.check_model(model, full_check=True)
    path = onnx_path(output)
    try:
        write_files_atomically([(path, model.SerializeToString())], fsync)
    except OSError as exc:
        raise OutputFileError(exc.filename or path, f"cannot write the model: {exc.strerror or exc}") from None
    log.info("wrote %s", path)
    return path


def visible_batch(input_shapes: Mapping[str, Sequence[int]]) -> Dict[str, Tuple[int, ...]]:
    """The shapes with a batch of 2 where they give 1: at batch 1 a converter may drop the batch
    axis as one of size 1 (SE's stock form reshapes (1, C, 1, 1) to (C,)), which no dynamic batch
    can undo; at 2 every layer keeps it where a batch axis must be."""
    return {name: (2, *shape[1:]) if shape and shape[0] == 1 else tuple(shape) for name, shape in input_shapes.items()}


def _check(model: Any, output: Optional[PathLike]) -> None:
    if output is not None:
        write_onnx(model, output)
    else:
        require("onnx").checker.check_model(model, full_check=True)


def read_caffe_net(prototxt: PathLike, caffemodel: PathLike, dynamic_batch: bool = False) -> Net:
    """A Caffe model as a Net with every blob's shape; `dynamic_batch`: read at batch 2 where it
    has 1 (see visible_batch). A layer fixing the batch (a Reshape to explicit dims) then fails
    with an error naming it."""
    net = read_net(prototxt, caffemodel)
    if dynamic_batch:
        shapes = visible_batch({t.blob: t.shape for t in net.inputs})
        net.inputs = [Tensor(blob, shape) for blob, shape in shapes.items()]
        net.shapes.update({t.blob: t.shape for t in net.inputs})
        try:
            shapes = infer_shapes(net)
        except ConversionError as error:
            raise ConversionError(f"{error} (at batch 2, for --dynamic-batch: convert the model at batch 2)") from None
    else:
        shapes = infer_shapes(net)
    output_shapes(net, shapes)
    return net


def caffe_to_onnx(
    prototxt: PathLike,
    caffemodel: PathLike,
    output: Optional[PathLike] = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    plugins: Sequence[PluginSpec] = (),
) -> Any:
    """A Caffe model (ours, with native MX* layers or not, or hand-written) as ONNX; writes
    OUTPUT.onnx if `output`. Returns the checked onnx.ModelProto. `plugins` as in convert():
    they give the ONNX forms of their layer types."""
    load_plugins(plugins)
    model = net_to_onnx(read_caffe_net(prototxt, caffemodel, dynamic_batch), opset, dynamic_batch)
    _check(model, output)
    return model


def convert_to_onnx(
    symbol: Union[PathLike, Graph],
    params: Union[PathLike, Mapping[str, np.ndarray]],
    input_shapes: Mapping[str, Sequence[int]],
    output: Optional[PathLike] = None,
    options: Optional[ConvertOptions] = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    plugins: Sequence[PluginSpec] = (),
) -> Any:
    """Converts an MXNet model as convert() does and emits the Caffe net as ONNX; writes
    OUTPUT.onnx if `output`. Returns the checked onnx.ModelProto."""
    return convert_net_to_onnx(symbol, params, input_shapes, output, options, opset, dynamic_batch, plugins)[1]


def convert_net_to_onnx(
    symbol: Union[PathLike, Graph],
    params: Union[PathLike, Mapping[str, np.ndarray]],
    input_shapes: Mapping[str, Sequence[int]],
    output: Optional[PathLike] = None,
    options: Optional[ConvertOptions] = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    plugins: Sequence[PluginSpec] = (),
) -> Tuple[Net, Any]:
    """convert_to_onnx, also returning the Net (its NameMap and input transforms say what MXNet
    is fed and which blob is which MXNet output: --trt-check needs both)."""
    if dynamic_batch:
        input_shapes = visible_batch(input_shapes)
    net = convert_to_net(symbol, params, input_shapes, output, options, plugins)
    model = net_to_onnx(net, opset, dynamic_batch)
    _check(model, output)
    return net, model

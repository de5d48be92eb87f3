"""Forward passes in the real runtimes. Each is imported only when used: converting
needs none of them, and a missing one gets a message saying how to install it."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Dict, List, Mapping, Sequence, Union

import numpy as np

from ..errors import ConversionError

PathLike = Union[str, "os.PathLike[str]"]

_INSTALL_HINTS = {
    "mxnet": "pip install 'mxnet==1.9.1' 'numpy==1.23.5' (or: pip install 'mxnet2caffe[verify]')",
    "cv2": "pip install 'opencv-python-headless>=4.5,<5' (OpenCV 5 has no Caffe importer)",
}


class RuntimeMissingError(ConversionError):
    """A runtime needed for verification is not installed."""


def require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeMissingError(
            f"verification needs {module}, which cannot be imported ({exc}); install it with: "
            f"{_INSTALL_HINTS.get(module, 'pip install ' + module)}"
        ) from None


def mxnet_forward(
    symbol: PathLike, params: PathLike, inputs: Mapping[str, np.ndarray]
) -> List[np.ndarray]:
    """The heads of an MXNet checkpoint at inference (is_train=False)."""
    mx = require("mxnet")
    sym = mx.sym.load(str(symbol))
    saved = mx.nd.load(str(params))
    if isinstance(saved, list):  # mx.nd.load gives a list for a file with no arrays
        saved = {}
    args: Dict[str, object] = {}
    aux: Dict[str, object] = {}
    for key, value in saved.items():
        kind, _, name = key.partition(":")
        if not name:  # Gluon's bare names
            kind, name = "", key
        (aux if kind == "aux" or name in sym.list_auxiliary_states() else args)[name] = value
    args.update({name: mx.nd.array(value) for name, value in inputs.items()})
    arg_shapes, _, _ = sym.infer_shape(**{name: value.shape for name, value in inputs.items()})
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        args.setdefault(name, mx.nd.zeros(shape))  # training labels: unused at inference
    executor = sym.bind(mx.cpu(), args, aux_states=aux, grad_req="null")
    return [out.asnumpy() for out in executor.forward(is_train=False)]


def opencv_forward(
    prototxt: PathLike, caffemodel: PathLike, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
) -> List[np.ndarray]:
    """Named blobs of a Caffe model run by OpenCV DNN on the CPU in float32."""
    cv2 = require("cv2")
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    if hasattr(net, "enableWinograd"):
        net.enableWinograd(False)  # Winograd convolution trades accuracy for speed
    for name, value in inputs.items():
        net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
    return [np.asarray(out) for out in net.forward(list(outputs))]

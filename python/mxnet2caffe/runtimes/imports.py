"""Imports an optional runtime, or says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import RuntimeMissingError

_INSTALL_HINTS = {
    "mxnet": "pip install 'mxnet==1.9.1' 'numpy==1.23.5' (or: pip install 'mxnet2caffe[verify]')",
    "cv2": "pip install 'opencv-python-headless>=4.5,<5' (OpenCV 5 has no Caffe importer)",
    "onnx": "pip install 'mxnet2caffe[onnx]' (beside MXNet's numpy 1.23.5: pip install 'onnx==1.17.*')",
    "onnxruntime": "pip install 'mxnet2caffe[onnx]'",
}


def require(module: str) -> ModuleType:
    """The imported module; RuntimeMissingError with an install hint if it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeMissingError(
            f"verification needs {module}, which cannot be imported ({exc}); install it with: "
            f"{_INSTALL_HINTS.get(module, 'pip install ' + module)}"
        ) from None

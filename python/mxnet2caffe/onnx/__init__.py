"""The converted model as ONNX, for TensorRT and ONNX Runtime: an emitter over the Caffe Net IR.

Needs the optional `onnx` package (pip install 'mxnet2caffe[onnx]'); importing this package does
not import it, and converting to Caffe never does.
"""

from .api import convert_to_onnx, write_onnx
from .emit import net_to_onnx

__all__ = ["convert_to_onnx", "net_to_onnx", "write_onnx"]

"""mxnet2caffe's own Caffe layer types: one table that the conversion switches and CLI flags, the
layer profile, the OpenCV registration and the README's list all come from.

Adding a native layer is: its kernel in cpp/, its Caffe layer in caffe_layers/, and one row
here (plus, for a new kernel family, its OpenCV layer class in caffe_layers/opencv.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class NativeLayer:
    type: str  # the Caffe layer type
    switch: str  # the ConvertOptions form switch choosing it (CLI: --<switch with dashes> native)
    covers: str  # the MXNet ops and cases it converts
    stock: str  # what the default (stock) form of those is instead
    # the kernel family: cpp/<kernel>.hpp, caffe_layers/mx_<kernel>_layer.*, and the OpenCV layer
    # class of caffe_layers/opencv.py
    kernel: str
    operation: str = ""  # the operation, for a family with several (broadcast: cpp/broadcast.hpp's BroadcastOp)


NATIVE_LAYERS: Tuple[NativeLayer, ...] = (
    NativeLayer(
        "MXBroadcastMul", "broadcast_mul", "broadcast_mul that stretches an operand (SE blocks)",
        "Reshape + two-bottom Scale, or Concat copies + Eltwise PROD", kernel="broadcast", operation="mul",
    ),
    NativeLayer(
        "MXBroadcastAdd", "broadcast_add", "broadcast_add that stretches an operand",
        "Concat copies + Eltwise SUM", kernel="broadcast", operation="add",
    ),
    NativeLayer(
        "MXBroadcastSub", "broadcast_sub", "broadcast_sub that stretches an operand",
        "Concat copies + Eltwise SUM", kernel="broadcast", operation="sub",
    ),
    NativeLayer(
        "MXBroadcastDiv", "broadcast_div", "division of tensors (broadcast_div, elemwise_div)",
        "Power(-1) of the divisor + the product (one extra rounding)", kernel="broadcast", operation="div",
    ),
    NativeLayer(
        "MXTranspose", "transpose", "transpose, SwapAxis (swapaxes) that move more than axes of size 1",
        "Slice + Concat for each swap of two neighbouring axis groups (an error when one needs too many parts)",
        kernel="transpose",
    ),
)

NATIVE_LAYER_TYPES = frozenset(layer.type for layer in NATIVE_LAYERS)

# switch -> what it chooses between, as the CLI help says it
SWITCHES: Dict[str, str] = {
    layer.switch: f"{layer.covers}: stock {layer.stock}, or one native {layer.type} layer" for layer in NATIVE_LAYERS
}


def native_type(switch: str) -> str:
    """The layer type a switch's native form emits."""
    return next(layer.type for layer in NATIVE_LAYERS if layer.switch == switch)


def native_hint(switch: str) -> str:
    """What an error about a missing stock form tells the user to choose instead."""
    return f"convert with --{switch.replace('_', '-')} native for the {native_type(switch)} layer"

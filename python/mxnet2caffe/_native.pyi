"""Types of mxnet2caffe._native, the pybind11 module that cpp/bindings.cpp defines.

Array arguments are converted to C-contiguous float32 (py::array::forcecast), so anything
numpy can make an array of is accepted; integer arguments take anything with __index__ or
__int__.
"""

from typing import ClassVar, Dict, List, Sequence, SupportsIndex, SupportsInt, Union

import numpy as np
import numpy.typing as npt

_Int = Union[SupportsInt, SupportsIndex]

class BroadcastOp:
    """The operation of broadcast(op, a, b)."""

    mul: ClassVar[BroadcastOp]
    add: ClassVar[BroadcastOp]
    sub: ClassVar[BroadcastOp]
    div: ClassVar[BroadcastOp]
    __members__: ClassVar[Dict[str, BroadcastOp]]

    def __init__(self, value: _Int) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __int__(self) -> int: ...
    def __getstate__(self) -> int: ...
    def __setstate__(self, state: _Int) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

def broadcast(op: BroadcastOp, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """a op b in float32, where one of a and b broadcasts to the other (same rank, each axis the
    other's size or 1); ValueError when they do not broadcast so."""

def broadcast_output_shape(a_shape: Sequence[_Int], b_shape: Sequence[_Int]) -> List[int]:
    """The shape of broadcast(op, a, b); ValueError saying why when they do not broadcast."""

def transpose(array: npt.ArrayLike, permutation: Sequence[_Int]) -> npt.NDArray[np.float32]:
    """The array in float32 with its axes reordered, axis i being axis permutation[i] of the input
    (numpy.transpose); ValueError when permutation is not an order of the array's axes."""

def transpose_output_shape(shape: Sequence[_Int], permutation: Sequence[_Int]) -> List[int]:
    """The shape of transpose(array, permutation) for an array of `shape`; ValueError saying why when
    permutation is not an order of its axes."""

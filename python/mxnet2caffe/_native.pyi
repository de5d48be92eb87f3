"""Types of mxnet2caffe._native, the pybind11 module that cpp/bindings.cpp defines.

Array arguments are converted to C-contiguous float32 (py::array::forcecast), so anything
numpy can make an array of is accepted; integer arguments take anything with __index__ or
__int__.
"""

from typing import ClassVar, Dict, List, Optional, Sequence, SupportsFloat, SupportsIndex, SupportsInt, Tuple, Union

import numpy as np
import numpy.typing as npt

_Int = Union[SupportsInt, SupportsIndex]
_Float = Union[SupportsFloat, SupportsIndex]
_Float32 = npt.NDArray[np.float32]

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

def reverse_axis(array: npt.ArrayLike, axis: _Int) -> npt.NDArray[np.float32]:
    """The array in float32 with axis `axis` (negative: from the end) reversed (numpy.flip); ValueError
    when it has no such axis."""

def fold_batch_norm(
    weights: npt.NDArray[np.floating],
    bias: npt.ArrayLike,
    mean: npt.ArrayLike,
    variance: npt.ArrayLike,
    factor: _Float,
    eps: _Float,
    gamma: npt.ArrayLike,
    beta: npt.ArrayLike,
    groups: _Int,
    transposed: bool,
) -> Tuple[_Float32, _Float32]:
    """(weights', bias') in float32: BatchNorm (mean, variance, factor, eps) + Scale (gamma, beta) folded
    into the weights and bias before them, computed in float64 as passes/fuse_batch_norm.py does. Output
    channel o is weights[o], or with transposed (Deconvolution) weights[g*(I/groups):(g+1)*(I/groups), j]
    for o = g*(O/groups) + j; ValueError when the sizes disagree."""

def to_float32(array: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """A float16 or float64 array (either byte order, any strides) as C-contiguous float32, as numpy's
    astype(float32) converts it; ValueError for other dtypes."""

def transpose_output_shape(shape: Sequence[_Int], permutation: Sequence[_Int]) -> List[int]:
    """The shape of transpose(array, permutation) for an array of `shape`; ValueError saying why when
    permutation is not an order of its axes."""

def write_pieces(
    fd: _Int,
    offset: _Int,
    pieces: Sequence[Tuple[object, Optional[Tuple[object, _Int]]]],
    writeback: bool,
    threads: _Int = 0,
) -> None:
    """Writes the pieces, (buffer, source) pairs of C-contiguous buffers, one after another into the open
    regular file `fd` from byte `offset` on (pwrite: the file position does not move), on up to `threads`
    threads (0: as many as are worth it). The file's blocks are reserved first. `source` is None or
    (map, file descriptor): a read-only map of a whole file that the buffer lies in, and that file open for
    reading, from which the bytes are read instead (on Linux, spliced: never mapped into the process).
    With writeback, the disk write of each few MB starts as soon as they are written. ValueError for a
    piece outside its map; OSError (the file then holds some of the bytes), the buffer's own error for one
    that is not C-contiguous (numpy's: ValueError)."""

"""Reads MXNet `.params` files (the NDArray lists `mx.nd.save` writes) without MXNet.

Layout, as MXNet's NDArray::Save writes it (src/ndarray/ndarray.cc), all little-endian:

  file:   u64 0x112, u64 reserved, u64 n, n x array, u64 m, m x (u64 length, utf-8 name)
  array:  u32 magic, then by magic
            0xF993FAC9 (V2), 0xF993FACA (V3, np-shape): i32 storage type, [sparse:
                storage shape], shape
            0xF993FAC8 (V1): shape
            anything else (legacy): the magic is ndim, followed by ndim x u32 dims
          and unless the shape is "none": i32 dev_type, i32 dev_id, i32 type flag,
          [sparse: aux types and shapes], raw data, [sparse: aux data]
  shape:  i32 ndim, ndim x i64 dims; ndim -1 or a dim of -1 means unknown ("none")

ndim 0 means "none" (an uninitialized NDArray) except in V3, where it is a 0-d scalar.

Regular files are memory-mapped: every header is parsed and bounds-checked against the
file's length first, then arrays are made as read-only views of the map (no copy), so a
truncated or corrupt file fails before any weight is read.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import stat
import struct
import weakref
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _native
from ..errors import InputFileError, listed, log_summarized, shortened

log = logging.getLogger(__name__)

_LIST_MAGIC = 0x112
_V1_MAGIC = 0xF993FAC8
_V2_MAGIC = 0xF993FAC9
_V3_MAGIC = 0xF993FACA

_F32 = np.dtype(np.float32)
_BF16_FLAG = 12
_NARROWED = (1, 2)  # float64 and float16: converted to float32 by the native kernel
# mshadow type flag -> (dtype as stored, dtype returned). Floats are widened or
# narrowed to float32 because that is what Caffe stores; integers are left to the
# converter. bfloat16 (12) is stored as u16 and widened by hand.
_DTYPES: Dict[int, Tuple[np.dtype, np.dtype]] = {
    0: (np.dtype("<f4"), _F32),
    1: (np.dtype("<f8"), _F32),
    2: (np.dtype("<f2"), _F32),
    3: (np.dtype("u1"), np.dtype(np.uint8)),
    4: (np.dtype("<i4"), np.dtype(np.int32)),
    5: (np.dtype("i1"), np.dtype(np.int8)),
    6: (np.dtype("<i8"), np.dtype(np.int64)),
    7: (np.dtype("?"), np.dtype(np.bool_)),
    8: (np.dtype("<i2"), np.dtype(np.int16)),
    9: (np.dtype("<u2"), np.dtype(np.uint16)),
    10: (np.dtype("<u4"), np.dtype(np.uint32)),
    11: (np.dtype("<u8"), np.dtype(np.uint64)),
    _BF16_FLAG: (np.dtype("<u2"), _F32),
}
# Storage type -> (name, number of aux arrays): row_sparse has indices, csr has
# indptr and indices.
_SPARSE = {1: ("row_sparse", 1), 2: ("csr", 2)}

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_NUMPY_MAX_NDIM = 32  # NPY_MAXDIMS of numpy 1.x

Shape = Tuple[int, ...]
Buffer = Union[bytes, mmap.mmap]


class _Sparse:
    """Stands in for a sparse array, so the error can name it once names are read."""

    def __init__(self, stype_name: str) -> None:
        self.stype_name = stype_name


@dataclass(frozen=True)
class _Dense:
    """Where a dense array's data lies; read only once the whole file has been checked."""

    shape: Shape
    flag: int
    offset: int


class _Reader:
    """Offset-based parser over the whole file; every read is bounds-checked."""

    def __init__(self, path: str, data: Buffer) -> None:
        self.path = path
        self.data = data
        self.pos = 0
        self.what = "the file header"  # names the current item in error messages

    def fail(self, message: str) -> InputFileError:
        return InputFileError(self.path, message)

    def take(self, size: int) -> int:
        """Returns the offset of the next `size` bytes and moves past them."""
        start = self.pos
        if size > len(self.data) - start:
            raise self.fail(
                f"truncated at byte {len(self.data)} while reading {self.what}"
            )
        self.pos = start + size
        return start

    def unpack(self, fmt: struct.Struct) -> int:
        return fmt.unpack_from(self.data, self.take(fmt.size))[0]

    def dims(self, ndim: int, dtype: str) -> List[int]:
        if ndim > _NUMPY_MAX_NDIM:
            raise self.fail(f"{self.what} has {ndim} dimensions (numpy holds at most {_NUMPY_MAX_NDIM})")
        item = np.dtype(dtype).itemsize
        offset = self.take(ndim * item)
        if ndim == 0:
            return []
        return np.frombuffer(self.data, dtype, ndim, offset).tolist()

    def shape(self) -> Optional[Shape]:
        """Reads an int64 shape; None if it is unknown."""
        ndim = self.unpack(_I32)
        if ndim == -1:
            return None
        if ndim < -1:
            raise self.fail(f"{self.what} has an invalid ndim {ndim}")
        dims = self.dims(ndim, "<i8")
        if -1 in dims:
            return None
        if any(d < 0 for d in dims):
            raise self.fail(f"{self.what} has an invalid shape {listed(dims)}")
        return tuple(dims)

    def dtype(self) -> Tuple[int, np.dtype, np.dtype]:
        flag = self.unpack(_I32)
        if flag not in _DTYPES:
            raise self.fail(f"{self.what} has an unknown dtype flag {flag}")
        stored, out = _DTYPES[flag]
        return flag, stored, out


def _read_array(r: _Reader) -> Union[_Dense, np.ndarray, _Sparse, None]:
    """Reads one array's header and moves past its data; None for an uninitialized
    ("none") one, the array itself if it is empty (it needs no data)."""
    magic = r.unpack(_U32)
    stype = 0
    if magic in (_V2_MAGIC, _V3_MAGIC):
        stype = r.unpack(_I32)
        if stype != 0 and stype not in _SPARSE:
            raise r.fail(f"{r.what} has an unknown storage type {stype}")
    if magic in (_V1_MAGIC, _V2_MAGIC, _V3_MAGIC):
        storage_shape = r.shape() if stype else None
        shape = r.shape()
        # Only np-shape (V3) files can hold 0-d arrays; elsewhere ndim 0 is "none".
        if shape is None or (shape == () and magic != _V3_MAGIC):
            return None
    else:
        # Pre-V1 files: the magic is ndim and the dims are u32.
        shape = tuple(r.dims(magic, "<u4"))
        if shape == ():
            return None

    r.take(8)  # context (dev_type, dev_id): where it lived when saved, irrelevant here
    flag, stored, out = r.dtype()

    if stype:
        return _skip_sparse(r, stype, storage_shape, stored)

    count = math.prod(shape)
    offset = r.take(count * stored.itemsize)
    if count == 0:
        try:
            return np.zeros(shape, out)
        except ValueError:  # e.g. (0, 2**62): numpy refuses the other dims
            raise r.fail(f"{r.what} has an impossible shape {listed(shape)}") from None
    return _Dense(shape, flag, offset)


def _dense_array(data: Buffer, dense: _Dense) -> np.ndarray:
    """The array in place when it is stored as returned (a read-only view of `data`,
    which it keeps alive), else converted once into memory of its own."""
    stored, out = _DTYPES[dense.flag]
    raw = np.frombuffer(data, stored, math.prod(dense.shape), dense.offset).reshape(dense.shape)
    if dense.flag == _BF16_FLAG:
        # bfloat16 is the high half of a float32.
        arr = np.empty(dense.shape, np.float32)
        bits = arr.view(np.uint32)
        bits[...] = raw
        bits <<= 16
        return arr
    if raw.dtype == out and raw.flags.aligned:  # '<f4' is float32 on little-endian hosts
        return raw
    if dense.flag in _NARROWED:  # the same values as astype, on all cores for large arrays
        return _native.to_float32(raw)
    # astype copies into C-contiguous memory in native byte order
    return raw.astype(out)


def _skip_sparse(
    r: _Reader, stype: int, storage_shape: Optional[Shape], stored: np.dtype
) -> _Sparse:
    """Moves past a sparse array's aux headers and data."""
    name, n_aux = _SPARSE[stype]
    sizes = []
    for _ in range(n_aux):
        _, aux_stored, _ = r.dtype()
        aux_shape = r.shape()
        sizes.append((aux_shape, aux_stored.itemsize))
    sizes.insert(0, (storage_shape, stored.itemsize))
    for shape, itemsize in sizes:
        if shape is None:
            raise r.fail(f"{r.what}: sparse storage not supported ({name})")
        r.take(math.prod(shape) * itemsize)
    return _Sparse(name)


# how far the header walk goes before it unmaps what it went past
_DROP_PAGES_EVERY = 16 << 20


class MappedFile(mmap.mmap):
    """A read-only map of a regular .params file, told apart from other buffers so that the
    writer finds which arrays view it (mapped_file), and the file kept open (`descriptor`,
    closed with the map): the writer reads those arrays' bytes from the file, not through the
    map, which would bring the pages into this process."""

    descriptor: int

    @classmethod
    def of(cls, handle: int) -> MappedFile:
        """The map of the whole file open as `handle`."""
        mapped = cls(handle, 0, access=mmap.ACCESS_READ)
        mapped.descriptor = os.dup(handle)  # the same open file: what was mapped, whatever the path names later
        weakref.finalize(mapped, os.close, mapped.descriptor)
        return mapped

    def drop_pages(self, start: int = 0, end: Optional[int] = None) -> None:
        """Unmaps the pages holding bytes start..end from this process (MADV_DONTNEED of a
        read-only shared map): the file's page cache keeps them and a later read maps them
        again, so this only keeps the process's memory (RSS) small."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self.madvise(mmap.MADV_DONTNEED, *self._page_range(start, len(self) if end is None else end))

    @staticmethod
    def _page_range(start: int, end: int) -> Tuple[int, int]:
        """madvise's (start, length): the start rounded down to a page."""
        start -= start % mmap.PAGESIZE
        return start, end - start


def mapped_file(array: np.ndarray) -> Optional[MappedFile]:
    """The mapped .params file an array is a view of, or None."""
    base = array.base
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):  # what np.frombuffer keeps of the buffer it was given
        base = base.obj
    return base if isinstance(base, MappedFile) else None


_SPECIAL_FILES = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}


def _map_file(path: str) -> Buffer:
    """The file's bytes: a read-only map of a regular file, what a pipe delivers."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            kind = _SPECIAL_FILES.get(stat.S_IFMT(mode))
            if kind is not None:  # /dev/zero would never end
                raise InputFileError(path, f"is a {kind}, not a .params file")
            if not stat.S_ISREG(mode):  # a pipe or socket has no length to map
                return f.read()
            try:
                # the map stays valid after the file is closed
                return MappedFile.of(f.fileno())
            except ValueError:  # an empty file cannot be mapped
                return b""
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a .params file") from None
    except OSError as e:
        raise InputFileError(path, f"cannot read: {e.strerror or e}") from None


def read_params(path: str | os.PathLike[str]) -> Dict[str, np.ndarray]:
    """Reads an MXNet .params file into name -> array, in file order.

    The 'arg:'/'aux:' prefixes of Module/export files are stripped; Gluon's bare
    names are kept as they are. float16, float64 and bfloat16 arrays come back as
    float32, integer and bool arrays keep their dtype. Arrays are C-contiguous, native
    byte order and read-only: those stored as returned (float32 above all) are views
    of the memory-mapped file, which stays mapped while any of them is referenced;
    the others are converted once. Uninitialized ("none") arrays are left out with a
    warning. Raises InputFileError for anything that is not a readable, dense, named
    NDArray list, before any array data is read.
    """
    path = os.fspath(path)
    data = _map_file(path)

    r = _Reader(path, data)
    if len(data) < 8:
        raise r.fail(f"not an MXNet .params file ({len(data)} bytes long)")
    magic = r.unpack(_U64)
    if magic != _LIST_MAGIC:
        raise r.fail(f"not an MXNet .params file (magic 0x{magic:x} != 0x112)")
    r.take(8)  # reserved; MXNet ignores it too

    r.what = "the array count"
    n_arrays = r.unpack(_U64)
    # No preallocation from counts: a corrupt count must end in "truncated", each
    # item consumes at least 4 bytes.
    arrays: List[Union[_Dense, np.ndarray, _Sparse, None]] = []
    dropped = 0  # reading a header maps the pages around it (whole folios): unmap them as we go
    for k in range(n_arrays):
        r.what = f"array {k}"
        arrays.append(_read_array(r))
        if isinstance(data, MappedFile) and r.pos - dropped > _DROP_PAGES_EVERY:
            data.drop_pages(dropped, r.pos)
            dropped = r.pos

    r.what = "the name count"
    n_names = r.unpack(_U64)
    names: List[str] = []
    for k in range(n_names):
        r.what = f"name {k}"
        length = r.unpack(_U64)
        start = r.take(length)
        try:
            names.append(data[start : start + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"name {k} is not valid UTF-8") from None

    if r.pos != len(data):
        raise r.fail(
            f"{len(data) - r.pos} trailing bytes after the last name (from byte {r.pos})"
        )
    if n_names == 0 and n_arrays > 0:
        raise r.fail(
            f"the file has no names ({n_arrays} unnamed arrays); "
            "parameters must be saved as a dict"
        )
    if n_names != n_arrays:
        raise r.fail(f"the file has {n_names} names for {n_arrays} arrays")

    stored: Dict[str, Union[_Dense, np.ndarray]] = {}
    seen: Dict[str, Tuple[int, str]] = {}  # stripped name -> (index, name in file)
    uninitialized: List[str] = []
    for k, (name, value) in enumerate(zip(names, arrays)):
        if isinstance(value, _Sparse):
            raise r.fail(
                f"array {k} '{shortened(name)}': sparse storage not supported ({value.stype_name})"
            )
        key = name[4:] if name.startswith(("arg:", "aux:")) else name
        if not key:
            raise r.fail(f"array {k} has an empty name {shortened(repr(name))}")
        if key in seen:
            j, other = seen[key]
            if other == name:
                raise r.fail(f"duplicate name '{shortened(name)}' (arrays {j} and {k})")
            raise r.fail(
                f"names '{shortened(other)}' and '{shortened(name)}' (arrays {j} and {k}) "
                f"both give parameter '{shortened(key)}'"
            )
        seen[key] = (k, name)
        if value is None:
            uninitialized.append(f"{path}: array {k} '{shortened(name)}' is uninitialized, skipped")
            continue
        stored[key] = value

    log_summarized(log, uninitialized)
    if isinstance(data, MappedFile):
        data.drop_pages(dropped)
    params: Dict[str, np.ndarray] = {}
    for key, value in stored.items():
        array = _dense_array(data, value) if isinstance(value, _Dense) else value
        array.flags.writeable = False  # weights are shared, never edited in place
        params[key] = array
    log.debug("%s: read %d arrays", path, len(params))
    return params

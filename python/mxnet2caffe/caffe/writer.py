"""Net -> .prototxt text and .caffemodel bytes, and writing both atomically.

The .caffemodel is streamed: protobuf lengths follow from the blob shapes, so each layer's
headers are computed up front and the float32 arrays are written by native code from their own
memory or, for weights that view the memory-mapped .params file, from that file (no copy in this
process: write_chunks). The bytes are exactly protobuf's serialization of the whole NetParameter
(fields in field-number order; a blob's data field before its shape field).

The two files are installed together or not at all, even across a crash or power loss
(write_files_atomically: temporaries flushed to disk, a journal, renames, recovery by the
next run or verify; with fsync=False, across errors and interrupts only).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import io
import json
import logging
import os
import re
import signal
import stat
import tempfile
import threading
from collections import abc
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import Message

from .. import _native
from ..errors import OutputFileError
from ..mxnet.params import MappedFile, mapped_file
from .annotations import header_lines
from .net import Layer, Net
from .schema import BlobProto, BlobShape, LayerParameter, NetParameter

log = logging.getLogger(__name__)

_WIRE_LENGTH_DELIMITED = 2
_LITTLE_ENDIAN_FLOAT32 = np.dtype("<f4")

# a piece of the caffemodel: bytes, or float data (a flat C-order little-endian float32 array)
Chunk = Union[bytes, np.ndarray]
# what write_files_atomically writes: the bytes, or a function writing them to a stream
Contents = Union[bytes, Callable[[BinaryIO], object]]


def _scalar(message: Message, key: str, value: Any) -> Any:
    """Enum values are given by name; older protobuf runtimes only take their numbers."""
    enum = message.DESCRIPTOR.fields_by_name[key].enum_type
    return enum.values_by_name[value].number if enum is not None and isinstance(value, str) else value


def _fill(message: Message, values: Mapping[str, Any]) -> None:
    """Sets message fields from nested dicts; lists go to repeated fields."""
    for key, value in values.items():
        if isinstance(value, abc.Mapping):  # not typing's: its isinstance is ten times slower
            _fill(getattr(message, key), value)
        elif isinstance(value, (list, tuple)):
            field = getattr(message, key)
            for item in value:
                if isinstance(item, abc.Mapping):
                    _fill(field.add(), item)
                else:
                    field.append(_scalar(message, key, item))
        else:
            setattr(message, key, _scalar(message, key, value))


def _layer_message(layer: Layer) -> Message:
    message = LayerParameter(name=layer.name, type=layer.type)
    message.bottom.extend(layer.bottoms)
    message.top.extend(layer.tops)
    _fill(message, layer.params)
    return message


def _input_layers(net: Net) -> List[Layer]:
    return [
        Layer(
            name=tensor.blob,
            type="Input",
            bottoms=(),
            tops=(tensor.blob,),
            params={"input_param": {"shape": [{"dim": list(tensor.shape)}]}},
        )
        for tensor in net.inputs
    ]


def prototxt_text(net: Net) -> str:
    """The prototxt, with the NameMap in comment lines at the top (naming.py)."""
    message = NetParameter(name=net.name)
    for layer in _input_layers(net) + net.layers:
        message.layer.add().CopyFrom(_layer_message(layer))
    return "\n".join(header_lines(net)) + "\n" + text_format.MessageToString(message)


def _varint(value: int) -> bytes:
    if value < 0x80:  # dims and short lengths: most varints of a model
        return _ONE_BYTE_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE_VARINTS = [bytes([value]) for value in range(0x80)]


def _tag(field: int) -> bytes:
    """The tag of a length-delimited field (a message, a string, packed values)."""
    return _varint(field << 3 | _WIRE_LENGTH_DELIMITED)


_NET_LAYER_TAG = _tag(NetParameter.DESCRIPTOR.fields_by_name["layer"].number)
_LAYER_BLOBS_FIELD = LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number
_LAYER_BLOBS_TAG = _tag(_LAYER_BLOBS_FIELD)
_BLOB_DATA_TAG = _tag(BlobProto.DESCRIPTOR.fields_by_name["data"].number)
_BLOB_SHAPE_TAG = _tag(BlobProto.DESCRIPTOR.fields_by_name["shape"].number)
_SHAPE_DIM_TAG = _tag(BlobShape.DESCRIPTOR.fields_by_name["dim"].number)


def _blob_field(array: np.ndarray) -> List[Chunk]:
    """One `blobs` field of a LayerParameter in pieces, the float data as a view of the
    array (C order, little-endian float32: the array is copied only if it is not)."""
    values = np.ascontiguousarray(array, dtype=_LITTLE_ENDIAN_FLOAT32).reshape(-1)
    dims = b"".join([_varint(dim) for dim in array.shape])
    shape = _SHAPE_DIM_TAG + _varint(len(dims)) + dims if dims else b""
    shape_field = _BLOB_SHAPE_TAG + _varint(len(shape)) + shape
    if not values.size:  # protobuf writes no field for an empty packed field
        return [_LAYER_BLOBS_TAG + _varint(len(shape_field)) + shape_field]
    data_header = _BLOB_DATA_TAG + _varint(values.nbytes)
    size = len(data_header) + values.nbytes + len(shape_field)
    return [_LAYER_BLOBS_TAG + _varint(size) + data_header, values, shape_field]


def _size(chunk: Chunk) -> int:
    return chunk.nbytes if isinstance(chunk, np.ndarray) else len(chunk)


def _fields_around_blobs(message: Message) -> Tuple[bytes, bytes]:
    """The message's fields numbered below the blobs field and those above it, serialized.
    Protobuf writes fields in number order, so the split is where the first field numbered
    above the blobs field begins; the fields below it (name, type, bottom, top) are all
    length-delimited."""
    serialized = message.SerializeToString()
    offset = 0
    while offset < len(serialized):
        tag, start = _read_varint(serialized, offset)
        if tag >> 3 > _LAYER_BLOBS_FIELD:
            break
        length, start = _read_varint(serialized, start)
        offset = start + length
    return serialized[:offset], serialized[offset:]


def _read_varint(data: bytes, offset: int) -> Tuple[int, int]:
    """The varint at `offset` and the offset after it."""
    value = shift = 0
    while True:
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if byte < 0x80:
            return value, offset
        shift += 7


def _layer_chunks(layer: Layer) -> List[Chunk]:
    """The `layer` field of the NetParameter for one layer, with its blobs, in pieces."""
    before, after = _fields_around_blobs(_layer_message(layer))
    blobs = [chunk for array in layer.blobs for chunk in _blob_field(array)]
    size = len(before) + sum(_size(chunk) for chunk in blobs) + len(after)
    return [_NET_LAYER_TAG + _varint(size) + before, *blobs, after]


def caffemodel_chunks(net: Net) -> List[Chunk]:
    """The .caffemodel in pieces, in order: the NetParameter with every layer and its blobs."""
    chunks: List[Chunk] = [NetParameter(name=net.name).SerializeToString()]
    for layer in _input_layers(net) + net.layers:
        chunks += _layer_chunks(layer)
    return chunks


def write_caffemodel(net: Net, stream: BinaryIO) -> None:
    """Writes the NetParameter with every layer and its blobs to `stream` (write_chunks)."""
    write_chunks(caffemodel_chunks(net), stream)


def write_chunks(chunks: List[Chunk], stream: BinaryIO, writeback: bool = True) -> None:
    """Writes the chunks one after another to `stream`, each array from its own memory or, for
    the float32 weights that view the memory-mapped .params file, from that file.

    Into a regular file, the native writer puts every chunk at its offset on as many threads as
    help, with the file's blocks reserved up front; the weights go from the .params file's page
    cache to the output's without being mapped into this process (splice), which stays small,
    and with `writeback`, the disk write of each few MB starts at once, so that a final fsync
    has little left."""
    handle = _plain_file(stream)
    if handle is None:
        for chunk in chunks:
            stream.write(chunk.data.cast("B") if isinstance(chunk, np.ndarray) else chunk)
        return
    stream.flush()
    start = stream.tell()
    pieces = [(chunk, _source(chunk)) for chunk in chunks]
    # a descriptor of its own: should the stream be closed under it (an impatient Ctrl-C), the
    # writing still goes to this file, never to another that took the number
    own = os.dup(handle)
    try:
        _native.write_pieces(own, start, pieces, writeback=writeback)
    finally:
        os.close(own)
    stream.seek(start + sum(_size(chunk) for chunk in chunks))


def _source(chunk: Chunk) -> Optional[Tuple[MappedFile, int]]:
    """The mapped .params file an array views and its descriptor, for the native writer."""
    mapped = mapped_file(chunk) if isinstance(chunk, np.ndarray) else None
    return None if mapped is None else (mapped, mapped.descriptor)


def _plain_file(stream: BinaryIO) -> Optional[int]:
    """The descriptor of a stream that writes its bytes as they are, at its position, to a regular
    file (not appending, not compressing them: gzip.open has a descriptor too), else None."""
    if type(stream) not in (io.FileIO, io.BufferedWriter, io.BufferedRandom):
        return None
    try:
        handle = stream.fileno()
        regular = stat.S_ISREG(os.fstat(handle).st_mode)
        return handle if regular and not fcntl.fcntl(handle, fcntl.F_GETFL) & os.O_APPEND else None
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def caffemodel_bytes(net: Net) -> bytes:
    """The .caffemodel in memory: what write_caffemodel writes."""
    stream = io.BytesIO()
    write_caffemodel(net, stream)
    return stream.getvalue()


def write_files_atomically(contents: List[Tuple[Path, Contents]], fsync: bool = True) -> None:
    """Writes every file to a temporary sibling, flushed to disk, then installs them all.
    A file's contents are bytes or a function that writes them to a stream. An install of the
    same outputs that a crash left half done is completed first (recover_install).

    The install cannot be torn, by an error, an interrupt or a crash:
    - an error or an interrupt (SIGINT, SIGTERM) leaves the outputs as they were (a prototxt
      never pairs with another conversion's caffemodel), creates no output and leaves no
      temporary file: signals are held while temporaries are made and while files are installed;
    - before the first output is replaced, a journal naming every temporary and its output is
      written and flushed to disk next to the last output (`.NAME.install`, see `recover_install`).
      If the process dies or the machine loses power during the renames, the next conversion to
      these outputs, or `verify` of them, completes the install from the journal: the temporaries
      it names are complete and on disk, so the outputs end up all new, never mixed;
    - installs into one folder take turns (a lock on the folder): two conversions to the same
      output do not interleave their renames, the last to install wins;
    - each temporary is locked by its writer from the moment it exists: the temporaries of a
      conversion that was killed (SIGKILL, the out-of-memory killer) hold no lock, and the next
      conversion to the same output removes them.

    With fsync=False nothing is flushed to disk and no journal is written: an error or an
    interrupt still leaves the outputs as they were, but after a crash or a power loss they can
    be old, new, empty or mixed, as files that `cp` wrote can, or missing, with the old file in
    a hidden backup beside it (`.NAME.xxxxxxxx.old`).

    A new output gets the mode the umask gives new files, an overwritten one keeps its mode.
    """
    if contents:
        recover_install(contents[-1][0])  # the journal lies beside the last output
    temporaries: List[Tuple[str, Path]] = []
    cleanups: List[str] = []  # every temporary made (outputs' and the journal's)
    locks: List[int] = []  # one per output temporary: it is a live writer's until closed
    streams: List[BinaryIO] = []  # one per output temporary, closed once written
    try:
        for path, _ in contents:
            path.parent.mkdir(parents=True, exist_ok=True)
            # a temporary exists only once it is listed for cleanup, and locked for as long as
            # this process may need it (under the folder lock: no one sees it unlocked)
            with _signals_deferred(), _folder_locked(path.parent):
                _remove_dead_temporaries(path)
                handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                cleanups.append(temporary)
                streams.append(os.fdopen(handle, "wb"))
                temporaries.append((temporary, path))
                locks.append(os.dup(handle))  # the same open file: the lock outlives the writing
                fcntl.flock(locks[-1], fcntl.LOCK_EX)
                os.fchmod(handle, _output_mode(path))
        _write_all(streams, [data for _, data in contents], fsync)
        with _signals_deferred():  # the journal and the renames are not torn by an interrupt
            _install_together(temporaries, cleanups, journaled=fsync)
    finally:
        with _signals_deferred():
            for stream in streams:  # those an error left open
                stream.close()
            for temporary in cleanups:
                if os.path.exists(temporary):
                    os.unlink(temporary)
            for lock in locks:
                os.close(lock)


def _remove_dead_temporaries(path: Path) -> None:
    """Removes the temporaries of `path` that no process holds: left by a conversion that was
    killed (SIGKILL, the out-of-memory killer) before it could remove them. A live writer holds
    a lock on each of its temporaries from the moment it makes it. Called under the folder's
    lock, after recover_install took the temporaries a journal names."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{{_MKSTEMP_LETTERS}}}")
    for entry in os.scandir(path.parent):
        if not pattern.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            handle = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer's
            continue
        else:
            os.unlink(entry.path)
            log.info("removed %s, left by a conversion that was killed", entry.path)
        finally:
            os.close(handle)


# the random letters tempfile.mkstemp puts after the prefix
_MKSTEMP_LETTERS = 8


def _write_all(streams: List[BinaryIO], contents: List[Contents], fsync: bool) -> None:
    """Writes each file's contents to its temporary, the first file on this thread and each
    other one on a thread of its own, started before: a file whose writing spends its time in
    native code without the GIL (write_chunks) then costs little time beside one whose text is
    rendered in Python (the prototxt). The first error is raised once every writer has stopped."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(contents) - 1)) as pool:
        others = [pool.submit(_write_one, stream, data, fsync) for stream, data in zip(streams[1:], contents[1:])]
        try:
            if contents:
                _write_one(streams[0], contents[0], fsync)
        except BaseException:
            for future in others:  # the first error wins; the others are only logged
                if future.exception() is not None:
                    log.debug("also failed: %r", future.exception())
            raise
        errors = [future.exception() for future in others]
    for error in errors:
        if error is not None:
            raise error


def _write_one(stream: BinaryIO, data: Contents, fsync: bool) -> None:
    """Writes the contents to a temporary, flushed to disk if `fsync`, and closes it."""
    with stream:
        if callable(data):
            data(stream)
        else:
            stream.write(data)
        stream.flush()
        if fsync:
            os.fsync(stream.fileno())


def journal_path(last_output: Path) -> Path:
    """Where the journal of an install whose last output is `last_output` lies."""
    return last_output.with_name(f".{last_output.name}.install")


def _install_together(temporaries: List[Tuple[str, Path]], cleanups: List[str], journaled: bool) -> None:
    """Renames the temporaries onto their outputs; `journaled`: behind a journal on disk that the
    next run completes the renames from after a crash (without it there is nothing on disk to
    recover from)."""
    if not temporaries:
        return
    journal = journal_path(temporaries[-1][1])
    moves = [(temporary, str(path)) for temporary, path in temporaries]
    directories = {journal.parent, *(path.parent for _, path in temporaries)}
    # one install at a time into a folder: two conversions to the same output cannot interleave
    # their renames (the last complete one wins), and recovery never runs beside an install
    with _folder_locked(journal.parent):
        if not journaled:
            _install(temporaries)
            return
        handle, staged = tempfile.mkstemp(prefix=journal.name + ".", dir=journal.parent)
        cleanups.append(staged)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump({"install": moves}, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staged, journal)
        try:
            _sync_folders(directories)  # the journal is on disk before any output changes
            _install(temporaries)
            _sync_folders(directories)  # the renames are on disk before the journal goes
        finally:
            os.unlink(journal)


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by close, or by the death of the process
        yield
    finally:
        os.close(handle)


def _sync_folders(folders: Iterable[Path]) -> None:
    for folder in folders:
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def recover_install(last_output: Path) -> bool:
    """Completes an install that a crash interrupted (its journal is still there); returns
    whether there was one. Every conversion to these outputs and every `verify` of them
    calls this first.

    The journal is written only once every temporary it names is complete and flushed, so
    recovery renames those still there onto their outputs (whatever was renamed already is in
    place), then removes the backups of the old files and the journal."""
    journal = journal_path(last_output)
    if not os.path.exists(journal):  # the usual case
        return False
    with _signals_deferred(), _folder_locked(journal.parent):
        try:  # read under the lock: a live install may have just finished and removed it
            with open(journal, encoding="utf-8") as stream:
                moves = [(str(temporary), Path(path)) for temporary, path in json.load(stream)["install"]]
        except FileNotFoundError:
            return False
        except (ValueError, KeyError, TypeError):
            raise OutputFileError(journal, "is not an install journal of mxnet2caffe: remove it") from None
        for temporary, path in moves:
            if os.path.exists(temporary):
                os.replace(temporary, path)
        _sync_folders({journal.parent, *(path.parent for _, path in moves)})
        for temporary, _ in moves:
            backup = temporary + ".old"
            if os.path.exists(backup):
                os.unlink(backup)
        os.unlink(journal)
    log.warning("completed the install of %s that an earlier run left half done", last_output)
    return True


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Holds SIGINT and SIGTERM back until the block is done. Their Python handlers are swapped
    for one that notes them, and noted signals are raised again after the block: Python runs
    handlers in the main thread whichever thread the signal reaches (blocking it in this thread
    alone would not do: numpy's BLAS threads can take it). Off the main thread nothing is held,
    as Python interrupts only the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: List[int] = []

    def note(signum: int, frame: Optional[FrameType]) -> None:
        noted.append(signum)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is not None:  # None: set outside Python, which could not be put back
            previous[signum] = signal.signal(signum, note)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for number in dict.fromkeys(noted):
            signal.raise_signal(number)


def _output_mode(path: Path) -> int:
    """The permissions of the file at `path`, or those the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except FileNotFoundError:
        umask = os.umask(0)  # the only way to read it; set back at once
        os.umask(umask)
        return 0o666 & ~umask


def _install(temporaries: List[Tuple[str, Path]]) -> None:
    """Renames each temporary onto its path; if one rename fails, undoes the earlier ones."""
    installed: List[Tuple[Path, Optional[str]]] = []  # (path, backup of its previous file)
    try:
        for temporary, path in temporaries:
            installed.append((path, _install_one(temporary, path)))
    except BaseException:
        _restore(installed)
        raise
    for _, backup in installed:
        if backup is not None:
            os.unlink(backup)


def _install_one(temporary: str, path: Path) -> Optional[str]:
    """Renames temporary onto path; returns the backup a previous file was moved to."""
    if not os.path.isfile(path):
        os.replace(temporary, path)  # fails, as it should, if path is a directory
        return None
    backup = temporary + ".old"
    os.replace(path, backup)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.replace(backup, path)
        raise
    return backup


def _restore(installed: List[Tuple[Path, Optional[str]]]) -> None:
    # best effort while another error propagates: a backup that cannot be moved back
    # stays next to its output rather than being lost
    for path, backup in reversed(installed):
        try:
            if backup is None:
                os.unlink(path)
            else:
                os.replace(backup, path)
        except OSError:
            continue


def write_net(net: Net, prefix: str | os.PathLike[str], fsync: bool = True) -> Tuple[Path, Path]:
    """Writes PREFIX.prototxt and PREFIX.caffemodel as write_files_atomically does (flushed to
    disk unless not `fsync`); returns their paths."""
    prefix = Path(prefix)
    prototxt = prefix.with_name(prefix.name + ".prototxt")
    caffemodel = prefix.with_name(prefix.name + ".caffemodel")
    # the caffemodel's headers first: its writer then goes into native code at once, and the
    # prototxt is rendered while the weights are written
    chunks = caffemodel_chunks(net)
    contents: List[Tuple[Path, Contents]] = [
        (prototxt, lambda stream: stream.write(prototxt_text(net).encode("utf-8"))),
        (caffemodel, lambda stream: write_chunks(chunks, stream, writeback=fsync)),
    ]
    try:
        write_files_atomically(contents, fsync)
    except OSError as exc:
        failed = _requested_path(exc.filename, (prototxt, caffemodel)) or prefix
        raise OutputFileError(failed, f"cannot write the model: {exc.strerror or exc}") from None
    return prototxt, caffemodel


def _requested_path(filename: Optional[str], outputs: Tuple[Path, ...]) -> Optional[Path]:
    """The output an OSError's file stands for: the user never asked for our hidden
    temporaries and backups (".NAME.xxxx", ".NAME.xxxx.old"), so they are named by their output."""
    if filename is None:
        return None
    path = Path(filename)
    for output in outputs:
        if path.parent == output.parent and path.name.startswith(f".{output.name}."):
            return output
    return path

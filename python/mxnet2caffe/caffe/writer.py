"""Net -> .prototxt text and .caffemodel bytes, and writing both atomically.

The .caffemodel is streamed: protobuf lengths follow from the blob shapes, so each layer's
headers are computed up front and the float32 arrays are written from their own memory
(memory-mapped weights go from the .params file to the output without a copy in between).
The bytes are exactly protobuf's serialization of the whole NetParameter (fields in
field-number order; a blob's data field before its shape field).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import Message

from ..errors import OutputFileError
from .annotations import header_lines
from .net import Layer, Net
from .schema import BlobProto, BlobShape, LayerParameter, NetParameter

_NET_LAYER_FIELD = NetParameter.DESCRIPTOR.fields_by_name["layer"].number
_LAYER_BLOBS_FIELD = LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number
_BLOB_DATA_FIELD = BlobProto.DESCRIPTOR.fields_by_name["data"].number
_BLOB_SHAPE_FIELD = BlobProto.DESCRIPTOR.fields_by_name["shape"].number
_SHAPE_DIM_FIELD = BlobShape.DESCRIPTOR.fields_by_name["dim"].number
_WIRE_LENGTH_DELIMITED = 2
_LITTLE_ENDIAN_FLOAT32 = np.dtype("<f4")

Chunk = Union[bytes, memoryview]
# what write_files_atomically writes: the bytes, or a function writing them to a stream
Contents = Union[bytes, Callable[[BinaryIO], None]]


def _scalar(message: Message, key: str, value: Any) -> Any:
    """Enum values are given by name; older protobuf runtimes only take their numbers."""
    enum = message.DESCRIPTOR.fields_by_name[key].enum_type
    return enum.values_by_name[value].number if enum is not None and isinstance(value, str) else value


def _fill(message: Message, values: Mapping[str, Any]) -> None:
    """Sets message fields from nested dicts; lists go to repeated fields."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            _fill(getattr(message, key), value)
        elif isinstance(value, (list, tuple)):
            field = getattr(message, key)
            for item in value:
                if isinstance(item, Mapping):
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
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field_header(field: int, length: int) -> bytes:
    """Tag and length of a length-delimited field (a message, a string, packed values)."""
    return _varint(field << 3 | _WIRE_LENGTH_DELIMITED) + _varint(length)


def _blob_field(array: np.ndarray) -> List[Chunk]:
    """One `blobs` field of a LayerParameter in pieces, the float data as a view of the
    array (C order, little-endian float32: the array is copied only if it is not)."""
    values = np.ascontiguousarray(array, dtype=_LITTLE_ENDIAN_FLOAT32).reshape(-1)
    dims = b"".join(_varint(dim) for dim in array.shape)
    shape = _field_header(_SHAPE_DIM_FIELD, len(dims)) + dims if dims else b""
    chunks: List[Chunk] = []
    if values.size:  # protobuf writes no field for an empty packed field
        chunks += [_field_header(_BLOB_DATA_FIELD, values.nbytes), values.data.cast("B")]
    chunks.append(_field_header(_BLOB_SHAPE_FIELD, len(shape)) + shape)
    return [_field_header(_LAYER_BLOBS_FIELD, sum(len(chunk) for chunk in chunks)), *chunks]


def _fields_around_blobs(message: Message) -> Tuple[bytes, bytes]:
    """The message's fields numbered below the blobs field and those above it, serialized."""
    before, after = LayerParameter(), LayerParameter()
    before.CopyFrom(message)
    after.CopyFrom(message)
    for field, _ in message.ListFields():
        (after if field.number < _LAYER_BLOBS_FIELD else before).ClearField(field.name)
    return before.SerializeToString(), after.SerializeToString()


def _layer_chunks(layer: Layer) -> List[Chunk]:
    """The `layer` field of the NetParameter for one layer, with its blobs, in pieces."""
    before, after = _fields_around_blobs(_layer_message(layer))
    blobs = [chunk for array in layer.blobs for chunk in _blob_field(array)]
    size = len(before) + sum(len(chunk) for chunk in blobs) + len(after)
    return [_field_header(_NET_LAYER_FIELD, size) + before, *blobs, after]


def write_caffemodel(net: Net, stream: BinaryIO) -> None:
    """Writes the NetParameter with every layer and its blobs to `stream`, layer by layer."""
    stream.write(NetParameter(name=net.name).SerializeToString())
    for layer in _input_layers(net) + net.layers:
        for chunk in _layer_chunks(layer):
            stream.write(chunk)


def caffemodel_bytes(net: Net) -> bytes:
    """The .caffemodel in memory: what write_caffemodel writes."""
    stream = io.BytesIO()
    write_caffemodel(net, stream)
    return stream.getvalue()


def write_files_atomically(contents: List[Tuple[Path, Contents]]) -> None:
    """Writes every file to a temporary sibling, flushed to disk, then renames them all
    into place. A file's contents are bytes or a function that writes them to a stream.

    A failure or an interrupt (SIGINT, SIGTERM) leaves the outputs as they were (a prototxt
    never pairs with another conversion's caffemodel), creates no output and leaves no
    temporary file. A new output gets the mode the umask gives new files, an overwritten
    one keeps its mode.
    """
    temporaries: List[Tuple[str, Path]] = []
    try:
        for path, data in contents:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _signals_deferred():  # a temporary exists only once it is listed for cleanup
                handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                temporaries.append((temporary, path))
            with os.fdopen(handle, "wb") as stream:
                os.fchmod(stream.fileno(), _output_mode(path))
                if callable(data):
                    data(stream)
                else:
                    stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        with _signals_deferred():  # the renames are not torn by an interrupt
            _install(temporaries)
    finally:
        with _signals_deferred():
            for temporary, _ in temporaries:
                if os.path.exists(temporary):
                    os.unlink(temporary)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Holds SIGINT and SIGTERM back until the block is done (where the platform can)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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


def write_net(net: Net, prefix: str | os.PathLike[str]) -> Tuple[Path, Path]:
    """Writes PREFIX.prototxt and PREFIX.caffemodel; returns their paths."""
    prefix = Path(prefix)
    prototxt = prefix.with_name(prefix.name + ".prototxt")
    caffemodel = prefix.with_name(prefix.name + ".caffemodel")
    contents: List[Tuple[Path, Contents]] = [
        (prototxt, prototxt_text(net).encode("utf-8")),
        (caffemodel, lambda stream: write_caffemodel(net, stream)),
    ]
    try:
        write_files_atomically(contents)
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

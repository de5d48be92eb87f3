"""Net -> .prototxt text and .caffemodel bytes, and writing both atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

from google.protobuf import text_format
from google.protobuf.message import Message

from .. import _native
from ..errors import OutputFileError
from .annotations import header_lines
from .net import Layer, Net
from .schema import LayerParameter, NetParameter

_NET_LAYER_FIELD = NetParameter.DESCRIPTOR.fields_by_name["layer"].number
_LAYER_BLOBS_FIELD = LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number


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


def caffemodel_bytes(net: Net) -> bytes:
    """NetParameter bytes with every layer and its blobs.

    Protobuf messages are concatenations of fields, so each layer is its parameter bytes
    followed by blob fields encoded natively (float data dominates the file size).
    """
    chunks = [NetParameter(name=net.name).SerializeToString()]
    for layer in _input_layers(net) + net.layers:
        body = _layer_message(layer).SerializeToString()
        if layer.blobs:
            body += _native.encode_blobs_field(list(layer.blobs), _LAYER_BLOBS_FIELD)
        chunks.append(_native.length_delimited(_NET_LAYER_FIELD, body))
    return b"".join(chunks)


def write_files_atomically(contents: List[Tuple[Path, bytes]]) -> None:
    """Writes every file to a temporary sibling, then renames them all into place.

    A failure leaves the outputs as they were (a prototxt never pairs with another
    conversion's caffemodel), creates no output and leaves no temporary file.
    """
    temporaries: List[Tuple[str, Path]] = []
    try:
        for path, data in contents:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            temporaries.append((temporary, path))
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        _install(temporaries)
    finally:
        for temporary, _ in temporaries:
            if os.path.exists(temporary):
                os.unlink(temporary)


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
    contents = [(prototxt, prototxt_text(net).encode("utf-8")), (caffemodel, caffemodel_bytes(net))]
    try:
        write_files_atomically(contents)
    except OSError as exc:
        raise OutputFileError(exc.filename or prefix, f"cannot write the model: {exc.strerror or exc}") from None
    return prototxt, caffemodel

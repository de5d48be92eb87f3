"""Caffe message classes built at import time from our caffe.proto.

The protobuf runtime cannot read .proto text, and generated *_pb2 modules are tied to the
protoc version that made them. A small reader for the proto2 subset caffe.proto uses
(messages, nested enums, scalar/message fields, defaults, packed) builds the descriptor
instead, so one file is the schema and any protobuf >= 3.20 works.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Dict, List, Tuple, Type

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message


def _message_class(descriptor: Any) -> Type[Message]:
    """protobuf >= 4.21 has GetMessageClass; older ones only MessageFactory.GetPrototype."""
    get_message_class = getattr(message_factory, "GetMessageClass", None)
    if get_message_class is not None:
        return get_message_class(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)  # pragma: no cover


_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}
_LABELS = {
    "optional": _F.LABEL_OPTIONAL,
    "repeated": _F.LABEL_REPEATED,
    "required": _F.LABEL_REQUIRED,
}
_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][\w.]*|-?[\d.]+(?:[eE][-+]?\d+)?|[{}\[\]=;,]')


def _tokens(text: str) -> List[str]:
    text = re.sub(r"//[^\n]*", "", text)
    return _TOKEN.findall(text)


class _Parser:
    def __init__(self, text: str, package: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.package = package
        # enum type names (fully qualified) so fields can tell enums from messages
        self.enums: Dict[str, None] = {}

    def take(self, expected: str = "") -> str:
        token = self.tokens[self.pos]
        if expected and token != expected:
            raise ValueError(f"caffe.proto: expected {expected!r}, got {token!r}")
        self.pos += 1
        return token

    def peek(self) -> str:
        return self.tokens[self.pos]

    def parse_file(self) -> descriptor_pb2.FileDescriptorProto:
        proto = descriptor_pb2.FileDescriptorProto(name="mxnet2caffe/caffe.proto")
        proto.syntax = "proto2"
        pending: List[Tuple[descriptor_pb2.FieldDescriptorProto, str, str]] = []
        while self.pos < len(self.tokens):
            token = self.take()
            if token == "syntax":
                self.take("=")
                self.take()
                self.take(";")
            elif token == "package":
                proto.package = self.take()
                self.take(";")
            elif token == "message":
                self.parse_message(proto.message_type.add(), proto.package, pending)
            elif token == "enum":
                self.parse_enum(proto.enum_type.add(), proto.package)
            else:
                raise ValueError(f"caffe.proto: unexpected {token!r}")
        for field, type_name, scope in pending:
            self.resolve(field, type_name, scope)
        return proto

    def parse_enum(self, enum: descriptor_pb2.EnumDescriptorProto, scope: str) -> None:
        enum.name = self.take()
        self.enums[f"{scope}.{enum.name}"] = None
        self.take("{")
        while self.peek() != "}":
            value = enum.value.add(name=self.take())
            self.take("=")
            value.number = int(self.take())
            self.take(";")
        self.take("}")

    def parse_message(self, message, scope: str, pending) -> None:
        message.name = self.take()
        inner = f"{scope}.{message.name}"
        self.take("{")
        while self.peek() != "}":
            token = self.take()
            if token == "enum":
                self.parse_enum(message.enum_type.add(), inner)
                continue
            field = message.field.add(label=_LABELS[token])
            type_name = self.take()
            field.name = self.take()
            self.take("=")
            field.number = int(self.take())
            options = self.parse_options()
            if "packed" in options:
                field.options.packed = options["packed"] == "true"
            if "default" in options:
                field.default_value = options["default"]
            self.take(";")
            if type_name in _SCALARS:
                field.type = _SCALARS[type_name]
            else:
                pending.append((field, type_name, inner))
        self.take("}")

    def parse_options(self) -> Dict[str, str]:
        options: Dict[str, str] = {}
        if self.peek() != "[":
            return options
        self.take("[")
        while True:
            key = self.take()
            self.take("=")
            options[key] = self.take().strip('"')
            if self.take() == "]":
                return options

    def resolve(self, field, type_name: str, scope: str) -> None:
        # proto scoping: innermost enclosing scope first, then outwards
        parts = scope.split(".")
        for depth in range(len(parts), 0, -1):
            candidate = ".".join(parts[:depth] + [type_name])
            if candidate in self.enums:
                field.type = _F.TYPE_ENUM
                field.type_name = "." + candidate
                return
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{self.package}.{type_name}"


def _load() -> Dict[str, Type[Message]]:
    text = resources.files(__package__).joinpath("caffe.proto").read_text()
    file_proto = _Parser(text, "caffe").parse_file()
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file_proto.SerializeToString())
    file_descriptor = pool.FindFileByName(file_proto.name)
    return {
        name: _message_class(file_descriptor.message_types_by_name[name])
        for name in file_descriptor.message_types_by_name
    }


_CLASSES = _load()
NetParameter = _CLASSES["NetParameter"]
LayerParameter = _CLASSES["LayerParameter"]
BlobProto = _CLASSES["BlobProto"]
BlobShape = _CLASSES["BlobShape"]

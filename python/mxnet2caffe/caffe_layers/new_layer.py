"""`mxnet2caffe new-layer NAME`: writes the skeleton of a user layer type into the user's folder,
from the template shipped in the package (mxnet2caffe/templates/layer/): a plain C++ kernel, the
Caffe layer calling it, the plugin module (converter, OpenCV custom layer calling the same kernel
through ctypes, ONNX form, register_layer) and its tests. As written it computes
y = x * scale + shift, and its tests pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

from ..caffe.user_layers import RESERVED_LAYER_TYPES
from ..errors import ConversionError
from .build import PathArg

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "layer"
# template file -> the file it becomes ({snake}: the type's name in snake_case)
TEMPLATE_FILES: Dict[str, str] = {
    "README.md.in": "README.md",
    "kernel.hpp.in": "{snake}_kernel.hpp",
    "kernel.cpp.in": "{snake}_kernel.cpp",
    "layer.hpp.in": "{snake}_layer.hpp",
    "layer.cpp.in": "{snake}_layer.cpp",
    "plugin.py.in": "{snake}_plugin.py",
    "test.py.in": "test_{snake}.py",
}
# CamelCase, as Caffe's own types: a C++ identifier for the class NAMELayer, and no C++ keyword
_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
_PLACEHOLDER = re.compile(r"@[A-Z]+@")


def snake_case(name: str) -> str:
    """'MyScale' -> 'my_scale', 'MXFoo' -> 'mx_foo'."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def check_layer_name(name: str) -> None:
    """A name for a new layer type: CamelCase letters and digits, and no type Caffe or mxnet2caffe has."""
    if not _NAME.fullmatch(name):
        raise ConversionError(
            f"layer type name {name!r}: use CamelCase letters and digits starting with a capital, up to 64 "
            "characters (like Caffe's own types, e.g. MyScale): it names the C++ class NAMELayer and the files"
        )
    if name in RESERVED_LAYER_TYPES:
        raise ConversionError(f"layer type name {name!r} is taken by a Caffe or mxnet2caffe layer: Caffe aborts "
                              "when a type is registered twice, so choose another")


def write_layer_skeleton(name: str, folder: Optional[PathArg] = None) -> List[Path]:
    """Writes the skeleton of layer type `name` into `folder` (default: ./<name in snake_case>,
    created if needed) and returns the files written. Refuses, writing nothing, when any of them
    exists already."""
    check_layer_name(name)
    snake = snake_case(name)
    target = Path(folder) if folder is not None else Path(snake)
    if target.exists() and not target.is_dir():
        raise ConversionError(f"{target} is not a folder")
    outputs = {template: target / pattern.format(snake=snake) for template, pattern in TEMPLATE_FILES.items()}
    existing = [str(path) for path in outputs.values() if path.exists()]
    if existing:
        raise ConversionError(f"not overwriting {', '.join(existing)}: remove them or choose another --dir")
    values = {"@NAME@": name, "@SNAKE@": snake, "@GUARD@": snake.upper()}
    texts = {}
    for template, path in outputs.items():
        text = (TEMPLATE_DIR / template).read_text()
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        left = _PLACEHOLDER.search(text)
        assert left is None, f"{template}: unknown placeholder {left.group()}"  # a defect of the template
        texts[path] = text
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path, text in texts.items():
            with open(path, "x") as handle:  # "x": never replace a file that appeared meanwhile
                handle.write(text)
    except OSError as exc:
        raise ConversionError(f"cannot write the layer skeleton to {target}: {exc}") from None
    return list(texts)

"""mxnet2caffe/_native.pyi describes the built pybind11 module (cpp/bindings.cpp) as it is: the
same functions with the same parameters in the same order (callers may pass them by keyword),
the same BroadcastOp members, and mypy's stubtest finds nothing missing or extra. stubtest
reads the stub where the package is installed, so it also fails when the stub or the py.typed
marker (without which type checkers ignore an installed package) is not shipped."""

import ast
import subprocess
import sys
from importlib import resources
from typing import Dict, List

import pytest

from mxnet2caffe import _native

from harness import ROOT

STUB = ROOT / "python" / "mxnet2caffe" / "_native.pyi"


def runtime_parameters(function) -> List[str]:
    """Parameter names from pybind11's signature line: `name(a: T, b: Dict[K, V]) -> R`."""
    signature = function.__doc__.splitlines()[0]
    inside = signature[signature.index("(") + 1 : signature.rindex(")")]
    names, depth, start = [], 0, 0
    for position, char in enumerate(inside + ","):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            if inside[start:position].strip():
                names.append(inside[start:position].split(":")[0].strip())
            start = position + 1
    return names


def stub_functions() -> Dict[str, List[str]]:
    tree = ast.parse(STUB.read_text())
    return {
        node.name: [argument.arg for argument in node.args.args]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def stub_class_attributes(name: str) -> List[str]:
    tree = ast.parse(STUB.read_text())
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
    return [node.target.id for node in cls.body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)]


def test_runtime_parameters_parser():
    class Fake:
        __doc__ = "f(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: dict[str, int], c: int) -> None\n"

    assert runtime_parameters(Fake) == ["a", "b", "c"]


def test_stub_has_the_module_functions():
    runtime = {name for name in dir(_native) if not name.startswith("_") and callable(getattr(_native, name))}
    functions = stub_functions()
    assert set(functions) | {"BroadcastOp"} == runtime


@pytest.mark.parametrize("name", sorted(stub_functions()))
def test_stub_parameters_match(name):
    assert stub_functions()[name] == runtime_parameters(getattr(_native, name))


def test_stub_has_the_broadcast_ops_in_order():
    members = [name for name in stub_class_attributes("BroadcastOp") if name != "__members__"]
    assert members == list(_native.BroadcastOp.__members__)
    assert [int(op) for op in _native.BroadcastOp.__members__.values()] == [0, 1, 2, 3]


def test_stubtest_finds_no_difference(tmp_path):
    # pybind11's enum classes have pybind11's own metaclass, which no stub can name
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("mxnet2caffe._native.BroadcastOp\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "mxnet2caffe._native", "--allowlist", str(allowlist)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the installed package, not the checkout
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_package_has_the_stub_and_the_typed_marker():
    # type checkers read an installed package's types only with py.typed (PEP 561)
    installed = resources.files("mxnet2caffe")
    assert installed.joinpath("_native.pyi").is_file() and installed.joinpath("py.typed").is_file()

"""The package's import graph has no cycle, and infrastructure does not import features.

The graph is read from the source with ast: the imports a module runs when it is imported
(module level, class bodies and top-level if/try blocks included; function bodies and
`if TYPE_CHECKING:` blocks excluded), relative and absolute, inside mxnet2caffe only. An edge
goes to the module named, or to PACKAGE.NAME for `from PACKAGE import NAME` when that is a module.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "python" / "mxnet2caffe"

# layer -> layers it must not import, directly or through other modules
FORBIDDEN = {
    "runtimes": ("verify", "caffe_layers", "converters", "passes"),
    "caffe_layers": ("verify",),
    "converters": ("verify", "passes", "caffe_layers"),
    "caffe": ("verify", "passes", "caffe_layers"),
    "mxnet": ("verify", "passes", "caffe_layers"),
}

Graph = Dict[str, Set[str]]


def module_names(root: Path) -> Dict[str, Path]:
    """Dotted module name -> file, for every .py of the package and every .pyi of an
    extension module (mxnet2caffe._native has no .py)."""
    modules: Dict[str, Path] = {}
    for path in sorted(root.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi") or (path.suffix == ".pyi" and path.with_suffix(".py").exists()):
            continue
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported."""
    for statement in body:
        yield statement
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(statement, ast.If) and _is_type_checking(statement.test):
            yield from _import_time_statements(statement.orelse)
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _import_time_statements(getattr(statement, field, []))
        for handler in getattr(statement, "handlers", []):
            yield from _import_time_statements(handler.body)


def _resolve(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    if level == 0:
        return name or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(root: Path) -> Graph:
    """Module -> the package modules it imports when it is imported."""
    modules = module_names(root)
    graph: Graph = {}
    for module, path in modules.items():
        edges: Set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for statement in _import_time_statements(tree.body):
            if isinstance(statement, ast.Import):
                edges.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                source = _resolve(module, path.stem == "__init__", statement.level, statement.module)
                for alias in statement.names:
                    submodule = f"{source}.{alias.name}"
                    edges.add(submodule if submodule in modules else source)
        graph[module] = {target for target in edges if target in modules and target != module}
    return graph


def find_cycle(graph: Graph) -> Optional[List[str]]:
    """One import cycle as [a, b, ..., a], or None."""
    done: Set[str] = set()
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def import_chain(graph: Graph, start: str, targets: Set[str]) -> Optional[List[str]]:
    """The shortest chain of imports from `start` to a module in `targets`, or None."""
    previous: Dict[str, Optional[str]] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node in targets and node != start:
            chain: List[str] = []
            step: Optional[str] = node
            while step is not None:
                chain.append(step)
                step = previous[step]
            return chain[::-1]
        for target in sorted(graph.get(node, ())):
            if target not in previous:
                previous[target] = node
                queue.append(target)
    return None


def in_layer(module: str, layer: str) -> bool:
    return module == f"mxnet2caffe.{layer}" or module.startswith(f"mxnet2caffe.{layer}.")


# --- the package ----------------------------------------------------------------


@pytest.fixture(scope="module")
def package_graph() -> Graph:
    return import_graph(PACKAGE_DIR)


def test_the_graph_covers_the_package(package_graph):
    # a graph that lost its modules or edges would pass everything below
    assert {"mxnet2caffe", "mxnet2caffe.cli", "mxnet2caffe.caffe.writer", "mxnet2caffe._native"} <= set(package_graph)
    assert "mxnet2caffe._native" in package_graph["mxnet2caffe.caffe_layers.opencv"]  # from .. import _native
    assert "mxnet2caffe.caffe.schema" in package_graph["mxnet2caffe.caffe.writer"]  # from .schema import ...
    assert all(f"mxnet2caffe.{layer}" in package_graph for layer in FORBIDDEN)
    assert in_layer("mxnet2caffe.caffe.net", "caffe") and in_layer("mxnet2caffe.caffe", "caffe")
    assert not in_layer("mxnet2caffe.caffe_layers.build", "caffe")


def test_no_import_cycle(package_graph):
    cycle = find_cycle(package_graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(package_graph, layer):
    violations = []
    for module in sorted(m for m in package_graph if in_layer(m, layer)):
        for forbidden in FORBIDDEN[layer]:
            targets = {m for m in package_graph if in_layer(m, forbidden)}
            chain = import_chain(package_graph, module, targets)
            if chain:
                violations.append(" -> ".join(chain))
    assert not violations, f"{layer}/ imports what it must not:\n" + "\n".join(violations)


# --- the graph builder, on a package written here -----------------------------------


def write_package(root: Path, files: Dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return package


def test_builder_follows_import_time_imports_only(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "from .a import f\n",
            "a.py": """
                from typing import TYPE_CHECKING
                from . import b
                import pkg.sub.c
                try:
                    from .sub import d
                except ImportError:
                    pass
                if TYPE_CHECKING:
                    from .checking import C
                else:
                    from . import e
                def f():
                    from . import lazy
                class K:
                    from .sub.d import x
            """,
            "b.py": "import os\nfrom .sub.c import y\n",
            "checking.py": "",
            "e.py": "",
            "lazy.py": "",
            "sub/__init__.py": "from ..b import *\n",
            "sub/c.py": "from .. import e\n",
            "sub/d.py": "x = 1\n",
            "_ext.pyi": "def g() -> int: ...\n",
        },
    )
    assert import_graph(package) == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b", "pkg.sub.c", "pkg.sub.d", "pkg.e"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.checking": set(),
        "pkg.e": set(),
        "pkg.lazy": set(),
        "pkg.sub": {"pkg.b"},
        "pkg.sub.c": {"pkg.e"},
        "pkg.sub.d": set(),
        "pkg._ext": set(),
    }


def test_cycle_and_chain_are_found():
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a", "p.d"}, "p.d": set()}
    assert find_cycle(graph) == ["p.a", "p.b", "p.c", "p.a"]
    assert find_cycle({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": set()}) is None
    assert import_chain(graph, "p.a", {"p.d"}) == ["p.a", "p.b", "p.c", "p.d"]
    assert import_chain(graph, "p.d", {"p.a"}) is None

"""The README's generated tables, from the code they describe, so they cannot drift.

    python scripts/readme_tables.py          # rewrites the tables in README.md
    python scripts/readme_tables.py --check  # exits 1 if README.md is out of date (tests do this)

A table stands between `<!-- NAME:start -->` and `<!-- NAME:end -->` lines.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List

import mxnet2caffe.converters  # noqa: F401  (registers every converter)
from mxnet2caffe.caffe.native_layers import NATIVE_LAYERS
from mxnet2caffe.converters.registry import BUILTIN, lookup, op_origin, supported_ops

README = Path(__file__).resolve().parent.parent / "README.md"


def native_layers_table() -> str:
    rows = [
        f"| `{layer.type}` | `--{layer.switch.replace('_', '-')} native` | {layer.covers} | {layer.stock} |"
        for layer in NATIVE_LAYERS
    ]
    header = ["| Layer type | Chosen with | Converts | Default (stock) form |", "| --- | --- | --- | --- |"]
    return "\n".join(header + rows)


def _summary(module: ModuleType) -> str:
    """The first paragraph of a converter module's docstring, on one line."""
    first = (inspect.getdoc(module) or "").split("\n\n")[0]
    return " ".join(first.split()).replace("|", "\\|")


def ops_table() -> str:
    """Every built-in op (never a loaded plugin's), grouped by the converter module that converts it."""
    modules: Dict[str, List[str]] = {}
    for op in (op for op in supported_ops() if op_origin(op) == BUILTIN):
        modules.setdefault(lookup(op).__module__, []).append(op)
    rows = [
        f"| `{name.rsplit('.', 1)[1]}` | {', '.join(f'`{op}`' for op in ops)} | {_summary(sys.modules[name])} |"
        for name, ops in sorted(modules.items())
    ]
    return "\n".join(["| Converter | MXNet ops | Caffe form |", "| --- | --- | --- |", *rows])


TABLES: Dict[str, Callable[[], str]] = {"ops": ops_table, "native-layers": native_layers_table}


def render(text: str) -> str:
    """`text` with every generated table replaced by its current contents."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda match, table=table: match[1] + table() + "\n" + match[2], text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md tables are out of date: run python scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: argument parsing and printing only; the work is in the API."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from .convert import convert, likely_data_inputs, unsupported_nodes
from .errors import ConversionError
from .mxnet.params import read_params
from .mxnet.symbol import read_symbol
from .verify.compare import Comparison
from .verify.outputs import BACKENDS, input_shapes, random_inputs, verify_outputs

log = logging.getLogger("mxnet2caffe")


def parse_input_shape(text: str) -> Tuple[str, Tuple[int, ...]]:
    """'data:1,3,224,224' -> ('data', (1, 3, 224, 224)); a bare shape gets the name ''."""
    name, _, dims = text.rpartition(":")
    try:
        shape = tuple(int(d) for d in dims.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad input shape {text!r}: expected NAME:D1,D2,... or D1,D2,..."
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"bad input shape {text!r}: dimensions must be positive")
    return name, shape


def model_files(first: str, second: str) -> Tuple[Path, Path]:
    """SYMBOL.json FILE.params, or MXNet's checkpoint form PREFIX EPOCH."""
    if second.isdigit():
        return Path(f"{first}-symbol.json"), Path(f"{first}-{int(second):04d}.params")
    return Path(first), Path(second)


def _shapes(pairs: Sequence[Tuple[str, Tuple[int, ...]]]) -> Dict[str, Tuple[int, ...]]:
    shapes: Dict[str, Tuple[int, ...]] = {}
    for name, shape in pairs:
        if name in shapes:
            raise ConversionError(f"--input-shape given twice for {name or 'the input'}")
        shapes[name] = shape
    return shapes


def run_convert(args: argparse.Namespace) -> int:
    symbol, params = model_files(args.model, args.params)
    summary = convert(symbol, params, _shapes(args.input_shape), args.output)
    print(f"wrote {summary.prototxt}")
    print(f"wrote {summary.caffemodel}")
    print(f"{summary.layer_count} layers; inputs {_describe(summary.inputs)}; outputs {_describe(summary.outputs)}")
    if not args.verify:
        return 0
    return _verify(symbol, params, summary.prototxt, summary.caffemodel, args.backend, args.tolerance)


def run_verify(args: argparse.Namespace) -> int:
    symbol, params = model_files(args.model, args.params)
    return _verify(symbol, params, Path(args.prototxt), Path(args.caffemodel), args.backend, args.tolerance)


def _verify(symbol: Path, params: Path, prototxt: Path, caffemodel: Path, backend: str, tolerance: float) -> int:
    inputs = random_inputs(input_shapes(prototxt))
    graph = read_symbol(symbol)
    outputs = [graph.node(ref).name for ref in graph.heads]
    rows = verify_outputs(symbol, params, prototxt, caffemodel, inputs, outputs, backend)
    print(f"MXNet vs Caffe model in {backend}, seeded random input, tolerance {tolerance:g} (relative max error)")
    _print_rows(rows, tolerance)
    failed = [row.name for row in rows if not row.within(tolerance)]
    if failed:
        print(f"FAILED: {', '.join(failed)} over tolerance")
        return 1
    print("OK: every output within tolerance")
    return 0


def _print_rows(rows: Sequence[Comparison], tolerance: float) -> None:
    width = max(len(row.name) for row in rows)
    print(f"  {'output':<{width}}  {'shape':<18} {'max abs err':>12} {'rel err':>10} {'cosine':>10}")
    for row in rows:
        shape = "x".join(map(str, row.shape))
        flag = "" if row.within(tolerance) else "  <-- over tolerance"
        print(f"  {row.name:<{width}}  {shape:<18} {row.max_abs_error:>12.3g} {row.relative_error:>10.3g} {row.cosine:>10.6f}{flag}")


def run_inspect(args: argparse.Namespace) -> int:
    graph = read_symbol(args.symbol)
    nodes = graph.reachable()
    ops = Counter(node.op for node in nodes if not node.is_variable)
    missing = Counter(op for op, _ in unsupported_nodes(graph))
    print(f"{graph.source}: {sum(ops.values())} op nodes, {len(ops)} distinct ops")
    width = max((len(op) for op in ops), default=0)
    for op, count in sorted(ops.items(), key=lambda item: (-item[1], item[0])):
        mark = "  UNSUPPORTED" if op in missing else ""
        print(f"  {op:<{width}}  {count:>5}{mark}")
    params = read_params(args.params) if args.params else {}
    print("inputs: " + ", ".join(likely_data_inputs(graph, params)))
    heads = [graph.node(ref).name for ref in graph.heads]
    print("heads: " + ", ".join(heads))
    if missing:
        print(f"unsupported: {', '.join(f'{op} x{n}' for op, n in sorted(missing.items()))}")
        return 1
    print("all ops supported")
    return 0


def _describe(tensors: Dict[str, Tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in tensors.items())


def _verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="opencv", help="the Caffe runtime")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="relative max error allowed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mxnet2caffe", description="Convert MXNet models to Caffe models with the same numbers."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True)

    conv = commands.add_parser("convert", help="convert a model to .prototxt + .caffemodel")
    conv.add_argument("model", help="SYMBOL.json, or the checkpoint PREFIX")
    conv.add_argument("params", help="FILE.params, or the checkpoint EPOCH")
    conv.add_argument(
        "--input-shape", action="append", type=parse_input_shape, required=True,
        metavar="[NAME:]D1,D2,...", help="shape of an input; repeat for several inputs",
    )
    conv.add_argument("--output", "-o", required=True, help="writes OUTPUT.prototxt and OUTPUT.caffemodel")
    conv.add_argument("--verify", action="store_true", help="then compare the outputs with MXNet's")
    _verify_options(conv)
    conv.set_defaults(run=run_convert)

    verify = commands.add_parser("verify", help="compare a converted model's outputs with MXNet's")
    verify.add_argument("model", help="SYMBOL.json, or the checkpoint PREFIX")
    verify.add_argument("params", help="FILE.params, or the checkpoint EPOCH")
    verify.add_argument("prototxt", help="the converted NET.prototxt")
    verify.add_argument("caffemodel", help="the converted NET.caffemodel")
    _verify_options(verify)
    verify.set_defaults(run=run_verify)

    inspect = commands.add_parser("inspect", help="ops, inputs and heads of a symbol; unsupported ops")
    inspect.add_argument("symbol", help="SYMBOL.json")
    inspect.add_argument("params", nargs="?", help="FILE.params: tells inputs from weights exactly")
    inspect.set_defaults(run=run_inspect)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    try:
        return args.run(args)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug of ours, not bad input: say so, keep the detail opt-in
        if args.debug:
            raise
        print(f"internal error: {type(error).__name__}: {error} (rerun with --debug for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

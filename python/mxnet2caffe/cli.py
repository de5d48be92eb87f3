"""Command line: argument parsing and printing only; the work is in the API."""

from __future__ import annotations

from .interrupts import ProgramSignals, QuietStartUp, Terminated, exit_status, signal_of

with QuietStartUp():  # Ctrl-C while the standard library, numpy and the pipeline load: one line, exit 130
    import argparse
    import logging
    import os
    import subprocess
    import sys
    from collections import Counter
    from pathlib import Path
    from typing import Dict, Optional, Sequence, Tuple

    from .caffe.native_layers import SWITCHES
    from .caffe.profiles import DEFAULT_PROFILE, PROFILES
    from .caffe.user_layers import user_layers
    from .convert import convert
    from .converters.registry import overridden_ops, plugin_ops
    from .errors import ConversionError
    from .lower import cut_hint, likely_data_inputs, unsupported_nodes
    from .mxnet.params import read_params
    from .mxnet.symbol import read_symbol
    from .options import MAX_BLOB_ELEMENTS, NATIVE, STOCK, ConvertOptions
    from .pipeline import build_net, run_graph_passes
    from .plugins import load_plugins, loaded_plugins
    from .runtimes.caffe_home import BUILD_SCRIPT
    from .verify.backends import BACKENDS
    from .verify.report import DEFAULT_TOLERANCE, verify


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


def parse_values(text: str) -> Tuple[float, ...]:
    """'123.7,116.3,103.5' -> a tuple of floats (one value stands for every channel)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad values {text!r}: expected V or V1,V2,V3") from None
    return values


def parse_names(text: str) -> Tuple[str, ...]:
    """'fc1,bbox_pred' -> ('fc1', 'bbox_pred')."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("no output names given")
    return names


def model_files(first: str, second: str) -> Tuple[Path, Path]:
    """SYMBOL.json FILE.params, or MXNet's checkpoint form PREFIX EPOCH."""
    if second.isdigit():
        return Path(f"{first}-symbol.json"), Path(f"{first}-{int(second):04d}.params")
    return Path(first), Path(second)


# Caffe's BlobShape dims are int64
_MAX_DIM = 2**63 - 1


def _shapes(pairs: Sequence[Tuple[str, Tuple[int, ...]]]) -> Dict[str, Tuple[int, ...]]:
    shapes: Dict[str, Tuple[int, ...]] = {}
    for name, shape in pairs:
        if name in shapes:
            raise ConversionError(f"--input-shape given twice for {name or 'the input'}")
        if max(shape) > _MAX_DIM:
            raise ConversionError(f"--input-shape {name + ':' if name else ''}...: a dimension exceeds {_MAX_DIM}")
        shapes[name] = shape
    return shapes


def output_prefix(text: str) -> str:
    """The --output value when it names a file prefix, not a directory or nothing."""
    if not text or text.endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise ConversionError(f"--output {text!r}: give a file prefix such as DIR/model, not a directory")
    return text


def _options(args: argparse.Namespace) -> ConvertOptions:
    std = args.std
    if args.scale is not None:
        if std is not None:
            raise ConversionError("give --std or --scale, not both")
        if 0 in args.scale:
            raise ConversionError(f"--scale {args.scale}: a scale of 0 erases the input")
        std = tuple(1.0 / value for value in args.scale)
    return ConvertOptions(
        forms={switch: getattr(args, switch) for switch in SWITCHES},
        outputs=tuple(name for names in args.outputs for name in names),
        fuse_bn=args.fuse_bn,
        mean=args.mean,
        std=std,
        swap_rgb=args.swap_rgb,
        profile=args.profile,
        max_blob_elements=args.max_blob_elements,
    )


def run_convert(args: argparse.Namespace) -> int:
    symbol, params = model_files(args.model, args.params)
    formats = args.format.split(",")
    if "caffe" not in formats:
        if args.verify:
            raise ConversionError("--verify compares the Caffe model: use --format caffe,onnx")
        return _export_onnx(args, symbol, params)
    if "onnx" in formats:
        _export_onnx(args, symbol, params)
    summary = convert(
        symbol, params, _shapes(args.input_shape), output_prefix(args.output), _options(args), plugins=args.plugin,
        fsync=not args.no_fsync,
    )
    prototxt, caffemodel = summary.prototxt, summary.caffemodel
    assert prototxt is not None and caffemodel is not None  # convert() writes both when given an output
    for note in summary.notes:
        print(note)
    print(f"wrote {prototxt}")
    print(f"wrote {caffemodel}")
    print(f"{summary.layer_count} layers; inputs {_describe(summary.inputs)}; outputs {_describe(summary.outputs)}")
    if not args.verify:
        return 0
    return _verify(args, symbol, params, prototxt, caffemodel)


def run_onnx(args: argparse.Namespace) -> int:
    return _export_onnx(args, *model_files(args.model, args.params))


def _export_onnx(args: argparse.Namespace, symbol: Path, params: Path) -> int:
    """OUTPUT.onnx (and with --trt-check, polygraphy's files for TensorRT)."""
    from .onnx.api import convert_net_to_onnx, write_onnx  # needs the optional onnx package

    net, model = convert_net_to_onnx(
        symbol, params, _shapes(args.input_shape), None, _options(args), args.opset, args.dynamic_batch, args.plugin
    )
    path = write_onnx(model, output_prefix(args.output), fsync=not args.no_fsync)
    print(f"wrote {path}")
    if args.trt_check:
        from .onnx.trt_check import write_trt_check  # needs polygraphy

        command = write_trt_check(args.trt_check, path, symbol, params, net, args.seed, args.tolerance)
        folder = Path(args.trt_check)
        print(f"wrote {folder / 'inputs.json'} and {folder / 'outputs.json'} (MXNet's outputs)")
        print("on a machine with TensorRT, compare it with MXNet:")
        print(command)
    return 0


def run_caffe2onnx(args: argparse.Namespace) -> int:
    from .onnx.api import caffe_to_onnx, onnx_path  # needs the optional onnx package

    output = output_prefix(args.output)
    caffe_to_onnx(args.prototxt, args.caffemodel, output, args.opset, args.dynamic_batch, plugins=args.plugin)
    print(f"wrote {onnx_path(output)}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    symbol, params = model_files(args.model, args.params)
    return _verify(args, symbol, params, Path(args.prototxt), Path(args.caffemodel))


def _verify(args: argparse.Namespace, symbol: Path, params: Path, prototxt: Path, caffemodel: Path) -> int:
    report = verify(
        symbol, params, prototxt, caffemodel,
        backend=args.backend, tolerance=args.tolerance, image=args.input, seed=args.seed, plugins=args.plugin,
    )
    print(report.format(layers=not args.outputs_only))
    return 0 if report.ok else 1


def run_build_caffe(args: argparse.Namespace) -> int:
    command = ["bash", str(BUILD_SCRIPT)] + (["--force"] if args.force else []) + [args.python]
    return subprocess.run(command).returncode


def run_build_layers(args: argparse.Namespace) -> int:
    from .caffe_layers import build_kernels, build_plugin  # CMake and a Caffe home are needed only here

    home = Path(args.caffe_home) if args.caffe_home else None
    print(build_plugin(home, force=args.force, extra=args.extra))
    for folder in args.extra:  # what the folder's OpenCV layers call
        print(build_kernels(folder, force=args.force))
    return 0


def run_new_layer(args: argparse.Namespace) -> int:
    from .caffe_layers.new_layer import write_layer_skeleton

    for path in write_layer_skeleton(args.name, args.dir):
        print(f"wrote {path}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    """The op histogram of what would be converted, unsupported ops, and what the passes would
    do (the net passes need the params and input shapes)."""
    options = _options(args)
    load_plugins(args.plugin)
    graph = read_symbol(args.symbol)
    graph.params = read_params(args.params) if args.params else {}
    graph = run_graph_passes(graph, options)
    nodes = graph.reachable()
    ops = Counter(node.converter_key for node in nodes if not node.is_variable)
    missing = Counter(op for op, _ in unsupported_nodes(graph))
    print(f"{graph.source}: {sum(ops.values())} op nodes, {len(ops)} distinct ops")
    width = max((len(op) for op in ops), default=0)
    for op, count in sorted(ops.items(), key=lambda item: (-item[1], item[0])):
        mark = "  UNSUPPORTED" if op in missing else _origin_mark(op)
        print(f"  {op:<{width}}  {count:>5}{mark}")
    _print_plugins()
    print("inputs: " + ", ".join(likely_data_inputs(graph, graph.params)))
    heads = [graph.node(ref).name for ref in graph.heads]
    print("heads: " + ", ".join(heads))
    if missing:
        for note in graph.notes:
            print(note)
        print(f"unsupported: {', '.join(f'{op} x{n}' for op, n in sorted(missing.items()))}")
        hint = cut_hint(graph)
        if hint:
            print(hint)
        return 1
    print("all ops supported")
    if args.params and args.input_shape:
        name = Path(args.symbol).stem.replace("-symbol", "")
        notes = build_net(graph, graph.params, _shapes(args.input_shape), options, name).notes
    else:
        notes = graph.notes + ["(give PARAMS and --input-shape to see what the net passes would do too)"]
    for note in notes:
        print(note)
    return 0


def _origin_mark(op: str) -> str:
    plugin = plugin_ops().get(op)
    if plugin is None:
        return ""
    return f"  from plugin '{plugin}'" + (" (replaces the built-in converter)" if op in overridden_ops() else "")


def _print_plugins() -> None:
    """Each plugin loaded, with the ops it converts and the layer types it declares."""
    loaded = loaded_plugins()
    if not loaded:
        return
    ops = plugin_ops()
    print("plugins:")
    for name, where in loaded.items():
        converted = [op for op, plugin in ops.items() if plugin == name]
        types = [layer.type for layer in user_layers() if layer.plugin == name]
        print(f"  {name} ({where}): ops {', '.join(converted) or 'none'}; layer types {', '.join(types) or 'none'}")


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE|FILE.py",
        help="load converters (and layer types) from this module or file first (mxnet2caffe.extend); "
        "repeat for several. Installed plugins load too, unless MXNET2CAFFE_NO_ENTRY_POINTS=1",
    )


def _describe(tensors: Dict[str, Tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in tensors.items())


def _verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="opencv", help="the Caffe runtime")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="relative max error allowed")
    parser.add_argument(
        "--input", metavar="IMAGE", help="feed this image (resized, RGB or gray, 0..255); default: seeded random values"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input")
    parser.add_argument("--outputs-only", action="store_true", help="print only the model outputs' rows")


def _conversion_options(parser: argparse.ArgumentParser, input_shape_required: bool) -> None:
    parser.add_argument(
        "--input-shape", action="append", type=parse_input_shape, required=input_shape_required,
        default=[], metavar="[NAME:]D1,D2,...", help="shape of an input; repeat for several inputs",
    )
    parser.add_argument(
        "--outputs", action="append", type=parse_names, default=[], metavar="NAME[,NAME...]",
        help="convert up to these nodes or MXNet outputs (e.g. a detector's raw heads), in this order",
    )
    parser.add_argument(
        "--fuse-bn", action="store_true", help="fold BatchNorm (+Scale) into the Convolution/InnerProduct before it"
    )
    parser.add_argument(
        "--mean", type=parse_values, metavar="V[,V,V]",
        help="the model expects (x - mean) / std: take raw pixels x instead (per channel, MXNet's channel order)",
    )
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--std", type=parse_values, metavar="V[,V,V]", help="see --mean")
    scale.add_argument("--scale", type=parse_values, metavar="V[,V,V]", help="1 / std")
    parser.add_argument(
        "--swap-rgb",
        action="store_true",
        help="the model expects the other channel order (RGB/BGR) than the camera gives",
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE,
        help="; ".join(f"{name}: {meaning}" for name, meaning in PROFILES.items()),
    )
    parser.add_argument(
        "--max-blob-elements", type=int, default=MAX_BLOB_ELEMENTS, metavar="N",
        help=f"refuse a model with a blob (input, output of a layer, weight) of more than N elements "
        f"(default {MAX_BLOB_ELEMENTS}, Caffe's limit)",
    )
    for switch, meaning in SWITCHES.items():
        parser.add_argument(
            "--" + switch.replace("_", "-"), choices=(STOCK, NATIVE), default=STOCK,
            help=f"{meaning} (default stock: runs in any Caffe)",
        )


def _onnx_options(parser: argparse.ArgumentParser, trt_check: bool = False) -> None:
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset, 13..17 (TensorRT 8.6 and 10 parse these)")
    parser.add_argument(
        "--dynamic-batch", action="store_true", help="a symbolic batch axis 'N' instead of the given one"
    )
    if trt_check:
        parser.add_argument(
            "--trt-check", metavar="DIR",
            help="write seeded random inputs and MXNet's outputs for them to DIR (polygraphy JSON) and print "
            "the `polygraphy run --trt` line comparing TensorRT with them (--seed, --tolerance)",
        )


def _fsync_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-fsync", action="store_true",
        help="do not flush the outputs to disk before installing them (faster, above all on slow disks): they "
        "are still whole or untouched after an error or an interrupt, but a crash or a power loss can leave "
        "them old, new, empty, mixed or missing (the old file kept as a hidden .NAME.*.old)",
    )


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
    _conversion_options(conv, input_shape_required=True)
    conv.add_argument(
        "--output", "-o", required=True, help="writes OUTPUT.prototxt and OUTPUT.caffemodel (and/or OUTPUT.onnx)"
    )
    conv.add_argument(
        "--format", choices=("caffe", "onnx", "caffe,onnx"), default="caffe",
        help="what to write: the Caffe model, an ONNX model of it (for TensorRT), or both",
    )
    _fsync_option(conv)
    _onnx_options(conv, trt_check=True)
    conv.add_argument("--verify", action="store_true", help="then compare every layer with MXNet")
    _verify_options(conv)
    _plugin_option(conv)
    conv.set_defaults(run=run_convert)

    exporter = commands.add_parser("onnx", help="convert a model to ONNX (for TensorRT, ONNX Runtime)")
    exporter.add_argument("model", help="SYMBOL.json, or the checkpoint PREFIX")
    exporter.add_argument("params", help="FILE.params, or the checkpoint EPOCH")
    _conversion_options(exporter, input_shape_required=True)
    exporter.add_argument("--output", "-o", required=True, help="writes OUTPUT.onnx")
    _fsync_option(exporter)
    _onnx_options(exporter, trt_check=True)
    exporter.add_argument("--seed", type=int, default=0, help="seed of the --trt-check inputs")
    exporter.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="relative max error the --trt-check line allows"
    )
    _plugin_option(exporter)
    exporter.set_defaults(run=run_onnx)

    caffe2onnx = commands.add_parser(
        "caffe2onnx", help="a Caffe model (converted earlier, or hand-written) to ONNX (for TensorRT, ONNX Runtime)"
    )
    caffe2onnx.add_argument("prototxt", help="NET.prototxt")
    caffe2onnx.add_argument("caffemodel", help="NET.caffemodel")
    caffe2onnx.add_argument("--output", "-o", required=True, help="writes OUTPUT.onnx")
    _onnx_options(caffe2onnx)
    _plugin_option(caffe2onnx)
    caffe2onnx.set_defaults(run=run_caffe2onnx)

    checker = commands.add_parser("verify", help="compare a converted model with MXNet, layer by layer")
    checker.add_argument("model", help="SYMBOL.json, or the checkpoint PREFIX")
    checker.add_argument("params", help="FILE.params, or the checkpoint EPOCH")
    checker.add_argument("prototxt", help="the converted NET.prototxt")
    checker.add_argument("caffemodel", help="the converted NET.caffemodel")
    _verify_options(checker)
    _plugin_option(checker)
    checker.set_defaults(run=run_verify)

    inspect = commands.add_parser(
        "inspect", help="ops, inputs and heads of a symbol; unsupported ops; what the passes would do"
    )
    inspect.add_argument("symbol", help="SYMBOL.json")
    inspect.add_argument("params", nargs="?", help="FILE.params: tells inputs from weights exactly")
    _conversion_options(inspect, input_shape_required=False)
    _plugin_option(inspect)
    inspect.set_defaults(run=run_inspect)

    build = commands.add_parser(
        "build-caffe", help="build the reference Caffe with pycaffe for verification (cached; minutes)"
    )
    build.add_argument("python", nargs="?", default=sys.executable, help="the interpreter to build for")
    build.add_argument("--force", action="store_true", help="rebuild even if a cached build works")
    build.set_defaults(run=run_build_caffe)

    layers = commands.add_parser(
        "build-layers", help="build the native layers (MXBroadcastMul ...) as a plugin for a Caffe; prints its path"
    )
    layers.add_argument(
        "--caffe-home", help="a Caffe with include/ and lib/libcaffe.so (default: the build-caffe one)"
    )
    layers.add_argument("--force", action="store_true", help="rebuild even if a cached plugin fits")
    layers.add_argument(
        "--extra", action="append", default=[], metavar="DIR",
        help="a folder of your own layers (as new-layer writes) to build into the same library; repeatable; "
        "then also prints each folder's kernels-only library (for its OpenCV layers)",
    )
    layers.set_defaults(run=run_build_layers)

    new_layer = commands.add_parser(
        "new-layer", help="write the skeleton of a Caffe layer type of your own (kernel, Caffe layer, OpenCV "
        "layer, plugin, tests), which works and passes its tests as written",
    )
    new_layer.add_argument("name", help="the layer type, CamelCase (e.g. MyScale)")
    new_layer.add_argument("--dir", help="the folder to write into (default: ./NAME in snake_case)")
    new_layer.set_defaults(run=run_new_layer)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs a command; an interrupt (SIGINT, SIGTERM) ends it with one line, after the
    cleanups on the way out have removed any temporary file. Without `argv` this is the
    program (the process exits next), which then ignores late signals."""
    with ProgramSignals(as_program=argv is None):
        try:
            return _run(argv)
        except (KeyboardInterrupt, Terminated) as interrupt:
            return exit_status(signal_of(interrupt))


def _run(argv: Optional[Sequence[str]]) -> int:
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

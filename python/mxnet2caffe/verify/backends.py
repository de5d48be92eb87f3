"""Forward passes in the real runtimes. Each is imported only when used: converting
needs none of them, and a missing one gets a message saying how to install it."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, FrozenSet, Mapping, Sequence, Tuple, Union

import numpy as np

from ..caffe.native_layers import NATIVE_LAYER_TYPES
from ..caffe.reader import read_prototxt
from ..caffe.user_layers import user_layer_types
from ..errors import ConversionError, shortened
from ..naming import output_keys
from ..plugins import run_mxnet_setups
from ..runtimes.caffe_home import import_caffe
from ..runtimes.imports import require

PathLike = Union[str, "os.PathLike[str]"]

def mxnet_executor(
    symbol: PathLike, params: PathLike, inputs: Mapping[str, np.ndarray], internals: bool
) -> Tuple[Any, Any]:
    """(symbol, executor) of an MXNet checkpoint bound for inference on `inputs`; with
    `internals`, the symbol outputs every op output (duplicate names included, in order)."""
    mx = require("mxnet")
    run_mxnet_setups(mx)  # the MXNet side of plugins' Custom ops, before MXNet reads the graph
    try:
        sym = mx.sym.load(str(symbol))
    except mx.base.MXNetError as error:
        raise _mxnet_refuses(symbol, error) from None
    saved = mx.nd.load(str(params))
    if isinstance(saved, list):  # mx.nd.load gives a list for a file with no arrays
        saved = {}
    args: Dict[str, Any] = {}  # name -> mx.nd.NDArray (MXNet has no type hints)
    aux: Dict[str, Any] = {}
    for key, value in saved.items():
        kind, _, name = key.partition(":")
        if not name:  # Gluon's bare names
            kind, name = "", key
        (aux if kind == "aux" or name in sym.list_auxiliary_states() else args)[name] = value
    args.update({name: mx.nd.array(value) for name, value in inputs.items()})
    # every known shape: broadcast ops cannot infer a constant operand's shape from the data's
    known = {name: value.shape for name, value in args.items() if name in sym.list_arguments()}
    arg_shapes, _, _ = sym.infer_shape(**known)
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        args.setdefault(name, mx.nd.zeros(shape))  # training labels: unused at inference
    if internals:
        everything = sym.get_internals()
        # variables are inputs and weights, not computed values; by position, since a file may
        # repeat a name (indexing by name would give the first of them twice)
        names = everything.list_outputs()
        sym = mx.sym.Group([everything[i] for i, name in enumerate(names) if name not in args and name not in aux])
    # MXNet's default MKLDNN subgraph pass fuses BatchNorm into Convolution and cannot bind
    # a graph whose internal outputs are requested: run the graph as written instead
    previous = os.environ.get("MXNET_SUBGRAPH_BACKEND")
    os.environ["MXNET_SUBGRAPH_BACKEND"] = "NONE"
    try:
        return sym, sym.bind(mx.cpu(), args, aux_states=aux, grad_req="null")
    finally:
        if previous is None:
            del os.environ["MXNET_SUBGRAPH_BACKEND"]
        else:
            os.environ["MXNET_SUBGRAPH_BACKEND"] = previous


def _mxnet_refuses(symbol: PathLike, error: Exception) -> ConversionError:
    """MXNet's own error, its last line (the cause): a Custom op MXNet does not know is the
    common one, and a plugin's @mxnet_setup is what registers it."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    # "MXNetError: Check failed: <condition>: <what>": the last part says it
    cause = shortened(lines[-1].rsplit(": ", 1)[-1] if lines else type(error).__name__, 200)
    hint = ""
    if "custom operator" in cause.lower():
        hint = ": load the plugin that registers the MXNet side of that Custom op (--plugin; its @mxnet_setup)"
    return ConversionError(f"MXNet cannot read {symbol}: {cause}{hint}")


def mxnet_internal_outputs(
    symbol: PathLike, params: PathLike, inputs: Mapping[str, np.ndarray]
) -> Dict[str, np.ndarray]:
    """Every op output at inference, keyed as the NameMap keys them ("conv0_output", and
    "fc7_output#2" for a repeated name), in the graph's topological order."""
    sym, executor = mxnet_executor(symbol, params, inputs, internals=True)
    outputs = executor.forward(is_train=False)
    return {key: out.asnumpy() for key, out in zip(output_keys(sym.list_outputs()), outputs)}


def layer_types(prototxt: PathLike) -> FrozenSet[str]:
    return frozenset(layer.type for layer in read_prototxt(prototxt).layer)


def uses_native_layers(prototxt: PathLike) -> bool:
    """Whether a prototxt has layer types of our own (caffe_layers/) or of a plugin (declared in
    caffe/user_layers.py), which runtimes must be given."""
    return _has_native_types(layer_types(prototxt))


def _has_native_types(types: FrozenSet[str]) -> bool:
    return bool(types & (NATIVE_LAYER_TYPES | user_layer_types()))


def _with_copies_of_other_tops(prototxt: PathLike, names: Sequence[str]) -> bytes:
    """The prototxt's text with a copy layer (Power, y = x) named after each blob in `names` that
    is not the first top of its layer (a Slice's other parts). OpenCV's forward(name) reaches only
    a layer's first top, and forwardAndRetrieve(layer) gives the others as memory their in-place
    readers (a TanH, say) have reused; a copy is a second reader, which keeps them from it."""
    other_tops = {top for layer in read_prototxt(prototxt).layer for top in layer.top[1:]}
    copies = [
        f'layer {{ name: "{name}" type: "Power" bottom: "{name}" top: "{name}/copy_for_verify" }}\n'
        for name in names
        if name in other_tops
    ]
    with open(prototxt, "rb") as handle:
        return handle.read() + "".join(copies).encode()


def opencv_blobs(
    prototxt: PathLike,
    caffemodel: PathLike,
    inputs: Mapping[str, np.ndarray],
    names: Sequence[str],
    fuse: bool = True,
) -> Dict[str, np.ndarray]:
    """Outputs of the named layers run by OpenCV DNN on the CPU in float32.

    Our layers are named after their first top, so layer names are blob names; the other tops
    get a copy named after them. `fuse=False` keeps OpenCV from folding BatchNorm/Scale/ReLU
    into the layer before them, which would hide the intermediate values a layer-by-layer
    comparison needs."""
    cv2 = require("cv2")
    if uses_native_layers(prototxt):
        from ..caffe_layers import register_opencv_layers  # only models with native layers need it

        register_opencv_layers()
    with open(caffemodel, "rb") as handle:
        weights = handle.read()
    net = cv2.dnn.readNetFromCaffe(
        np.frombuffer(_with_copies_of_other_tops(prototxt, names), np.uint8), np.frombuffer(weights, np.uint8)
    )
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.enableFusion(fuse)
    if hasattr(net, "enableWinograd"):
        net.enableWinograd(False)  # Winograd convolution trades accuracy for speed
    for name, value in inputs.items():
        net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
    return {name: np.asarray(out) for name, out in zip(names, net.forward(list(names)))}


def caffe_net(prototxt: PathLike, caffemodel: PathLike) -> Any:
    """A pycaffe Net (CPU mode, TEST phase) of the model, with the layer library loaded first when
    the prototxt uses our or a plugin's layer types."""
    caffe = import_caffe()
    types = layer_types(prototxt)
    if _has_native_types(types):
        from ..caffe_layers import load  # only models with native layers need it

        load()
    # Caffe aborts the process on an unknown type: say which, and what brings them
    unknown = types - set(caffe.layer_type_list())
    if unknown:
        raise ConversionError(
            f"{prototxt} uses layer types that Caffe lacks: {', '.join(sorted(unknown))}; a plugin's layer types "
            "load with the plugin that declares them (register_layer), so give it as for converting (--plugin)"
        )
    caffe.set_mode_cpu()
    return caffe.Net(str(prototxt), str(caffemodel), caffe.TEST)


def caffe_blobs(
    prototxt: PathLike,
    caffemodel: PathLike,
    inputs: Mapping[str, np.ndarray],
    names: Sequence[str],
    fuse: bool = True,
) -> Dict[str, np.ndarray]:
    """Named blobs after a forward pass in real Caffe (pycaffe), CPU mode, TEST phase.
    `fuse` is there for a uniform signature: Caffe never fuses layers."""
    net = caffe_net(prototxt, caffemodel)
    for name, value in inputs.items():
        net.blobs[name].data[...] = value
    net.forward()
    return {name: net.blobs[name].data.copy() for name in names}


def onnxruntime_blobs(
    prototxt: PathLike,
    caffemodel: PathLike,
    inputs: Mapping[str, np.ndarray],
    names: Sequence[str],
    fuse: bool = True,
) -> Dict[str, np.ndarray]:
    """Named blobs of the Caffe model emitted as ONNX (in memory, each named blob an extra graph
    output: ONNX values carry the blob names) and run by ONNX Runtime on the CPU. `fuse=False`
    turns ONNX Runtime's graph rewrites off, so the graph runs as emitted."""
    from ..onnx.api import read_caffe_net  # the optional onnx package, only for this backend
    from ..onnx.emit import net_to_onnx

    ort = require("onnxruntime")
    model = net_to_onnx(read_caffe_net(prototxt, caffemodel), extra_outputs=names)
    options = ort.SessionOptions()
    if not fuse:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
    return dict(zip(names, session.run(list(names), feed)))


BACKENDS: Dict[str, Callable[..., Dict[str, np.ndarray]]] = {
    "caffe": caffe_blobs,
    "onnxruntime": onnxruntime_blobs,
    "opencv": opencv_blobs,
}


def backend_blobs(backend: str) -> Callable[..., Dict[str, np.ndarray]]:
    """The blob-fetching function of a backend named by the user."""
    if backend not in BACKENDS:
        raise ConversionError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[backend]

"""Shared checks of the ONNX tests, as fixtures: an MXNet graph converted to ONNX against real
MXNet, and a hand-built Caffe net emitted as ONNX against real Caffe. Both run the file in real
onnxruntime and check it as TensorRT needs it (ops on its list, default domain only)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import onnx
import onnxruntime
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.net import Layer, Net, Tensor
from mxnet2caffe.caffe.writer import write_net
from mxnet2caffe.onnx import convert_to_onnx, net_to_onnx, write_onnx
from mxnet2caffe.onnx.tensorrt import TENSORRT_OPS
from mxnet2caffe.verify.backends import caffe_blobs
from mxnet2caffe.verify.compare import compare
from mxnet2caffe.verify.inputs import random_inputs

from harness import TOLERANCE, mxnet_forward, random_params, save_model


def assert_tensorrt_ready(model: onnx.ModelProto) -> None:
    ops = {node.op_type for node in model.graph.node}
    assert ops <= TENSORRT_OPS, f"ops TensorRT lacks: {ops - TENSORRT_OPS}"
    assert {node.domain for node in model.graph.node} <= {""}, "custom domain used"
    assert [opset.domain for opset in model.opset_import] == [""]
    graph_inputs = {value.name for value in model.graph.input}
    assert not graph_inputs & {tensor.name for tensor in model.graph.initializer}, "weights declared as inputs"


def run_onnx(path: Path, inputs: Mapping[str, np.ndarray], names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None if names is None else list(names), dict(inputs))


def _batched(inputs: Dict[str, np.ndarray], batch: int) -> Dict[str, np.ndarray]:
    """Each input repeated to `batch` with a different random offset per sample."""
    rng = np.random.default_rng(batch)
    return {
        name: (np.concatenate([value] * batch) + rng.normal(0, 0.5, (batch, *value.shape[1:]))).astype(np.float32)
        for name, value in inputs.items()
    }


@pytest.fixture
def onnx_exactly(tmp_path: Path) -> Callable[..., List[float]]:
    """converts(sym, shapes, options=None, dynamic_batch=False, args=None, aux=None): saves `sym` with
    (random) weights, converts it to ONNX, runs it in onnxruntime (at batch 1 and 4 for a dynamic
    batch) and asserts every output within TOLERANCE of MXNet's. Returns the relative errors."""

    def converts(
        sym,
        shapes: Mapping[str, Sequence[int]],
        options: Optional[mxnet2caffe.ConvertOptions] = None,
        dynamic_batch: bool = False,
        args=None,
        aux=None,
        opset: int = 13,
    ) -> List[float]:
        random_args, random_aux = random_params(sym, shapes)
        symbol_path, params_path = save_model(sym, args or random_args, aux or random_aux, tmp_path)
        model = convert_to_onnx(symbol_path, params_path, dict(shapes), tmp_path / "model", options, opset, dynamic_batch)
        assert_tensorrt_ready(model)
        inputs = random_inputs(shapes)
        errors = []
        for batch in (1, 4) if dynamic_batch else (None,):
            fed = inputs if batch is None else _batched(inputs, batch)
            expected = mxnet_forward(symbol_path, params_path, fed)
            actual = run_onnx(tmp_path / "model.onnx", fed)
            assert len(actual) == len(expected)
            for index, (got, want) in enumerate(zip(actual, expected)):
                assert got.shape == want.shape, f"output {index}: shape {got.shape} != MXNet {want.shape}"
                result = compare(f"output {index}", got, want)
                assert result.within(TOLERANCE), f"output {index} (batch {batch}): relative error {result.relative_error:.3g}"
                errors.append(result.relative_error)
        return errors

    return converts


@pytest.fixture
def caffe_exactly(tmp_path: Path) -> Callable[..., onnx.ModelProto]:
    """matches(input_shape, layers): a net of `layers` on input "data" (outputs: the tops no layer
    reads) written as Caffe and as ONNX; every output of real Caffe and of onnxruntime agree within
    TOLERANCE. Returns the ONNX model."""

    def matches(input_shape: Sequence[int], layers: Sequence[Layer], dynamic_batch: bool = False) -> onnx.ModelProto:
        read = {bottom for layer in layers for bottom in layer.bottoms}
        tops = [top for layer in layers for top in layer.tops if top not in read]
        net = Net("hand_built", inputs=[Tensor("data", tuple(input_shape))], layers=list(layers))
        prototxt, caffemodel = write_net(net, tmp_path / "net")
        inputs = random_inputs({"data": input_shape})
        expected = caffe_blobs(prototxt, caffemodel, inputs, tops)
        net.outputs = [Tensor(top, expected[top].shape) for top in tops]
        model = net_to_onnx(net, dynamic_batch=dynamic_batch)
        path = write_onnx(model, tmp_path / "net")
        assert_tensorrt_ready(model)
        assert [value.name for value in model.graph.output] == tops
        for top, got in zip(tops, run_onnx(path, inputs)):
            result = compare(top, got, expected[top])
            assert got.shape == expected[top].shape, top
            assert result.within(TOLERANCE), f"{top}: relative error {result.relative_error:.3g}"
        return model

    return matches

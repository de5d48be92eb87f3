import json

import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.report import verify

from harness import TOLERANCE, assert_converts_exactly, random_params, save_model


def batch_norm_params(sym: mx.sym.Symbol, shape, eps: float):
    """Random weights with variances of the order of eps, so a wrong eps shows in the output,
    and gammas far from 1, so ignoring fix_gamma shows too."""
    args, aux = random_params(sym, {"data": shape})
    rng = np.random.default_rng(7)
    for name, value in aux.items():
        if name.endswith("moving_var"):
            aux[name] = mx.nd.array(rng.uniform(0.2, 3.0, value.shape) * eps)
    for name, value in args.items():
        if name.endswith("gamma"):
            args[name] = mx.nd.array(rng.uniform(2.0, 4.0, value.shape))
    return args, aux


def check_batch_norm(tmp_path, shape, op="BatchNorm", eps=1e-3, **attrs):
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), eps=eps, name="bn", **attrs)
    args, aux = batch_norm_params(sym, shape, eps)
    return assert_converts_exactly(sym, {"data": shape}, tmp_path, args=args, aux=aux)


@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (5, 6), (2, 6, 9), (1, 6, 3, 4, 5)])
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batch_norm(tmp_path, shape, fix_gamma):
    check_batch_norm(tmp_path, shape, fix_gamma=fix_gamma)


@pytest.mark.parametrize("eps", [1e-5, 2e-5, 1e-3, 0.1])
def test_batch_norm_eps(tmp_path, eps):
    check_batch_norm(tmp_path, (2, 4, 3, 3), eps=eps, fix_gamma=False)


def test_batch_norm_default_attributes(tmp_path):
    """eps 1e-3 and fix_gamma True when the graph does not say."""
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), name="bn")
    assert "eps" not in json.loads(sym.tojson())["nodes"][-1].get("attrs", {})
    args, aux = batch_norm_params(sym, (2, 4, 3, 3), 1e-3)
    assert_converts_exactly(sym, {"data": (2, 4, 3, 3)}, tmp_path, args=args, aux=aux)


@pytest.mark.parametrize("shape, axis", [((5, 6), -1), ((2, 6, 5, 7), -3)])
def test_batch_norm_axis_counted_from_the_end(tmp_path, shape, axis):
    check_batch_norm(tmp_path, shape, axis=axis, fix_gamma=False)


@pytest.mark.parametrize("use_global_stats", [True, False])
def test_batch_norm_uses_moving_stats_at_inference(tmp_path, use_global_stats):
    check_batch_norm(tmp_path, (2, 4, 3, 3), use_global_stats=use_global_stats, fix_gamma=False)


@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (5, 6)])
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batch_norm_v1(tmp_path, shape, fix_gamma):
    check_batch_norm(tmp_path, shape, op="BatchNorm_v1", eps=2e-5, fix_gamma=fix_gamma)


def test_batch_norm_after_convolution_keeps_shape(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=5, name="conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name="bn")
    summary = assert_converts_exactly(x, {"data": (2, 3, 9, 8)}, tmp_path)
    assert summary.outputs == {"bn": (2, 5, 7, 6)}


def legacy_symbol_json(document: dict) -> dict:
    """The JSON as MXNet < 0.9 wrote it: auxiliary states are not nodes, op attributes sit
    under 'param', entries are [node, index] and there is no version."""
    aux_nodes = {
        i for i, node in enumerate(document["nodes"]) if node["name"].endswith(("_moving_mean", "_moving_var"))
    }
    new_id = {}
    nodes = []
    for old_id, node in enumerate(document["nodes"]):
        if old_id in aux_nodes:
            continue
        new_id[old_id] = len(nodes)
        inputs = [[new_id[ref[0]], ref[1]] for ref in node["inputs"] if ref[0] not in aux_nodes]
        nodes.append({"op": node["op"], "name": node["name"], "param": node.get("attrs", {}), "inputs": inputs})
    return {
        "nodes": nodes,
        "arg_nodes": [i for i, node in enumerate(nodes) if node["op"] == "null"],
        "heads": [[new_id[ref[0]], ref[1]] for ref in document["heads"]],
    }


@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batch_norm_saved_before_mxnet_0_9(tmp_path, fix_gamma):
    """Three inputs; MXNet names the statistics NODE_moving_mean / NODE_moving_var on loading."""
    shape = (2, 4, 5, 5)
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), fix_gamma=fix_gamma, eps=2e-5, name="bn")
    sym = mx.sym.Activation(sym, act_type="relu", name="relu")
    args, aux = batch_norm_params(sym, shape, 2e-5)
    symbol_path, params_path = save_model(sym, args, aux, tmp_path)
    legacy = legacy_symbol_json(json.loads(symbol_path.read_text()))
    assert [len(node["inputs"]) for node in legacy["nodes"] if node["op"] == "BatchNorm"] == [3]
    symbol_path.write_text(json.dumps(legacy))
    assert mx.sym.load(str(symbol_path)).list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]

    summary = mxnet2caffe.convert(symbol_path, params_path, {"data": shape}, tmp_path / "converted")
    for backend in BACKENDS:
        report = verify(symbol_path, params_path, summary.prototxt, summary.caffemodel, backend, TOLERANCE)
        assert [(row.comparison.name, row.comparison.shape) for row in report.outputs] == [("relu", shape)]
        assert report.ok, report.format()


def test_legacy_batch_norm_without_stats_in_params(tmp_path):
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), name="bn")
    args, _ = random_params(sym, {"data": (1, 3, 2, 2)})
    symbol_path, params_path = save_model(sym, args, {}, tmp_path)
    symbol_path.write_text(json.dumps(legacy_symbol_json(json.loads(symbol_path.read_text()))))
    with pytest.raises(mxnet2caffe.NodeError, match="'bn_moving_mean' is missing from the params file"):
        mxnet2caffe.convert(symbol_path, params_path, {"data": (1, 3, 2, 2)})


@pytest.mark.parametrize(
    "op, shape, attrs, message",
    [
        ("BatchNorm", (2, 3, 4, 5), {"output_mean_var": True}, "output_mean_var"),
        ("BatchNorm", (2, 3, 4, 5), {"axis": 3}, "axis=3"),
        ("BatchNorm", (2, 3, 4, 5), {"axis": -1}, "axis=-1"),
        ("BatchNorm_v1", (2, 3, 5), {}, "2-d or 4-d"),
    ],
)
def test_batch_norm_rejects(tmp_path, op, shape, attrs, message):
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), name="bn", **attrs)
    args, aux = random_params(sym, {"data": shape})
    symbol_path, params_path = save_model(sym, args, aux, tmp_path)
    with pytest.raises(mxnet2caffe.NodeError, match=message):
        mxnet2caffe.convert(symbol_path, params_path, {"data": shape})

"""Whole gluon model zoo networks converted with --fuse-bn: every BatchNorm folded into the
Convolution before it, and every output within 1e-4 (relative max error) of MXNet in real Caffe
and real OpenCV DNN. Weights and non-trivial BatchNorm statistics come from the harness."""

import json

import pytest
from test_gluon_zoo import export_symbol

from mxnet2caffe import ConvertOptions

from harness import assert_converts_exactly, layer_types

# name, BatchNorm nodes in the exported symbol (each one follows a Convolution)
MODELS = [("resnet50_v1", 53), ("mobilenetv2_1.0", 53)]


@pytest.mark.slow
@pytest.mark.parametrize("name, batch_norms", MODELS, ids=[name for name, _ in MODELS])
def test_gluon_model_with_every_batch_norm_fused(tmp_path, name, batch_norms):
    sym = export_symbol(name, 224, tmp_path)
    assert [node["op"] for node in json.loads(sym.tojson())["nodes"]].count("BatchNorm") == batch_norms
    summary = assert_converts_exactly(sym, {"data": (1, 3, 224, 224)}, tmp_path, options=ConvertOptions(fuse_bn=True))
    types = layer_types(summary)
    assert "BatchNorm" not in types and "Scale" not in types
    assert f"fused {batch_norms} BatchNorm layer(s) into the Convolution before them" in summary.notes
    assert list(summary.outputs.values()) == [(1, 1000)]

"""The bundled example the README runs: an insightface-style SE-ResNet on 1x1x108x108."""

from pathlib import Path

import numpy as np

import mxnet2caffe
from mxnet2caffe.verify.outputs import random_inputs, verify_outputs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "se_resnet" / "se_resnet"


def test_bundled_example_matches_mxnet(tmp_path):
    symbol, params = f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params"
    summary = mxnet2caffe.convert(symbol, params, {"data": (1, 1, 108, 108)}, tmp_path / "se_resnet")
    assert summary.outputs == {"fc1": (1, 64)}
    rows = verify_outputs(
        symbol, params, summary.prototxt, summary.caffemodel,
        random_inputs(summary.inputs), list(summary.outputs),
    )
    assert [row.name for row in rows] == ["fc1"]
    assert rows[0].relative_error <= 1e-4 and rows[0].cosine > 0.99999
    assert np.isfinite(rows[0].max_abs_error)

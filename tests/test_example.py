"""The bundled example the README runs: an insightface-style SE-ResNet on 1x1x108x108,
converted in the stock form and with native MXBroadcastMul layers for its SE blocks."""

import pytest

import mxnet2caffe
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.report import verify

from harness import EXAMPLE, assert_opencv_lists_only_the_outputs, layer_types

SE_BLOCKS = 8


@pytest.mark.parametrize("form", ["stock", "native"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_bundled_example_matches_mxnet_layer_by_layer(tmp_path, backend, form):
    symbol, params = f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params"
    options = mxnet2caffe.ConvertOptions(forms={"broadcast_mul": form})
    summary = mxnet2caffe.convert(symbol, params, {"data": (1, 1, 108, 108)}, tmp_path / "se_resnet", options)
    assert summary.outputs == {"fc1": (1, 64)}
    assert_opencv_lists_only_the_outputs(summary)
    types = layer_types(summary)
    assert types.count("MXBroadcastMul") == (SE_BLOCKS if form == "native" else 0)
    report = verify(symbol, params, summary.prototxt, summary.caffemodel, backend)
    assert report.ok, report.format()
    assert [row.comparison.name for row in report.outputs] == ["fc1"]
    assert report.outputs[0].comparison.cosine > 0.99999
    # every op output is compared: the Dropout identity's with its input's blob
    assert len(report.rows) == 119

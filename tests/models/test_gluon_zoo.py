"""Whole networks of mxnet.gluon.model_zoo.vision: export, convert, compare every output."""

import mxnet as mx
import pytest
from mxnet.gluon.model_zoo import vision

from harness import assert_converts_exactly

MODELS = [
    ("resnet18_v1", 224),
    ("resnet18_v2", 224),
    ("resnet34_v1", 224),
    ("resnet50_v1", 224),
    ("resnet50_v2", 224),
    ("mobilenet0.25", 224),
    ("mobilenetv2_0.25", 224),
    ("mobilenet1.0", 224),
    ("mobilenetv2_1.0", 224),
    ("squeezenet1.0", 224),
    ("squeezenet1.1", 224),
    ("densenet121", 224),
    ("vgg11", 224),
    ("vgg11_bn", 224),
    ("alexnet", 224),
    ("inceptionv3", 299),
]


def export_symbol(name, size, directory):
    """The symbol gluon's export() writes; weights come from the harness, BN stats included."""
    net = vision.get_model(name, pretrained=False)
    net.initialize()
    net.hybridize()
    net(mx.nd.zeros((1, 3, size, size)))
    net.export(str(directory / name))
    return mx.sym.load(str(directory / f"{name}-symbol.json"))


@pytest.mark.slow
@pytest.mark.parametrize("name, size", MODELS, ids=[name for name, _ in MODELS])
def test_gluon_vision_model(tmp_path, name, size):
    sym = export_symbol(name, size, tmp_path)
    summary = assert_converts_exactly(sym, {"data": (1, 3, size, size)}, tmp_path)
    assert list(summary.outputs.values()) == [(1, 1000)]

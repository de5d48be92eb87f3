"""Net pass: (being written)."""

from __future__ import annotations

from ..caffe.net import Net
from ..options import ConvertOptions


def run(net: Net, options: ConvertOptions) -> Net:
    return net

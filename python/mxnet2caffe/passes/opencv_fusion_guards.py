"""Net pass: keeps OpenCV DNN from fusing a BatchNorm into the layer before it where its fusion
computes wrong numbers (cv2 4.11; Caffe runs both forms exactly):

- after a Deconvolution with groups (UpSampling's nearest and bilinear forms are such): its
  fusion treats the weights as ungrouped (relative error 0.2 to 0.6 measured);
- after an InnerProduct whose axis is not 1 (FullyConnected flatten=False on 3-d input): it
  scales the wrong axis.

A Reshape that keeps the shape (dims 0: copy) between the two stops the fusion and costs nothing.
--fuse-bn folds such BatchNorms into the layer itself first, where it can.
"""

from __future__ import annotations

from typing import List

from ..caffe.net import Layer, Net
from ..naming import helper_name
from ..options import ConvertOptions


def _misfused_by_opencv(layer: Layer) -> bool:
    if layer.type == "Deconvolution":
        return int(layer.params.get("convolution_param", {}).get("group", 1)) > 1
    if layer.type == "InnerProduct":
        return int(layer.params.get("inner_product_param", {}).get("axis", 1)) != 1
    return False


def run(net: Net, options: ConvertOptions) -> Net:
    del options  # every profile includes OpenCV
    guarded: List[str] = []
    for layer in list(net.layers):
        if not _misfused_by_opencv(layer):
            continue
        top = layer.tops[0]
        readers = [reader for reader in net.consumers(top) if reader.type == "BatchNorm"]
        if not readers:
            continue
        kept = net.fresh_name(helper_name(top, "unfused"))
        rank = len(net.shapes[top]) if top in net.shapes else 4
        guard = Layer(kept, "Reshape", (top,), (kept,), {"reshape_param": {"shape": {"dim": [0] * rank}}})
        net.insert(net.index(layer) + 1, [guard])
        if top in net.shapes:
            net.shapes[kept] = net.shapes[top]
        net.reroute(readers, top, kept)
        guarded.append(layer.name)
    if guarded:
        net.notes.append(
            f"a shape-keeping Reshape before the BatchNorm after {', '.join(guarded)}: OpenCV would fuse them wrongly"
        )
    return net

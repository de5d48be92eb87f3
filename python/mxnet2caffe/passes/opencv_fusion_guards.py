"""Net pass: keeps OpenCV DNN from fusing a layer into the one before it where its fusion computes
wrong numbers (cv2 4.11; Caffe runs every form exactly). Each rule is a producer and the kind of
reader OpenCV folds into it wrongly:

- a BatchNorm after a Deconvolution with groups (UpSampling's forms are such): the fusion
  treats the weights as ungrouped (relative error 0.2 to 0.6 measured);
- a BatchNorm after an InnerProduct whose axis is not 1 (FullyConnected flatten=False on 3-d
  input): it scales the wrong axis;
- a Power with power 1 or a one-bottom Scale after a Power with another power: OpenCV applies the scaling
  before the power (sqrt(x) * 2 became sqrt(2 x)).

A Reshape that keeps the shape between the two stops the fusion and costs nothing: axis 0 replaced
by itself (dim 0: copy, num_axes 1), so it fits a blob of any rank.
--fuse-bn folds the BatchNorms it can into the layer itself first.
"""

from __future__ import annotations

from typing import Callable, List, Tuple

from ..caffe.net import Layer, Net
from ..naming import helper_name
from ..options import ConvertOptions

Rule = Tuple[Callable[[Layer], bool], Callable[[Layer], bool]]


def _param(layer: Layer, message: str, key: str, default: float) -> float:
    return float(layer.params.get(message, {}).get(key, default))


def _is_batch_norm(layer: Layer) -> bool:
    return layer.type == "BatchNorm"


def _power(layer: Layer) -> float:
    return _param(layer, "power_param", "power", 1.0) if layer.type == "Power" else 1.0


def _scales(layer: Layer) -> bool:
    """A one-bottom scaling (a two-bottom Scale multiplies by a blob: OpenCV leaves it alone)."""
    return len(layer.bottoms) == 1 and (layer.type == "Scale" or (layer.type == "Power" and _power(layer) == 1.0))


def _grouped_deconvolution(layer: Layer) -> bool:
    return layer.type == "Deconvolution" and _param(layer, "convolution_param", "group", 1) > 1


def _inner_product_not_on_axis_1(layer: Layer) -> bool:
    return layer.type == "InnerProduct" and _param(layer, "inner_product_param", "axis", 1) != 1


RULES: Tuple[Rule, ...] = (
    (_grouped_deconvolution, _is_batch_norm),
    (_inner_product_not_on_axis_1, _is_batch_norm),
    (lambda layer: _power(layer) != 1.0, _scales),
)


def _guard(net: Net, layer: Layer, readers: List[Layer]) -> None:
    top = layer.tops[0]
    kept = net.fresh_name(helper_name(top, "unfused"))
    guard = Layer(kept, "Reshape", (top,), (kept,), {"reshape_param": {"shape": {"dim": [0]}, "num_axes": 1}})
    net.insert(net.index(layer) + 1, [guard])
    if top in net.shapes:
        net.shapes[kept] = net.shapes[top]
    net.reroute(readers, top, kept)


def run(net: Net, options: ConvertOptions) -> Net:
    del options  # every profile includes OpenCV
    guarded: List[str] = []
    for layer in list(net.layers):
        for misfused_producer, misfused_reader in RULES:
            if not misfused_producer(layer):
                continue
            readers = [reader for reader in net.consumers(layer.tops[0]) if misfused_reader(reader)]
            if readers:
                _guard(net, layer, readers)
                guarded.append(layer.name)
    if guarded:
        listed = ", ".join(guarded[:10]) + (f" and {len(guarded) - 10} more" if len(guarded) > 10 else "")
        net.notes.append(f"a shape-keeping Reshape after {listed}: OpenCV would fuse the next layer into it wrongly")
    return net

"""Net pass: gives MXNet's rounded-down pooling (a Pooling layer with `ceil_mode: false`, as the
pooling converter emits it where Caffe's own size would be larger) the form of the profile.

- portable (default): Caffe rounds up, and rounding up only adds trailing windows, so MXNet's
  result is the leading part of Caffe's. A Crop cuts it out; its second bottom, the reference
  for the size, is a max pooling of Caffe's result with a 2-wide window and stride 1 along each
  axis to shorten (one element shorter, cheap). Every blob is consumed, so OpenCV lists no
  extra output (a Slice would leave a part to a Silence layer, which OpenCV lists).
- opencv: the Pooling layer keeps `ceil_mode: false`, which OpenCV DNN and the SSD-family forks
  read; one layer.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..caffe.forms import crop, size_reference
from ..caffe.net import Layer, Net
from ..caffe.profiles import OPENCV
from ..caffe.sizes import pooling_output_size
from ..naming import helper_name
from ..options import ConvertOptions


def _rounds_down(layer: Layer) -> bool:
    return layer.type == "Pooling" and layer.params.get("pooling_param", {}).get("ceil_mode") is False


def _sizes(param: Dict[str, Any], size: int, axis: str) -> Tuple[int, int]:
    """(Caffe's rounded-up size, MXNet's rounded-down size) along one axis."""
    kernel, stride, pad = param[f"kernel_{axis}"], param[f"stride_{axis}"], param[f"pad_{axis}"]
    return pooling_output_size(size, kernel, stride, pad), (size + 2 * pad - kernel) // stride + 1


def _crop_form(net: Net, layer: Layer) -> List[Layer]:
    (bottom,), (top,) = layer.bottoms, layer.tops
    param = {key: value for key, value in layer.params["pooling_param"].items() if key != "ceil_mode"}
    n, c, height, width = net.shapes[bottom]
    (ceil_h, floor_h), (ceil_w, floor_w) = _sizes(param, height, "h"), _sizes(param, width, "w")
    rounded = net.fresh_name(helper_name(top, "ceil"))
    net.shapes[rounded] = (n, c, ceil_h, ceil_w)
    reference = net.fresh_name(helper_name(top, "floor_size"))
    net.shapes[reference] = (n, c, floor_h, floor_w)
    net.shapes[top] = (n, c, floor_h, floor_w)
    return [
        Layer(rounded, "Pooling", (bottom,), (rounded,), {"pooling_param": param}),
        size_reference(reference, rounded, (ceil_h - floor_h, ceil_w - floor_w)),
        crop(top, rounded, reference),  # named after its top, as the Pooling it replaces was
    ]


def run(net: Net, options: ConvertOptions) -> Net:
    layers = [layer for layer in net.layers if _rounds_down(layer)]
    if not layers:
        return net
    if options.profile == OPENCV:
        net.notes.append(f"{len(layers)} Pooling layer(s) round down with ceil_mode: false (profile {OPENCV})")
        return net
    for layer in layers:
        net.replace([layer], _crop_form(net, layer))
    net.notes.append(f"{len(layers)} Pooling layer(s) cut to MXNet's rounded-down size with Crop")
    return net

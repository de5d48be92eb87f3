"""What a converted model carries besides Caffe's own fields, for `verify`: comment lines at the
top of the prototxt (Caffe's and OpenCV's parsers skip comments), one JSON value per line.

- the NameMap: which blob holds which MXNet output (and which Caffe input is which MXNet input),
  kept right by every pass, so a renamed, cut or fused model is compared layer by layer;
- the input transforms: a model converted with --mean/--std/--swap-rgb takes raw pixels, and
  MXNet must be fed what they become.

A prototxt without these lines (written by hand or by another tool) reads as `names` None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..naming import NameMap
from .net import InputTransform, Net

HEADER = "# mxnet2caffe: the lines below say which blob holds which MXNet output (mxnet2caffe verify reads them)"
_MAP = "# mxnet2caffe-map: "
_INPUT = "# mxnet2caffe-input: "


@dataclass(frozen=True)
class Annotations:
    names: Optional[NameMap]
    inputs: Dict[str, InputTransform] = field(default_factory=dict)  # Caffe input blob -> transform


def header_lines(net: Net) -> List[str]:
    lines = [HEADER]
    for blob, transform in net.input_transforms.items():
        record = {
            "mean": list(transform.mean),
            "std": list(transform.std),
            "swap_rgb": transform.swap_rgb,
            "axes": None if transform.axes is None else list(transform.axes),
        }
        lines.append(_INPUT + json.dumps({"blob": blob, **record}))
    lines += [_MAP + json.dumps([key, blob]) for key, blob in net.names.items()]
    return lines


def read_annotations(text: str) -> Annotations:
    if HEADER not in text:
        return Annotations(names=None)
    entries = []
    inputs = {}
    for line in text.splitlines():
        if line.startswith(_MAP):
            key, blob = json.loads(line[len(_MAP):])
            entries.append((str(key), str(blob)))
        elif line.startswith(_INPUT):
            record = json.loads(line[len(_INPUT):])
            mean = tuple(float(v) for v in record["mean"])
            std = tuple(float(v) for v in record["std"])
            axes = None if record.get("axes") is None else tuple(int(v) for v in record["axes"])
            inputs[str(record["blob"])] = InputTransform(mean, std, bool(record["swap_rgb"]), axes)
    return Annotations(NameMap(entries), inputs)

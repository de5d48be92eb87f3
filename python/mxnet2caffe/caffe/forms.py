"""Stock layer forms that more than one converter or pass emits.

Cutting a blob down (MXNet's rounded-down pooling, asymmetric padding, slicing a spatial range)
is a Crop: a two-bottom layer that cuts bottom 0 to the shape of bottom 1 from `axis` on, starting
at `offset`. The reference need only have the right shape, so it is made as cheaply as possible
from the blob itself, and every blob stays consumed (OpenCV lists unconsumed blobs as outputs).
"""

from __future__ import annotations

from typing import Sequence, Tuple

from .net import Layer


def size_reference(name: str, bottom: str, shrink: Tuple[int, int]) -> Layer:
    """A blob `shrink` (rows, columns) smaller than `bottom`: a MAX Pooling with a window one
    wider than each shrink, stride 1, so every output row/column is one comparison per window."""
    params = {"pool": "MAX", "kernel_h": shrink[0] + 1, "kernel_w": shrink[1] + 1, "stride_h": 1, "stride_w": 1}
    return Layer(name, "Pooling", (bottom,), (name,), {"pooling_param": params})


def crop(name: str, bottom: str, reference: str, axis: int = 2, offsets: Sequence[int] = (0,)) -> Layer:
    """`bottom` cut to `reference`'s shape from `axis` on, starting at `offsets` (one value: all axes)."""
    return Layer(name, "Crop", (bottom, reference), (name,), {"crop_param": {"axis": axis, "offset": list(offsets)}})

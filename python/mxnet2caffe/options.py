"""The choices a user makes about a conversion: which outputs, which passes, which forms.

Forms: ops that have both a stock and a native Caffe form. Stock forms use only layers every
Caffe has; native forms use mxnet2caffe's own C++ layers (caffe_layers/), which are one layer
instead of several but need the plugin loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from .caffe.native_layers import SWITCHES
from .caffe.profiles import DEFAULT_PROFILE, PROFILES
from .errors import ConversionError

# Caffe's Blob refuses more than INT_MAX elements ("blob size exceeds INT_MAX")
MAX_BLOB_ELEMENTS = 2**31 - 1
# BlobShape dims are int64: no blob may have more elements than that
_INT64_MAX = 2**63 - 1

STOCK = "stock"
NATIVE = "native"

@dataclass(frozen=True)
class ConvertOptions:
    """What to convert and how.

    - `forms` maps a switch of SWITCHES (caffe/native_layers.py) to 'stock' or 'native'; switches
      not named stay stock.
    - `outputs`: node or MXNet output names that become the net's outputs, in this order
      (default: the symbol's heads).
    - `fuse_bn`: fold BatchNorm (+Scale) into the Convolution/InnerProduct/Deconvolution before it.
    - `mean`, `std`, `swap_rgb`: the Caffe model takes raw pixels; it computes what the MXNet
      model is fed, (x[channel order swapped] - mean) / std, per channel in the MXNet model's
      channel order (one value stands for every channel).
    - `profile`: the runtime family the output targets (caffe/profiles.py).
    - `max_blob_elements`: the most elements one blob (an input, a layer's output, a weight) may
      have; larger ones are refused before anything is allocated or written. The default is
      Caffe's own limit (Blob counts are int: it aborts beyond INT_MAX).
    """

    forms: Mapping[str, str] = field(default_factory=dict)
    outputs: Tuple[str, ...] = ()
    fuse_bn: bool = False
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    swap_rgb: bool = False
    profile: str = DEFAULT_PROFILE
    max_blob_elements: int = MAX_BLOB_ELEMENTS

    def __post_init__(self) -> None:
        for switch, form in self.forms.items():
            if switch not in SWITCHES:
                raise ConversionError(f"unknown option {switch!r}; options: {', '.join(SWITCHES)}")
            if form not in (STOCK, NATIVE):
                raise ConversionError(f"option {switch!r} is 'stock' or 'native', not {form!r}")
        if self.profile not in PROFILES:
            raise ConversionError(f"unknown profile {self.profile!r}; profiles: {', '.join(PROFILES)}")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and (not values or not all(math.isfinite(v) for v in values)):
                raise ConversionError(f"--{name} needs finite numbers, got {values}")
        if not 1 <= self.max_blob_elements <= _INT64_MAX:
            raise ConversionError(f"max_blob_elements {self.max_blob_elements} must be in 1..{_INT64_MAX}")
        if self.std is not None and any(v == 0 for v in self.std):
            raise ConversionError(f"--std {self.std}: a standard deviation of 0 divides by zero")

    def native(self, switch: str) -> bool:
        return self.forms.get(switch, STOCK) == NATIVE

    @property
    def preprocessing(self) -> bool:
        return self.mean is not None or self.std is not None or self.swap_rgb

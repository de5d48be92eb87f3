"""The forms a user can choose for ops that have both a stock and a native Caffe form.

Stock forms use only layers every Caffe has; native forms use mxnet2caffe's own C++ layers
(caffe_layers/), which are one layer instead of several but need the plugin loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping

from ..errors import ConversionError

STOCK = "stock"
NATIVE = "native"

# switch name -> what it controls; each switch picks STOCK (the default) or NATIVE
SWITCHES: Dict[str, str] = {
    "broadcast_mul": "broadcast_mul that stretches one operand (SE blocks): stock Reshape + "
    "two-bottom Scale, or one native MXBroadcastMul layer",
    "broadcast_add": "broadcast_add that stretches one operand: no stock form (an error), or one "
    "native MXBroadcastAdd layer",
    "broadcast_sub": "broadcast_sub that stretches one operand: no stock form (an error), or one "
    "native MXBroadcastSub layer",
    "broadcast_div": "division of tensors (broadcast_div, elemwise_div): no exact stock form (an "
    "error), or one native MXBroadcastDiv layer",
}


@dataclass(frozen=True)
class ConvertOptions:
    """Choices a user makes about the emitted model: `forms` maps a switch of SWITCHES to
    'stock' or 'native'; switches not named stay stock."""

    forms: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for switch, form in self.forms.items():
            if switch not in SWITCHES:
                raise ConversionError(f"unknown option {switch!r}; options: {', '.join(SWITCHES)}")
            if form not in (STOCK, NATIVE):
                raise ConversionError(f"option {switch!r} is 'stock' or 'native', not {form!r}")

    def native(self, switch: str) -> bool:
        return self.forms.get(switch, STOCK) == NATIVE

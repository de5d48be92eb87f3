"""Converters, one module per op family. Importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    conv,
    elementwise,
    fully_connected,
    norm,
    pooling,
    shape,
    softmax,
)

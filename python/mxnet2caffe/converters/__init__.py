"""Converters, one module per op family. Importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    conv,
    crop,
    deconv,
    elementwise,
    fully_connected,
    norm,
    pad,
    pooling,
    reduce,
    resize,
    shape,
    slicing,
    softmax,
    tile,
    transpose,
    unary,
    upsampling,
)

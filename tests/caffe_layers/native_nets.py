"""Shapes and nets shared by the tests of the native layers."""

from typing import Sequence

# (x shape, s shape): SE blocks, per-position scales, scales shared over the batch, and more
BROADCAST_SHAPES = [
    ((2, 16, 7, 7), (2, 16, 1, 1)),
    ((1, 3, 5, 4), (1, 3, 1, 1)),
    ((2, 3, 4, 5), (2, 1, 4, 5)),
    ((2, 3, 4, 5), (1, 3, 1, 1)),
    ((2, 3, 4, 5), (1, 1, 1, 1)),
    ((2, 3, 4, 5), (2, 3, 4, 5)),
    ((2, 3, 4, 5), (1, 3, 1, 5)),
    ((2, 3, 4, 5), (2, 1, 4, 1)),
    ((3, 4), (3, 1)),
    ((2, 3, 2, 3, 2), (2, 1, 2, 1, 2)),
]


def shape_ids(shapes):
    x_shape, s_shape = shapes
    return "x".join(map(str, x_shape)) + "*" + "x".join(map(str, s_shape))


def _input_layer(name: str, shape: Sequence[int]) -> str:
    dims = " ".join(f"dim: {dim}" for dim in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def broadcast_mul_prototxt(x_shape, s_shape, extra: str = "", top: str = "y") -> str:
    """Inputs x and s and one MXBroadcastMul layer named y; `extra` goes into its definition."""
    return (
        'name: "mx_broadcast_mul"\nforce_backward: true\n'
        + _input_layer("x", x_shape)
        + _input_layer("s", s_shape)
        + f'layer {{ name: "y" type: "MXBroadcastMul" bottom: "x" bottom: "s" top: "{top}" {extra}}}\n'
    )

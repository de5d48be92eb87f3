"""Shapes, operations, inputs and nets shared by the tests of the native layers."""

from typing import Sequence, Tuple

import numpy as np
import pytest

# (x shape, s shape), s broadcasting to x: SE blocks, per-position scales, scales shared over the
# batch, and more
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

# layer type -> (numpy's operation, d(a op b)/da, d(a op b)/db)
OPERATIONS = {
    "MXBroadcastMul": (np.multiply, lambda a, b: b, lambda a, b: a),
    "MXBroadcastAdd": (np.add, lambda a, b: np.ones_like(a), lambda a, b: np.ones_like(b)),
    "MXBroadcastSub": (np.subtract, lambda a, b: np.ones_like(a), lambda a, b: -np.ones_like(b)),
    "MXBroadcastDiv": (np.divide, lambda a, b: 1 / b, lambda a, b: -a / (b * b)),
}
LAYER_TYPES = list(OPERATIONS)
# "xs": bottoms (x, s), the full-size operand first; "sx": (s, x)
ORDERS = ["xs", "sx"]


def shape_ids(shapes):
    x_shape, s_shape = shapes
    return "x".join(map(str, x_shape)) + "*" + "x".join(map(str, s_shape))


def bottom_shapes(shapes, order: str) -> Tuple[tuple, tuple]:
    x_shape, s_shape = shapes
    return (x_shape, s_shape) if order == "xs" else (s_shape, x_shape)


def random_bottoms(layer_type: str, a_shape, b_shape, seed: int = 0, dtype=np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """Standard-normal a and b; a divisor has magnitude 0.5..1.5, either sign."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=a_shape)
    if layer_type == "MXBroadcastDiv":
        b = rng.choice([-1.0, 1.0], size=b_shape) * rng.uniform(0.5, 1.5, size=b_shape)
    else:
        b = rng.normal(size=b_shape)
    return a.astype(dtype), b.astype(dtype)


def reduce_to(values, shape):
    """Sums `values` over the axes where `shape` is 1 (what broadcasting spread)."""
    axes = tuple(axis for axis, dim in enumerate(shape) if dim == 1 and values.shape[axis] != 1)
    return values.sum(axis=axes, keepdims=True)


def expected_gradients(layer_type: str, a, b, dy):
    """da and db of y = a op b for dy, in float64, each reduced to its operand's shape."""
    _, grad_a, grad_b = OPERATIONS[layer_type]
    a64, b64, dy64 = (np.asarray(value, np.float64) for value in (a, b, dy))
    return reduce_to(dy64 * grad_a(a64, b64), a.shape), reduce_to(dy64 * grad_b(a64, b64), b.shape)


def _input_layer(name: str, shape: Sequence[int]) -> str:
    dims = " ".join(f"dim: {dim}" for dim in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


def broadcast_prototxt(a_shape, b_shape, layer_type: str = "MXBroadcastMul", top: str = "y") -> str:
    """Inputs a and b and one layer of `layer_type` named y computing a op b."""
    return (
        'name: "mx_broadcast"\nforce_backward: true\n'
        + _input_layer("a", a_shape)
        + _input_layer("b", b_shape)
        + f'layer {{ name: "y" type: "{layer_type}" bottom: "a" bottom: "b" top: "{top}" }}\n'
    )


# every layer type, every shape pair, both operand orders
each_type = pytest.mark.parametrize("layer_type", LAYER_TYPES)
each_order = pytest.mark.parametrize("order", ORDERS)
each_shape = pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=shape_ids)

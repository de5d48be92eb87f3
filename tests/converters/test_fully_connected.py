import mxnet as mx
import pytest

from harness import assert_converts_exactly


@pytest.mark.parametrize(
    "shape, num_hidden, no_bias, flatten, out",
    [
        ((2, 7), 5, False, True, (2, 5)),
        ((2, 7), 5, True, True, (2, 5)),
        ((2, 3, 4, 5), 6, False, True, (2, 6)),  # trailing axes flattened row-major
        ((2, 3, 4, 5), 6, True, True, (2, 6)),
        ((2, 7), 5, False, False, (2, 5)),
        ((2, 3, 7), 4, False, False, (2, 3, 4)),  # applied to the last axis only
        ((2, 3, 4, 5), 3, True, False, (2, 3, 4, 3)),
    ],
)
def test_fully_connected(tmp_path, shape, num_hidden, no_bias, flatten, out):
    data = mx.sym.Variable("data")
    sym = mx.sym.FullyConnected(data, num_hidden=num_hidden, no_bias=no_bias, flatten=flatten, name="fc")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert summary.outputs == {"fc": out}


def test_fully_connected_after_convolution(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    x = mx.sym.FullyConnected(x, num_hidden=10, name="fc1")
    x = mx.sym.FullyConnected(x, num_hidden=3, name="fc2")
    assert_converts_exactly(x, {"data": (2, 3, 6, 6)}, tmp_path)

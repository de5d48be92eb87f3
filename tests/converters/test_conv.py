import mxnet as mx
import pytest

from harness import assert_converts_exactly


@pytest.mark.parametrize(
    "kernel, stride, pad, dilate, groups, no_bias",
    [
        ((3, 3), (1, 1), (1, 1), (1, 1), 1, False),
        ((1, 1), (1, 1), (0, 0), (1, 1), 1, True),
        ((3, 5), (2, 1), (1, 2), (1, 1), 1, False),
        ((3, 3), (2, 2), (0, 0), (1, 1), 1, False),
        ((3, 3), (1, 1), (2, 2), (2, 2), 1, False),
        ((3, 3), (1, 1), (2, 1), (2, 1), 1, False),
        ((3, 3), (1, 1), (1, 1), (1, 1), 2, False),
        ((3, 3), (2, 2), (1, 1), (1, 1), 8, True),  # depthwise
        ((7, 7), (2, 2), (3, 3), (1, 1), 1, True),
    ],
)
def test_convolution(tmp_path, kernel, stride, pad, dilate, groups, no_bias):
    data = mx.sym.Variable("data")
    sym = mx.sym.Convolution(
        data, kernel=kernel, stride=stride, pad=pad, dilate=dilate, num_group=groups,
        num_filter=8, no_bias=no_bias, name="conv",
    )
    assert_converts_exactly(sym, {"data": (2, 8, 13, 11)}, tmp_path)


def test_convolution_chain_keeps_shapes(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, stride=(2, 2), name="c1")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=6, name="c2")
    summary = assert_converts_exactly(x, {"data": (1, 3, 17, 17)}, tmp_path)
    assert summary.outputs == {"c2": (1, 6, 8, 8)}

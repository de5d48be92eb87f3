import mxnet as mx
import pytest

from harness import assert_converts_exactly, assert_rejected


@pytest.mark.parametrize("op", [mx.sym.Flatten, mx.sym.flatten])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 6), (3, 2, 5)])
def test_flatten(tmp_path, op, shape):
    sym = op(mx.sym.Variable("data"), name="flat")
    summary = assert_converts_exactly(sym, {"data": shape}, tmp_path)
    assert summary.outputs["flat"] == (shape[0], int(mx.nd.zeros(shape[1:]).size))


@pytest.mark.parametrize(
    "shape, spec, reverse",
    [
        ((2, 3, 4, 5), (0, -1), False),
        ((2, 3, 4, 5), (-1, 4), False),
        ((2, 3, 4, 5), (0, 0, -1), False),
        ((2, 3, 4, 5), (-3, -2), False),
        ((2, 3, 4, 5), (0, -3, 5), False),
        ((2, 3, 4, 5), (-4, 1, 2, -2), False),
        ((2, 6, 4, 5), (0, -4, -1, 2, 0, 0), False),
        ((2, 3, 4, 5), (0, 0, 2, 10), False),
        ((2, 3, 4, 5), (-1, 0), True),  # 0 copies the last dim when reversed
        ((2, 3, 4, 5), (6, -1, 0), True),
        ((2, 3, 4), (-4, 2, 1, -1, 1), False),  # MXNet puts -1's value at the code's index
        ((2, 12), (0, 3, 4), False),
        ((2, 12), (0, 3, 2, 2), False),
    ],
)
def test_reshape(tmp_path, shape, spec, reverse):
    sym = mx.sym.Reshape(mx.sym.Variable("data"), shape=spec, reverse=reverse, name="reshaped")
    assert_converts_exactly(sym, {"data": shape}, tmp_path)  # also checks the shape against MXNet's


@pytest.mark.parametrize(
    "target_shape, keep_highest", [((0, 12), False), ((4, 6), False), ((9, 0), True), ((1, 4, 0), True)]
)
def test_reshape_legacy_target_shape(tmp_path, target_shape, keep_highest):
    sym = mx.sym.Reshape(mx.sym.Variable("data"), target_shape=target_shape, keep_highest=keep_highest)
    assert_converts_exactly(sym, {"data": (2, 3, 4)}, tmp_path)


def test_reshape_lower_case_alias(tmp_path):
    x = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), num_filter=6, name="conv")
    sym = mx.sym.reshape(x, shape=(0, 2, -1), name="reshaped")
    summary = assert_converts_exactly(sym, {"data": (2, 3, 4, 5)}, tmp_path)
    assert summary.outputs == {"reshaped": (2, 2, 60)}


@pytest.mark.parametrize(
    "spec, message",
    [
        ((6,), r"cannot reshape \(6, 4\) into \(6,\)"),  # MXNet itself does not check the size
        ((0, 0, 0), "past the input"),
        ((-1, -1), "only one"),
        ((-4, 5, -1, 0), "do not divide"),
    ],
)
def test_reshape_rejects(tmp_path, spec, message):
    sym = mx.sym.Reshape(mx.sym.Variable("data"), shape=spec)
    assert_rejected(sym, {"data": (6, 4)}, tmp_path, message)


def test_dropout_is_identity_at_inference(tmp_path):
    data = mx.sym.Variable("data")
    x = mx.sym.FullyConnected(data, num_hidden=6, name="fc1")
    x = mx.sym.Dropout(x, p=0.5, name="drop")
    x = mx.sym.FullyConnected(x, num_hidden=3, name="fc2")
    summary = assert_converts_exactly(x, {"data": (4, 5)}, tmp_path)
    assert "Dropout" not in summary.prototxt.read_text()


def test_dropout_always_mode_with_zero_rate_is_identity(tmp_path):
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.0, mode="always", name="drop")
    x = mx.sym.FullyConnected(sym, num_hidden=3, name="fc")
    assert_converts_exactly(x, {"data": (4, 5)}, tmp_path)


def test_dropout_always_mode_is_rejected(tmp_path):
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.3, mode="always", name="drop")
    assert_rejected(sym, {"data": (4, 5)}, tmp_path, "mode 'always'")


@pytest.mark.parametrize(
    "identity",
    [
        lambda x: mx.sym.Dropout(x, p=0.2, axes=(2, 3), name="ident"),
        lambda x: mx.sym.identity(x, name="ident"),
        lambda x: mx.sym.BlockGrad(x, name="ident"),
        lambda x: mx.sym.stop_gradient(x, name="ident"),
    ],
)
def test_two_heads_one_an_identity(tmp_path, identity):
    """An identity head keeps its input's blob: the driver names a copy after the node."""
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    scaled = conv * 2.0
    sym = mx.sym.Group([mx.sym.Activation(scaled, act_type="relu", name="relu"), identity(scaled)])
    summary = assert_converts_exactly(sym, {"data": (2, 3, 8, 8)}, tmp_path)
    assert list(summary.outputs) == ["relu", "ident"]


@pytest.mark.parametrize("dim", [1, 0, 2, -1, -3])
def test_concat(tmp_path, dim):
    shapes = {"a": [2, 3, 4, 5], "b": [2, 3, 4, 5], "c": [2, 3, 4, 5]}
    for name in ("b", "c"):
        shapes[name][dim] += 1 if name == "b" else 2
    sym = mx.sym.Concat(*[mx.sym.Variable(n) for n in shapes], dim=dim, name="cat")
    assert_converts_exactly(sym, {k: tuple(v) for k, v in shapes.items()}, tmp_path)


def test_concat_alias_with_default_dim_in_a_network(tmp_path):
    data = mx.sym.Variable("data")
    left = mx.sym.Convolution(data, kernel=(1, 1), num_filter=3, name="left")
    right = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=5, name="right")
    sym = mx.sym.concat(left, right, name="cat")
    summary = assert_converts_exactly(sym, {"data": (2, 4, 6, 6)}, tmp_path)
    assert summary.outputs == {"cat": (2, 8, 6, 6)}

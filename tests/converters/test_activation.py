import mxnet as mx
import numpy as np
import pytest

import mxnet2caffe

from harness import assert_converts_exactly, save_model

SHAPE = (2, 3, 4, 5)
# 4: the curved region of every function; 100: saturation, softrelu far past its
# x > 20 cut-over and exp(x) beyond float32's range
LIMITS = [4.0, 100.0]


def spread_inputs(limit: float, shape=SHAPE) -> dict:
    """Evenly spaced values over [-limit, limit], shuffled so every channel sees both signs."""
    values = np.linspace(-limit, limit, int(np.prod(shape)), dtype=np.float32)
    return {"data": np.random.default_rng(0).permutation(values).reshape(shape)}


def convert_and_check(sym: mx.sym.Symbol, tmp_path, limit: float, shape=SHAPE, args=None) -> None:
    assert_converts_exactly(
        sym, {"data": shape}, tmp_path, args=args, aux=None if args is None else {}, inputs=spread_inputs(limit, shape)
    )


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("act_type", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
def test_activation(tmp_path, act_type, limit):
    sym = mx.sym.Activation(mx.sym.Variable("data"), act_type=act_type, name="act")
    convert_and_check(sym, tmp_path, limit)


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("op", ["relu", "sigmoid", "tanh", "softsign"])
def test_standalone_activation_op(tmp_path, op, limit):
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), name="act")
    convert_and_check(sym, tmp_path, limit)


def test_activation_on_2d_input(tmp_path):
    sym = mx.sym.Activation(mx.sym.Variable("data"), act_type="softrelu", name="act")
    convert_and_check(sym, tmp_path, 30.0, shape=(4, 7))


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize(
    "attrs",
    [
        {"act_type": "leaky"},  # slope 0.25 by default
        {"act_type": "leaky", "slope": 0.01},
        {"act_type": "leaky", "slope": -0.7},
        {"act_type": "rrelu"},  # inference slope (0.125 + 0.334) / 2
        {"act_type": "rrelu", "lower_bound": 0.05, "upper_bound": 0.6},
        {"act_type": "elu"},  # alpha = slope = 0.25 by default
        {"act_type": "elu", "slope": 1.0},
        {"act_type": "elu", "slope": 1.7},
        {"act_type": "selu"},
    ],
    ids=lambda attrs: "-".join(str(v) for v in attrs.values()),
)
def test_leaky_relu(tmp_path, attrs, limit):
    # [0]: rrelu also outputs its random mask, which inference leaves unwritten
    sym = mx.sym.LeakyReLU(mx.sym.Variable("data"), name="act", **attrs)[0]
    convert_and_check(sym, tmp_path, limit)


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize(
    "shape, gamma",
    [
        (SHAPE, [0.1, -0.5, 2.0]),  # a slope per channel
        (SHAPE, [0.3]),  # one shared slope
        ((4, 3), [0.1, -0.5, 2.0]),
        ((4, 3), [-1.5]),
        ((2, 3, 5), [0.7, 0.2, -0.1]),
    ],
)
def test_prelu(tmp_path, shape, gamma, limit):
    sym = mx.sym.LeakyReLU(mx.sym.Variable("data"), act_type="prelu", name="act")
    convert_and_check(sym, tmp_path, limit, shape=shape, args={"act_gamma": mx.nd.array(gamma)})


def test_prelu_rejects_gamma_of_another_size(tmp_path):
    sym = mx.sym.LeakyReLU(mx.sym.Variable("data"), act_type="prelu", name="act")
    symbol_path, params_path = save_model(sym, {"act_gamma": mx.nd.array([0.1, 0.2])}, {}, tmp_path)
    with pytest.raises(mxnet2caffe.NodeError, match=r"act_gamma.*\(2,\).*\(3,\) or \(1,\)"):
        mxnet2caffe.convert(symbol_path, params_path, {"data": SHAPE})


def test_gelu_is_rejected(tmp_path):
    sym = mx.sym.LeakyReLU(mx.sym.Variable("data"), act_type="gelu", name="act")
    symbol_path, params_path = save_model(sym, {}, {}, tmp_path)
    with pytest.raises(mxnet2caffe.NodeError, match="gelu.*erf"):
        mxnet2caffe.convert(symbol_path, params_path, {"data": SHAPE})

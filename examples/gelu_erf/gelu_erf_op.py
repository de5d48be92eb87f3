"""The MXNet side of the example: GELU with the exact erf, as an MXNet CustomOp written in Python
(the way many trained models carry an op MXNet lacks). Nodes of it read, in the symbol file:
    {"op": "Custom", "name": "...", "attrs": {"op_type": "gelu_erf"}, ...}

    gelu(x) = x / 2 * (1 + erf(x / sqrt(2)))

make_model.py uses it to build the model; the plugin registers it with MXNet for `verify`.
"""

import math

import numpy as np

OP_TYPE = "gelu_erf"

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: np.ndarray) -> np.ndarray:
    """The reference, in float64."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def register(mx) -> None:
    """Registers the CustomOp with MXNet (mx is the mxnet module); a second call does nothing."""
    if OP_TYPE in _registered:
        return

    class GeluErf(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            y = gelu(in_data[0].asnumpy()).astype(np.float32)
            self.assign(out_data[0], req[0], mx.nd.array(y, ctx=in_data[0].context))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            x = in_data[0].asnumpy().astype(np.float64)
            slope = 0.5 * (1.0 + _erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
            grad = (out_grad[0].asnumpy() * slope).astype(np.float32)
            self.assign(in_grad[0], req[0], mx.nd.array(grad, ctx=in_data[0].context))

    @mx.operator.register(OP_TYPE)
    class GeluErfProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=True)

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return GeluErf()

    _registered.add(OP_TYPE)


_registered: set = set()

"""Builds the example model: a small classifier whose activations are the gelu_erf CustomOp.

    conv 3x3 -> BatchNorm -> gelu_erf -> conv 3x3 /2 -> BatchNorm -> gelu_erf -> global avg pool -> FC

Weights are random but seeded, BatchNorm statistics non-trivial.

    python examples/gelu_erf/make_model.py examples/gelu_erf/model/gelu_net
"""

import sys

import gelu_erf_op
import mxnet as mx
import numpy as np

SHAPE = (1, 3, 32, 32)


def network():
    x = mx.sym.Variable("data")
    for index, (channels, stride) in enumerate([(16, 1), (32, 2)]):
        x = mx.sym.Convolution(x, num_filter=channels, kernel=(3, 3), stride=(stride, stride), pad=(1, 1),
                               name=f"conv{index}")
        x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name=f"bn{index}")
        x = mx.sym.Custom(x, op_type=gelu_erf_op.OP_TYPE, name=f"gelu{index}")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    return mx.sym.FullyConnected(x, num_hidden=10, name="fc")


def main(prefix: str) -> None:
    gelu_erf_op.register(mx)
    sym = network()
    rng = np.random.RandomState(7)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=SHAPE)
    args = {name: mx.nd.array(rng.uniform(-0.5, 0.5, shape))
            for name, shape in zip(sym.list_arguments(), arg_shapes) if name != "data"}
    aux = {name: mx.nd.array(rng.uniform(0.5, 1.5, shape) if name.endswith("var") else rng.uniform(-0.2, 0.2, shape))
           for name, shape in zip(sym.list_auxiliary_states(), aux_shapes)}
    mx.model.save_checkpoint(prefix, 0, sym, args, aux)


if __name__ == "__main__":
    main(sys.argv[1])

"""Builds the bundled example: a small insightface-style SE-ResNet for 1x1x108x108 gray faces.

ResNet-IR units (BN -> conv -> BN -> PReLU -> conv -> BN) with squeeze-and-excitation
(global avg pool -> FC -> PReLU -> FC -> sigmoid -> broadcast_mul), then the insightface
embedding head (BN -> Dropout -> FC -> BN with fix_gamma). Weights are random but seeded,
BatchNorm statistics non-trivial, so conversion mistakes show in the numbers.

    python examples/make_se_resnet.py examples/se_resnet/se_resnet
"""

import sys

import mxnet as mx
import numpy as np


def bn(x, name, fix_gamma=False):
    return mx.sym.BatchNorm(x, fix_gamma=fix_gamma, eps=2e-5, momentum=0.9, name=name)


def se_unit(x, channels, stride, name, dim_match):
    body = bn(x, f"{name}_bn1")
    body = mx.sym.Convolution(body, num_filter=channels, kernel=(3, 3), pad=(1, 1), no_bias=True, name=f"{name}_conv1")
    body = bn(body, f"{name}_bn2")
    body = mx.sym.LeakyReLU(body, act_type="prelu", name=f"{name}_relu1")
    body = mx.sym.Convolution(
        body, num_filter=channels, kernel=(3, 3), stride=stride, pad=(1, 1), no_bias=True, name=f"{name}_conv2"
    )
    body = bn(body, f"{name}_bn3")
    squeeze = mx.sym.Pooling(body, global_pool=True, kernel=(7, 7), pool_type="avg", name=f"{name}_se_pool")
    squeeze = mx.sym.Convolution(squeeze, num_filter=channels // 4, kernel=(1, 1), name=f"{name}_se_conv1")
    squeeze = mx.sym.LeakyReLU(squeeze, act_type="prelu", name=f"{name}_se_relu1")
    squeeze = mx.sym.Convolution(squeeze, num_filter=channels, kernel=(1, 1), name=f"{name}_se_conv2")
    squeeze = mx.sym.Activation(squeeze, act_type="sigmoid", name=f"{name}_se_sigmoid")
    body = mx.sym.broadcast_mul(body, squeeze, name=f"{name}_se_mul")
    if dim_match:
        shortcut = x
    else:
        shortcut = mx.sym.Convolution(
            x, num_filter=channels, kernel=(1, 1), stride=stride, no_bias=True, name=f"{name}_conv1sc"
        )
        shortcut = bn(shortcut, f"{name}_sc")
    return mx.sym.elemwise_add(body, shortcut, name=f"{name}_plus")


def se_resnet(embedding=64):
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, num_filter=16, kernel=(3, 3), pad=(1, 1), no_bias=True, name="conv0")
    x = bn(x, "bn0")
    x = mx.sym.LeakyReLU(x, act_type="prelu", name="relu0")
    for stage, channels in enumerate((16, 32, 48, 64), start=1):
        x = se_unit(x, channels, (2, 2), f"stage{stage}_unit1", dim_match=False)
        x = se_unit(x, channels, (1, 1), f"stage{stage}_unit2", dim_match=True)
    x = bn(x, "bn1")
    x = mx.sym.Dropout(x, p=0.4, name="dropout0")
    x = mx.sym.FullyConnected(x, num_hidden=embedding, name="pre_fc1")
    return bn(x, "fc1", fix_gamma=True)


def main(prefix: str) -> None:
    sym = se_resnet()
    shapes = {"data": (1, 1, 108, 108)}
    rng = np.random.default_rng(2024)
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    args = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in shapes:
            continue
        if "relu" in name:  # PReLU slopes
            values = rng.uniform(0.1, 0.3, shape)
        elif name.endswith("gamma"):
            values = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("beta", "bias")):
            values = rng.normal(0, 0.2, shape)
        else:
            values = rng.normal(0, np.sqrt(2.0 / max(np.prod(shape[1:]), 1)), shape)
        args[name] = mx.nd.array(values)
    aux = {
        name: mx.nd.array(rng.uniform(0.5, 2.0, shape) if name.endswith("var") else rng.normal(0, 0.2, shape))
        for name, shape in zip(sym.list_auxiliary_states(), aux_shapes)
    }
    mx.model.save_checkpoint(prefix, 0, sym, args, aux)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/se_resnet/se_resnet")

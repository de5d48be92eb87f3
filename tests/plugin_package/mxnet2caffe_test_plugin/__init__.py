"""Converts MXNet's expm1 (exp(x) - 1) with stock Caffe layers: Exp, then Power shifting by -1.

mxnet2caffe imports it through the entry point "test_expm1" of this distribution."""

from mxnet2caffe.extend import Converted, NodeContext, Tensor, converter


@converter("expm1")
def convert_expm1(ctx: NodeContext) -> Converted:
    data = ctx.input(0)
    steps = [("exp", "Exp", {}), ("minus_one", "Power", {"power_param": {"shift": -1.0}})]
    return Converted(layers=tuple(ctx.chain(data.blob, steps)), outputs=(Tensor(ctx.output_blob(), data.shape),))

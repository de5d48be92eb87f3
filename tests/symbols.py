"""MXNet graphs with the names real files have, and their Graph IR.

MXNet's own symbol API makes names unique, but saved files repeat them (a Convolution and a
Flatten both named fc7), name nodes like our helper layers or like the input: such graphs are
built with unique names and renamed in their JSON, as an edited or old file would hold them.
"""

from __future__ import annotations

import json
from typing import Mapping

import mxnet as mx

from mxnet2caffe.mxnet.graph import Graph
from mxnet2caffe.mxnet.symbol import parse_symbol


def rename_nodes(sym: mx.sym.Symbol, renames: Mapping[str, str]) -> mx.sym.Symbol:
    """`sym` with the nodes named like a key of `renames` named like its value."""
    document = json.loads(sym.tojson())
    unknown = set(renames) - {node["name"] for node in document["nodes"]}
    assert not unknown, f"no nodes named {unknown}"
    for node in document["nodes"]:
        node["name"] = renames.get(node["name"], node["name"])
    return mx.sym.load_json(json.dumps(document))


def graph_of(sym: mx.sym.Symbol) -> Graph:
    """The Graph IR the converter reads from `sym`'s JSON."""
    return parse_symbol(json.loads(sym.tojson()), "test")


def renamed_model() -> mx.sym.Symbol:
    """A small net with BatchNorm whose file repeats and reuses names as real files do:
    - a Convolution and the Flatten after it both named fc7 (a public MobileNetV2 file),
    - two Convolutions named conv (the second has weights of its own: a test can break it),
    - an Activation named bn0/normalized, the name of BatchNorm bn0's helper blob,
    - a Convolution named s_se_mul/reshape feeding broadcast_mul s_se_mul, whose helper Reshape
      has that name too,
    - a Convolution named data like the input,
    - a node name with a space and parentheses, which blob names do not take."""
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, name="data_conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="bn0_relu")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=8, name="conv_a")
    x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv_b")
    big = mx.sym.Convolution(x, kernel=(1, 1), num_filter=8, name="se_big")
    scale = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="se_pool")
    scale = mx.sym.Activation(scale, act_type="sigmoid", name="se_gate")
    x = mx.sym.broadcast_mul(big, scale, name="s_se_mul")
    x = mx.sym.Activation(x, act_type="tanh", name="odd_name")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    x = mx.sym.Convolution(x, kernel=(1, 1), num_filter=5, name="fc7_conv")
    x = mx.sym.Flatten(x, name="fc7_flatten")
    return rename_nodes(
        x,
        {
            "data_conv": "data",
            "bn0_relu": "bn0/normalized",
            "conv_a": "conv",
            "conv_b": "conv",
            "se_big": "s_se_mul/reshape",
            "odd_name": "tanh (odd)",
            "fc7_conv": "fc7",
            "fc7_flatten": "fc7",
        },
    )

"""The pipeline: read -> graph passes -> lower -> net passes (-> emit, in convert.py).

convert() runs build_net(run_graph_passes(graph)); inspect runs the graph passes alone when it
has no weights, and looks at unsupported ops in between."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .caffe.net import Net
from .lower import lower
from .mxnet.graph import Graph
from .options import ConvertOptions
from .passes import GRAPH_PASSES, NET_PASSES


def run_graph_passes(graph: Graph, options: ConvertOptions) -> Graph:
    for graph_pass in GRAPH_PASSES:
        graph = graph_pass(graph, options)
    return graph


def build_net(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    options: ConvertOptions,
    name: str,
) -> Net:
    """Lowers a graph the graph passes have run on, then runs the net passes. The Net's notes
    start with the graph's: together they say what every pass did."""
    net = lower(graph, params, input_shapes, options, name)
    net.notes[:0] = graph.notes
    for net_pass in NET_PASSES:
        net = net_pass(net, options)
    return net

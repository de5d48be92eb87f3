"""The pipeline: read -> graph passes -> lower -> net passes (-> emit, in convert.py)."""

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


def lower_and_run_net_passes(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    options: ConvertOptions,
    name: str,
) -> Net:
    """Lowers a graph the graph passes have run on; the Net's notes start with the graph's."""
    net = lower(graph, params, input_shapes, options, name)
    net.notes[:0] = graph.notes
    for net_pass in NET_PASSES:
        net = net_pass(net, options)
    return net


def build_net(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    input_shapes: Mapping[str, Sequence[int]],
    options: ConvertOptions,
    name: str,
) -> Net:
    """The Caffe Net of a graph, every pass applied. The graph is edited in place; the Net's
    notes hold what the graph passes and the net passes did."""
    return lower_and_run_net_passes(run_graph_passes(graph, options), params, input_shapes, options, name)

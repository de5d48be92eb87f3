"""The passes of the pipeline, in the order they run (GUIDE §1).

A pass is one module with one function `run(ir, options) -> ir`. Graph passes edit the MXNet
Graph before lowering; net passes edit the Caffe Net after it. Each adds a note to its IR when it
changed something, which inspect and the CLI show.
"""

from typing import Callable, Tuple

from ..caffe.net import Net
from ..mxnet.graph import Graph
from ..options import ConvertOptions
from . import (
    drop_training,
    fold_input_affine,
    fold_pad,
    fuse_batch_norm,
    insert_preprocessing,
    nchw_input,
    opencv_fusion_guards,
    pooling_rounding,
    remove_identities,
    select_outputs,
)

GraphPass = Callable[[Graph, ConvertOptions], Graph]
NetPass = Callable[[Net, ConvertOptions], Net]

GRAPH_PASSES: Tuple[GraphPass, ...] = (
    select_outputs.run,  # first: what is cut away needs no other pass
    drop_training.run,
    remove_identities.run,
    nchw_input.run,  # after identities are gone: the transpose must follow the input directly
)

NET_PASSES: Tuple[NetPass, ...] = (
    fold_pad.run,  # first: it changes the pad pooling_rounding reads
    pooling_rounding.run,
    fuse_batch_norm.run,
    opencv_fusion_guards.run,  # after fuse_batch_norm: only the BatchNorms it left
    insert_preprocessing.run,  # --mean/--std/--swap-rgb: the input layer's transform
    fold_input_affine.run,  # after it: folds that transform and in-graph normalization
)

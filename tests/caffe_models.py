"""Hand-written Caffe models for the tests of reading Caffe models back (tests/caffe/test_net_reader.py,
tests/onnx/test_caffe2onnx.py): the forms people write that our writer does not."""

import numpy as np

from mxnet2caffe.caffe.net import Layer, Net
from mxnet2caffe.caffe.writer import write_net

# net-level input with input_dim, kernel_size/pad/stride, in-place ReLU and Power layers
HAND_WRITTEN = """
name: "hand"
input: "data"
input_dim: 1
input_dim: 2
input_dim: 7
input_dim: 8
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 stride: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad_h: 1 pad_w: 0 } }
layer { name: "scale" type: "Power" bottom: "pool" top: "pool" power_param { scale: -0.5 shift: 0.25 } }
layer { name: "again" type: "Power" bottom: "pool" top: "pool" power_param { power: 2 } }
"""


def hand_written(tmp_path, text=HAND_WRITTEN):
    """The prototxt above with seeded random weights for its Convolution, as a .caffemodel of our writer."""
    rng = np.random.default_rng(11)
    blobs = (rng.normal(size=(4, 2, 3, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32))
    weights = Net("hand", layers=[Layer("conv", "Convolution", (), (), {}, blobs)])
    _, caffemodel = write_net(weights, tmp_path / "weights")
    prototxt = tmp_path / "hand.prototxt"
    prototxt.write_text(text)
    return prototxt, caffemodel

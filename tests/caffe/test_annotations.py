"""caffe/annotations.py: what a converted prototxt carries for verify, in comment lines."""

import numpy as np
from google.protobuf import text_format

from mxnet2caffe.caffe.annotations import HEADER, header_lines, read_annotations
from mxnet2caffe.caffe.net import InputTransform, Net, Tensor
from mxnet2caffe.caffe.schema import NetParameter
from mxnet2caffe.naming import NameMap


def test_input_transforms_round_trip_with_the_map():
    net = Net("n", inputs=[Tensor("data", (1, 3, 4, 4))], names=NameMap([("data", "data"), ("conv_output", "conv")]))
    net.input_transforms["data"] = InputTransform((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), True, (0, 2, 3, 1))
    text = "\n".join(header_lines(net)) + '\nname: "n"\n'
    assert text.startswith(HEADER)
    stored = read_annotations(text)
    assert stored.inputs == net.input_transforms
    assert stored.names is not None and stored.names.as_dict() == {"data": "data", "conv_output": "conv"}
    assert text_format.Parse(text, NetParameter()).name == "n"  # Caffe's parser sees comments only


def test_mxnet_input_normalizes_raw_pixels_in_the_model_channel_order():
    transform = InputTransform((10.0, 20.0, 30.0), (2.0, 4.0, 5.0), swap_rgb=True)
    raw = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    fed = transform.mxnet_input(raw)
    # the model's channel c is raw channel 2 - c
    for c, (mean, std) in enumerate(zip(transform.mean, transform.std)):
        np.testing.assert_allclose(fed[:, c], (raw[:, 2 - c] - mean) / std, rtol=1e-6)
    assert fed.dtype == np.float32


def test_without_swap_channels_keep_their_order():
    transform = InputTransform((1.0,), (0.5,), swap_rgb=False)
    raw = np.full((1, 1, 2, 2), 3.0, dtype=np.float32)
    np.testing.assert_array_equal(transform.mxnet_input(raw), np.full((1, 1, 2, 2), 4.0, dtype=np.float32))


def test_axes_lay_the_result_out_as_mxnet_takes_it():
    transform = InputTransform(axes=(0, 2, 3, 1))  # the Caffe model takes NCHW, MXNet NHWC
    raw = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(transform.mxnet_input(raw), raw.transpose(0, 2, 3, 1))

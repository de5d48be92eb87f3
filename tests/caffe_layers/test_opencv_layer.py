"""The native layers in OpenCV DNN (Python custom layers over the C++ kernel), and the verify
runtimes, which give each runtime the native layers when a prototxt uses them."""

import cv2
import numpy as np
import pytest

from mxnet2caffe.caffe_layers import register_opencv_layers
from mxnet2caffe.verify import backends

from harness import backend_forward
from native_nets import BROADCAST_SHAPES, OPERATIONS, bottom_shapes, each_order, each_shape, each_type, random_bottoms


def opencv_forward(prototxt, a, b):
    net = cv2.dnn.readNetFromCaffe(str(prototxt))
    net.setInput(a, "a")
    net.setInput(b, "b")
    return net.forward("y")


@each_order
@each_shape
@each_type
def test_opencv_matches_numpy(write_net, layer_type, shapes, order):
    register_opencv_layers()
    register_opencv_layers()  # a second call changes nothing
    a_shape, b_shape = bottom_shapes(shapes, order)
    a, b = random_bottoms(layer_type, a_shape, b_shape)
    y = opencv_forward(write_net(a_shape, b_shape, layer_type=layer_type), a, b)
    np.testing.assert_array_equal(y, OPERATIONS[layer_type][0](a, b))


def test_opencv_rejects_shapes_that_do_not_broadcast(write_net, caplog):
    register_opencv_layers()
    prototxt = write_net((2, 3, 4, 5), (2, 3, 2, 1), layer_type="MXBroadcastSub")
    with pytest.raises(cv2.error, match="getMemoryShapes"):
        opencv_forward(prototxt, np.zeros((2, 3, 4, 5), np.float32), np.zeros((2, 3, 2, 1), np.float32))
    assert (
        "MXBroadcastSub: cannot broadcast a (2,3,4,5) with b (2,3,2,1): axis 2 is 4 in a and 2 in b" in caplog.text
    )


@pytest.mark.parametrize("backend", ["caffe", "opencv"])
def test_runtimes_run_prototxts_with_native_layers(write_net, tmp_path, backend):
    a_shape, b_shape = bottom_shapes(BROADCAST_SHAPES[0], "sx")
    prototxt = write_net(a_shape, b_shape, layer_type="MXBroadcastDiv")
    caffemodel = tmp_path / "empty.caffemodel"  # no layer has weights
    caffemodel.write_bytes(b"")
    a, b = random_bottoms("MXBroadcastDiv", a_shape, b_shape, seed=1)
    assert backends.uses_native_layers(prototxt)
    (y,) = backend_forward(backend, prototxt, caffemodel, {"a": a, "b": b}, ["y"])
    np.testing.assert_array_equal(y, a / b)

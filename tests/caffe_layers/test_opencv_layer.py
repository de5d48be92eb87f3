"""MXBroadcastMul in OpenCV DNN (a Python custom layer over the C++ kernel), and the verify
runtimes, which give each runtime the native layers when a prototxt uses them."""

import cv2
import numpy as np
import pytest
from native_nets import BROADCAST_SHAPES, shape_ids

from mxnet2caffe.caffe_layers import register_opencv_layers
from mxnet2caffe.verify import runtimes

def opencv_forward(prototxt, x, s):
    net = cv2.dnn.readNetFromCaffe(str(prototxt))
    net.setInput(x, "x")
    net.setInput(s, "s")
    return net.forward("y")


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=shape_ids)
def test_opencv_matches_numpy(write_net, shapes):
    register_opencv_layers()
    register_opencv_layers()  # a second call changes nothing
    rng = np.random.default_rng(0)
    x, s = (rng.normal(size=shape).astype(np.float32) for shape in shapes)
    np.testing.assert_array_equal(opencv_forward(write_net(*shapes), x, s), x * s)


def test_opencv_rejects_shapes_that_do_not_broadcast(write_net, caplog):
    register_opencv_layers()
    prototxt = write_net((2, 3, 4, 5), (2, 3, 2, 1))
    with pytest.raises(cv2.error, match="getMemoryShapes"):
        opencv_forward(prototxt, np.zeros((2, 3, 4, 5), np.float32), np.zeros((2, 3, 2, 1), np.float32))
    assert "MXBroadcastMul: cannot broadcast s (2,3,2,1) to x (2,3,4,5): axis 2 is 2 in s and 4 in x" in caplog.text


@pytest.mark.parametrize("backend", ["caffe", "opencv"])
def test_runtimes_run_prototxts_with_native_layers(write_net, tmp_path, backend):
    x_shape, s_shape = BROADCAST_SHAPES[0]
    prototxt = write_net(x_shape, s_shape)
    caffemodel = tmp_path / "empty.caffemodel"  # no layer has weights
    caffemodel.write_bytes(b"")
    rng = np.random.default_rng(1)
    x, s = rng.normal(size=x_shape).astype(np.float32), rng.normal(size=s_shape).astype(np.float32)
    assert runtimes.uses_native_layers(prototxt)
    (y,) = runtimes.backend_forward(backend, prototxt, caffemodel, {"x": x, "s": s}, ["y"])
    np.testing.assert_array_equal(y, x * s)

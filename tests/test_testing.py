"""mxnet2caffe.testing, the helpers layer authors test with: errors measured as documented, checks
that pass on right layers and fail on wrong ones, in real Caffe and OpenCV (here with a stock
Power layer; a user layer in a fresh process: tests/caffe_layers/test_user_layers.py)."""

import numpy as np
import pytest

from mxnet2caffe import ConversionError, testing

X = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
# Caffe's Power: y = (shift + scale * x) ^ power
POWER = testing.layer("Power", {"power_param": {"power": 2.0, "scale": 0.5, "shift": 1.0}})


def power_reference(x):
    return (np.float32(1) + np.float32(0.5) * x) ** 2


def test_relative_error():
    assert testing.relative_error(np.array([1.0, 2.5]), np.array([1.0, 2.0])) == 0.25  # 0.5 / max|expected|
    assert testing.relative_error(np.array([0.0, 1e-3]), np.zeros(2)) == 1e-3  # absolute against zeros
    assert testing.relative_error(np.zeros(3), np.zeros((3, 1))) == float("inf")


def test_assert_close():
    testing.assert_close(np.array([1.0, 2.0002]), np.array([1.0, 2.0]), tolerance=1e-4)
    with pytest.raises(AssertionError, match=r"y: relative max error 0\.001 > 0\.0001; worst at \(1,\): 2\.002"):
        testing.assert_close(np.array([1.0, 2.002]), np.array([1.0, 2.0]), tolerance=1e-4, what="y")
    with pytest.raises(AssertionError, match="relative max error nan"):
        testing.assert_close(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(AssertionError, match=r"shape \(2,\), expected \(3,\)"):
        testing.assert_close(np.zeros(2), np.zeros(3))


def test_layer_and_its_net():
    tested = testing.layer("Slice", {"slice_param": {"axis": 1}}, bottoms=("a",), tops=("y", "z"))
    assert (tested.name, tested.type, tested.bottoms, tested.tops) == ("y", "Slice", ("a",), ("y", "z"))
    net = testing.layer_net(tested, {"a": (2, 4)})
    assert [(t.blob, t.shape) for t in net.inputs] == [("a", (2, 4))] and net.layers == [tested]
    with pytest.raises(ValueError, match=r"inputs \['x'\] are not the bottoms \['a'\] of layer y"):
        testing.layer_net(tested, {"x": (2, 4)})


def test_check_forward_in_caffe_and_opencv():
    testing.check_forward(POWER, {"x": X}, {"y": power_reference(X)}, tolerance=1e-6)
    wrong = power_reference(X) * np.float32(1.001)
    for runtime in testing.RUNTIMES:
        with pytest.raises(AssertionError, match=f"Power in {runtime}, top y: relative max error 0.000999 > 0.0001"):
            testing.check_forward(POWER, {"x": X}, {"y": wrong}, runtimes=[runtime])
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        testing.check_forward(POWER, {"x": X}, {"y": wrong}, runtimes=["tensorrt"])


def test_weights_reach_both_runtimes():
    """A Scale layer's learned factor, per channel, goes into the .caffemodel."""
    w = np.array([0.5, -2.0, 3.0], np.float32)
    tested = testing.layer("Scale", {"scale_param": {"axis": 1}}, blobs=[w])
    testing.check_forward(tested, {"x": X}, {"y": X * w[:, None, None]}, tolerance=0.0)


def test_every_top_in_both_runtimes():
    """OpenCV gives a layer's first top by the layer's name; the others come too."""
    tested = testing.layer("Slice", {"slice_param": {"axis": 1, "slice_point": [1]}}, tops=("y", "z"))
    for forward in (testing.caffe_forward, testing.opencv_forward):
        outputs = forward(tested, {"x": X})
        assert list(outputs) == ["y", "z"], forward.__name__
        np.testing.assert_array_equal(outputs["y"], X[:, :1], err_msg=forward.__name__)
        np.testing.assert_array_equal(outputs["z"], X[:, 1:], err_msg=forward.__name__)


def test_caffe_backward():
    dy = np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    diffs = testing.caffe_backward(POWER, {"x": X}, {"y": dy})
    expected = dy * 2 * 0.5 * (1 + 0.5 * X.astype(np.float64))
    np.testing.assert_allclose(diffs["x"], expected, rtol=1e-5, atol=1e-6)


def test_check_caffe_backward_on_a_curved_layer():
    """A cube: central differences with eps 1e-2 are off by eps^2 * f'''(x) / 6, within the default."""
    cube = testing.layer("Power", {"power_param": {"power": 3.0, "scale": 0.5, "shift": 1.0}})
    testing.check_caffe_backward(cube, {"x": X})


def test_caffe_refuses_a_type_it_lacks():
    """Caffe would abort the process: the helper says what to do instead."""
    with pytest.raises(ConversionError, match="uses layer types that Caffe lacks: NoSuchType; a plugin's layer types"):
        testing.caffe_forward(testing.layer("NoSuchType"), {"x": X})


def test_numeric_gradients():
    x = np.array([1.0, -2.0, 3.0])
    grads = testing.numeric_gradients(lambda inputs: [inputs[0] ** 2], [x], [np.ones(3)], eps=1e-6, indices=[np.array([0, 2])])
    np.testing.assert_allclose(grads[0], [2.0, 6.0], rtol=1e-9)


def product_forward(inputs):
    a, b = inputs
    return [np.sin(a) * b, a * b]


def test_check_gradients_passes_a_right_backward():
    def backward(inputs, dys):
        a, b = inputs
        return [np.cos(a) * b * dys[0] + b * dys[1], np.sin(a) * dys[0] + a * dys[1]]

    rng = np.random.default_rng(2)
    testing.check_gradients(product_forward, backward, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])


def test_check_gradients_fails_a_wrong_backward():
    def backward(inputs, dys):  # the gradient of b misses the second output's term
        a, b = inputs
        return [np.cos(a) * b * dys[0] + b * dys[1], np.sin(a) * dys[0]]

    rng = np.random.default_rng(2)
    with pytest.raises(AssertionError, match="gradient of input 1: relative max error"):
        testing.check_gradients(product_forward, backward, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])

"""The stock profile every default conversion is held to (tests/harness.py checks each
converted model against it) agrees with a real Caffe build."""

from mxnet2caffe.caffe.profiles import BVLC_MASTER_LAYER_TYPES, NOT_IN_OPENCV, STOCK_LAYER_TYPES
from mxnet2caffe.runtimes.caffe_home import import_caffe

# layers the reference build leaves out: data sources needing LMDB/LevelDB/OpenCV/Python
# at build time, and the two BVLC master layers its (older) fork predates
NOT_IN_REFERENCE_BUILD = {"Data", "ImageData", "WindowData", "Python", "Clip", "Swish"}


def test_stock_types_are_registered_in_the_reference_caffe():
    registered = set(import_caffe().layer_type_list())
    missing = (STOCK_LAYER_TYPES - NOT_IN_REFERENCE_BUILD) - registered
    assert not missing, missing


def test_fork_only_types_of_the_reference_caffe_are_not_stock():
    extra = set(import_caffe().layer_type_list()) - BVLC_MASTER_LAYER_TYPES
    assert {"ReLU6", "Upsample", "Permute"} <= extra
    assert not extra & STOCK_LAYER_TYPES


def test_stock_excludes_what_opencv_cannot_read():
    assert not NOT_IN_OPENCV & STOCK_LAYER_TYPES
    assert {"Convolution", "Pooling", "BatchNorm", "Scale", "Slice", "Silence"} <= STOCK_LAYER_TYPES

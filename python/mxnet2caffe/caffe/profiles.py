"""Which Caffe layer types a target runtime has.

Default output must load in every Caffe: BVLC Caffe master, its forks and OpenCV DNN. So
converters emit only the layer types that BVLC master registers (src/caffe/layers/*,
REGISTER_LAYER_CLASS) and that OpenCV DNN 4.x also reads; forks add more (ReLU6, Upsample,
Permute ...) that a model must not depend on.
"""

BVLC_MASTER_LAYER_TYPES = frozenset(
    """
    AbsVal Accuracy ArgMax BatchNorm BatchReindex Bias BNLL Clip Concat ContrastiveLoss
    Convolution Crop Data Deconvolution Dropout DummyData Eltwise ELU Embed EuclideanLoss Exp
    Filter Flatten HDF5Data HDF5Output HingeLoss Im2col ImageData InfogainLoss InnerProduct
    Input Log LRN LSTM LSTMUnit MemoryData MultinomialLogisticLoss MVN Parameter Pooling Power
    PReLU Python Reduction ReLU Reshape RNN Scale Sigmoid SigmoidCrossEntropyLoss Silence Slice
    Softmax SoftmaxWithLoss Split SPP Swish TanH Threshold Tile WindowData
    """.split()
)

# BVLC master types that OpenCV DNN 4.x cannot create (checked with cv2 4.11)
NOT_IN_OPENCV = frozenset(
    # compute layers (each tried in a forward pass with cv2 4.11)
    """
    Bias Clip Threshold Swish Reduction Embed Tile Parameter ArgMax Filter SPP BatchReindex Im2col RNN LSTMUnit
    """.split()
    # data sources and losses: training only
    + """
    Data DummyData HDF5Data HDF5Output ImageData MemoryData WindowData Accuracy ContrastiveLoss
    EuclideanLoss HingeLoss InfogainLoss MultinomialLogisticLoss SigmoidCrossEntropyLoss SoftmaxWithLoss
    """.split()
)

STOCK_LAYER_TYPES = BVLC_MASTER_LAYER_TYPES - NOT_IN_OPENCV

# Target profiles: what the output may rely on beyond the stock layer types.
# - portable: BVLC Caffe master, its forks and OpenCV DNN. MXNet's rounded-down pooling becomes
#   Pooling + Crop (against a small reference blob of the rounded-down size).
# - opencv: OpenCV DNN and the SSD-family Caffe forks, which read PoolingParameter field 13 as
#   `ceil_mode` (BVLC master has `round_mode` there, an enum of the opposite meaning): one
#   Pooling layer with `ceil_mode: false`.
PORTABLE = "portable"
OPENCV = "opencv"
DEFAULT_PROFILE = PORTABLE
PROFILES = {
    PORTABLE: "BVLC Caffe master, its forks and OpenCV DNN (stock layers and fields only)",
    OPENCV: "OpenCV DNN and SSD-family Caffe forks: pooling rounds down with ceil_mode: false",
}

# fields of our schema that BVLC master lacks -> the one profile that may emit them
PROFILE_ONLY_FIELDS = {("PoolingParameter", "ceil_mode"): OPENCV}

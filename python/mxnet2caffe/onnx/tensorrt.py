"""Which ONNX ops TensorRT's ONNX parser imports: the emitter's profile, as caffe/profiles.py is
the Caffe writer's.

Facts: onnx-tensorrt's docs/operators.md support matrix (default domain "ai.onnx"); every op
below is marked supported there (checked against the matrix; MeanVarianceNormalization, which is
not, is absent: MVN is emitted as ReduceMean arithmetic). Restrictions it states that the emitter
meets: Conv/ConvTranspose weights and Slice axes are initializers; pooling is 2-d. Only the ops the
emitter may use are listed; an op outside this table would reach TensorRT's plugin registry by
name and fail to load on a stock install.
"""

TENSORRT_OPS = frozenset(
    """
    Abs Add AveragePool BatchNormalization Concat Conv ConvTranspose Div Elu Exp Expand Flatten Gemm
    GlobalAveragePool GlobalMaxPool Identity LRN LeakyRelu Log Max MaxPool Mul PRelu Pow ReduceMean Relu
    Reshape Shape Sigmoid Slice Softmax Softplus Split Sqrt Sub Tanh Transpose
    """.split()
)

# opsets both TensorRT 8.6 and 10 parse, in which every op above keeps the signature we emit
# (opset 18 turns the reduce ops' axes into an input)
OPSETS = range(13, 18)
DEFAULT_OPSET = 13
# the IR version written: ONNX 1.10-1.13 (IR 8) readers take it, so TensorRT 8.6 and onnxruntime >= 1.10 do
IR_VERSION = 8

"""Facts about MXNet ops that more than one part of the pipeline needs."""

# forward(is_train=False) returns input 0 unchanged; the regression outputs' label input feeds
# only their gradient
IDENTITY_OPS = frozenset(
    {"_copy", "identity", "BlockGrad", "stop_gradient", "Dropout", "LinearRegressionOutput", "MAERegressionOutput"}
)

# ops whose input 1 is a label used by the backward pass only
LABELLED_OUTPUT_OPS = frozenset(
    {
        "SoftmaxOutput",
        "Softmax",
        "LinearRegressionOutput",
        "LogisticRegressionOutput",
        "MAERegressionOutput",
        "SVMOutput",
    }
)

# a head computed by one of these is a training loss, not an inference output
LOSS_OPS = frozenset({"MakeLoss", "make_loss"})

# MXNet's op for operators written outside MXNet (mx.operator.CustomOp in Python, or C++):
# attribute op_type names the one the node runs
CUSTOM_OP = "Custom"


def converter_key(op: str, op_type: str) -> str:
    """The name the converter registry knows an op by: the op's name, or "Custom:<op_type>"
    for a Custom node (one MXNet op name stands for every CustomOp)."""
    return f"{CUSTOM_OP}:{op_type}" if op == CUSTOM_OP else op

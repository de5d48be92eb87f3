"""Tests for mxnet2caffe.attrs.Attrs: MXNet attribute strings, parsed as MXNet parses them.

The agreement tests give the same strings to real MXNet 1.9.1's parameter parser (as
Convolution attributes) and read back what MXNet understood.
"""

import math

import mxnet as mx
import numpy as np
import pytest

from mxnet2caffe.attrs import Attrs
from mxnet2caffe.errors import NodeError


def attrs(**raw):
    return Attrs("conv1", "Convolution", raw)


# --- tuples ------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("(3, 3)", (3, 3)),
        ("(3,3)", (3, 3)),
        ("(3,)", (3,)),
        ("(3, 3,)", (3, 3)),
        ("[1, 2]", (1, 2)),
        ("[1,2,3]", (1, 2, 3)),
        ("3", (3,)),
        ("()", ()),
        ("[]", ()),
        (" ( 2 , 4 ) ", (2, 4)),
        ("(0, -1)", (0, -1)),
        ("(-2, 1, -3, -4)", (-2, 1, -3, -4)),
        ("(1L, 3L, 224L, 224L)", (1, 3, 224, 224)),  # written by Python 2
        ("(3 L, 3)", (3, 3)),
    ],
)
def test_int_tuple(text, expected):
    assert attrs(kernel=text).int_tuple("kernel") == expected


@pytest.mark.parametrize("text", ["(3, a)", "(3.5, 3)", "(3LL, 3)", "(3l, 3)", "(3, None)", "x"])
def test_int_tuple_rejects(text):
    with pytest.raises(NodeError) as info:
        attrs(kernel=text).int_tuple("kernel")
    message = str(info.value)
    assert "conv1" in message and "Convolution" in message and "'kernel'" in message
    assert repr(text) in message


def test_int_tuple_defaults():
    empty = attrs()
    assert empty.int_tuple("stride", (1, 1)) == (1, 1)
    assert empty.int_tuple("stride", [2, 3]) == (2, 3)
    assert empty.int_tuple("pad", None) == ()
    assert attrs(pad="None").int_tuple("pad", None) == ()  # optional: "None" is unset
    assert attrs(stride="(2, 2)").int_tuple("stride", (1, 1)) == (2, 2)


def mxnet_kernel(kernel_text):
    """The kernel MXNet 1.9.1 reads from `kernel_text`, seen through shape inference."""
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=kernel_text, num_filter=1, no_bias=True, name="conv")
    _, (out_shape,), _ = conv.infer_shape(data=(1, 1, 20, 30))
    return (21 - out_shape[2], 31 - out_shape[3])


@pytest.mark.parametrize(
    "text", ["(3, 2)", "(3,2)", "[3, 2]", " ( 3 , 2 ) ", "(3, 2,)", "(3L, 2L)", "[3L,2]"]
)
def test_int_tuple_agrees_with_mxnet(text):
    assert attrs(kernel=text).int_tuple("kernel") == mxnet_kernel(text)


def test_mxnet_rejects_what_int_tuple_rejects():
    with pytest.raises(mx.base.MXNetError):
        mxnet_kernel("(3LL, 2)")
    with pytest.raises(NodeError):
        attrs(kernel="(3LL, 2)").int_tuple("kernel")


# --- scalars -----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [("3", 3), ("-1", -1), (" 4", 4), ("+4", 4), ("0", 0)])
def test_int(text, expected):
    value = attrs(num_filter=text).int("num_filter")
    assert value == expected and type(value) is int


def test_int_none_and_defaults():
    # "None" is MXNet's unset optional parameter: it reads as the default of one (None), or of a
    # parameter MXNet declares optional (OPTIONAL_PARAMETERS)
    assert attrs(axis="None").int("axis", None) is None
    assert Attrs("pool", "Pooling", {"p_value": "None"}).int("p_value", 2) == 2
    assert attrs().int("axis", -1) == -1
    assert attrs().int("axis", None) is None


@pytest.mark.parametrize("getter, default", [("int", 1), ("float", 1.0), ("bool", True), ("int_tuple", (1, 1))])
def test_unset_plain_parameter_is_rejected_even_with_a_default(getter, default):
    # Convolution's num_group, no_bias, stride: plain fields, MXNet refuses "None" (tests/test_robustness.py
    # checks each such case against MXNet's own parser)
    with pytest.raises(NodeError, match=r"attribute 'x': expected .*, got 'None' \(MXNet refuses it"):
        getattr(attrs(x="None"), getter)("x", default)


@pytest.mark.parametrize("getter", ["int", "float", "bool"])
def test_required_unset_is_rejected(getter):
    # MXNet rejects "None" for a parameter that is not optional (see below), so a read
    # without a default (a required attribute) does too
    with pytest.raises(NodeError, match=r"attribute 'num_filter': expected .*, got 'None'"):
        getattr(attrs(num_filter="None"), getter)("num_filter")


def test_mxnet_rejects_unset_for_a_plain_parameter():
    data = mx.sym.Variable("data")
    with pytest.raises(mx.base.MXNetError, match="num_filter"):
        mx.sym.Convolution(data, kernel=(1, 1), num_filter="None", name="conv")


@pytest.mark.parametrize("text", ["3.0", "1e3", "4L", "three", ""])
def test_int_rejects(text):
    with pytest.raises(NodeError, match=r"node 'conv1' \(op Convolution\): attribute 'num_filter'"):
        attrs(num_filter=text).int("num_filter")


@pytest.mark.parametrize(
    "text, expected",
    [("1e-05", 1e-05), ("0.001", 0.001), ("2", 2.0), ("-0.5", -0.5), ("1E-3", 1e-3), ("0.9", 0.9)],
)
def test_float(text, expected):
    value = attrs(eps=text).float("eps")
    assert value == expected and type(value) is float  # exact: Python parses like strtod


def test_float_special_values_and_defaults():
    assert math.isinf(attrs(x="inf").float("x"))
    assert math.isnan(attrs(x="nan").float("x"))
    assert attrs(x="None").float("x", None) is None
    assert attrs().float("eps", 1e-3) == 1e-3


@pytest.mark.parametrize("text", ["abc", "1,5", ""])
def test_float_rejects(text):
    with pytest.raises(NodeError, match="attribute 'eps': expected a number"):
        attrs(eps=text).float("eps")


@pytest.mark.parametrize(
    "text, expected",
    [("True", True), ("true", True), ("TRUE", True), ("1", True),
     ("False", False), ("false", False), ("0", False), (" True ", True)],
)
def test_bool(text, expected):
    assert attrs(no_bias=text).bool("no_bias") is expected


@pytest.mark.parametrize("text", ["yes", "2", "", "None"])
def test_bool_rejects(text):
    with pytest.raises(NodeError, match="attribute 'no_bias': expected a boolean"):
        attrs(no_bias=text).bool("no_bias")


def mxnet_has_bias(no_bias_text):
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(1, 1), num_filter=1, no_bias=no_bias_text, name="conv")
    return "conv_bias" in conv.list_arguments()


@pytest.mark.parametrize("text", ["True", "true", "TRUE", "1", "False", "false", "0"])
def test_bool_agrees_with_mxnet(text):
    assert attrs(no_bias=text).bool("no_bias") is not mxnet_has_bias(text)


def test_bool_defaults():
    assert attrs().bool("no_bias", False) is False
    assert attrs().bool("no_bias", True) is True
    pooling = Attrs("pool", "Pooling", {"count_include_pad": "None"})
    assert pooling.bool("count_include_pad", True) is True  # optional in MXNet: unset means True


def test_str():
    assert attrs(act_type="relu").str("act_type") == "relu"
    assert attrs().str("layout", None) is None
    assert attrs().str("layout", "NCHW") == "NCHW"
    assert attrs(layout="None").str("layout", None) is None  # unset, as MXNet writes it
    assert attrs(act_type="None").str("act_type") == "None"  # required: the text as it is
    assert attrs(layout="None").str("layout", "NCHW") == "None"  # one of MXNet's choices, or refused by the converter


# --- required, membership, unread ---------------------------------------------

@pytest.mark.parametrize("getter", ["str", "int", "float", "bool", "int_tuple"])
def test_required_missing_names_node_and_attribute(getter):
    with pytest.raises(NodeError) as info:
        getattr(attrs(), getter)("num_filter")
    assert str(info.value) == (
        "node 'conv1' (op Convolution): attribute 'num_filter': required but missing"
    )
    assert info.value.node_name == "conv1" and info.value.op == "Convolution"


def test_values_are_strings_and_raw_is_a_copy():
    parsed = Attrs("n", "Op", {"a": 1, 2: "b"})
    assert parsed.raw == {"a": "1", "2": "b"}
    parsed.raw["a"] = "changed"
    assert parsed.raw["a"] == "1"
    assert "a" in parsed and "missing" not in parsed


def test_unread_tracks_every_access():
    parsed = attrs(kernel="(3, 3)", num_filter="8", no_bias="True", workspace="1024", layout="NCHW")
    assert parsed.unread() == parsed.raw
    parsed.int_tuple("kernel")
    parsed.int("num_filter")
    parsed.int("stride", 1)  # absent: still nothing to report
    assert parsed.unread() == {"no_bias": "True", "workspace": "1024", "layout": "NCHW"}
    parsed.bool("no_bias")
    parsed.str("workspace")
    assert parsed.unread() == {"layout": "NCHW"}
    parsed.str("layout")
    assert parsed.unread() == {}


def test_membership_test_does_not_count_as_read():
    parsed = attrs(layout="NCHW")
    assert "layout" in parsed
    assert parsed.unread() == {"layout": "NCHW"}


def test_failed_read_counts_as_read():
    # the converter has seen the attribute and reported it; it is not silently lost
    parsed = attrs(num_filter="x")
    with pytest.raises(NodeError):
        parsed.int("num_filter")
    assert parsed.unread() == {}


# --- hostile values (issue 11) -------------------------------------------------

@pytest.mark.parametrize("text", ["(", "(,)", "[", "(3", "3)", "(3,,3)", "(,3)", "", "((3))"])
def test_int_tuple_rejects_malformed_syntax(text):
    with pytest.raises(NodeError, match=r"node 'conv1' \(op Convolution\): attribute 'stride': expected a tuple"):
        attrs(stride=text).int_tuple("stride", (1, 1))


@pytest.mark.parametrize("text", ["(", "(,)", "(3,,3)", "(,3)"])
def test_mxnet_rejects_the_malformed_tuples_too(text):
    data = mx.sym.Variable("data")
    with pytest.raises(mx.base.MXNetError, match="stride"):
        mx.sym.Convolution(data, kernel=(3, 3), stride=text, num_filter=1, name="conv")


def test_empty_tuple_is_mxnets_empty_tuple():
    # MXNet 1.9.1 reads stride "[]" as no stride given (checked: 8x8 -> 6x6 with a 3x3 kernel)
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), stride="[]", num_filter=1, name="conv")
    assert conv.infer_shape(data=(1, 1, 8, 8))[1] == [(1, 1, 6, 6)]
    assert attrs(stride="[]").int_tuple("stride", (1, 1)) == ()


@pytest.mark.parametrize("text", [str(2**63), str(-(2**63) - 1), "1" * 5000])
def test_integers_beyond_int64_are_rejected_briefly(text):
    for reader, raw in (("int", text), ("int_tuple", f"({text}, 1)")):
        with pytest.raises(NodeError, match="attribute 'num_filter'") as info:
            getattr(attrs(num_filter=raw), reader)("num_filter")
        assert len(str(info.value)) < 200


def test_int64_limits_are_accepted():
    assert attrs(shape=f"({2**63 - 1}, {-(2**63)})").int_tuple("shape") == (2**63 - 1, -(2**63))
    assert attrs(axis=str(2**63 - 1)).int("axis") == 2**63 - 1


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1e-5"])
def test_float_minimum_rejects_non_finite_and_small(text):
    with pytest.raises(NodeError, match=r"attribute 'eps': expected a finite number >= 0.0, got '"):
        attrs(eps=text).float("eps", 1e-3, minimum=0.0)
    # out of double's range: refused as MXNet refuses it, before the minimum is looked at
    with pytest.raises(NodeError, match=r"attribute 'eps': expected a number, got '1e400'"):
        attrs(eps="1e400").float("eps", 1e-3, minimum=0.0)


def test_float_minimum_accepts_and_defaults():
    assert attrs(eps="0").float("eps", 1e-3, minimum=0.0) == 0.0
    assert attrs(eps="2e-5").float("eps", 1e-3, minimum=0.0) == 2e-5
    assert attrs().float("eps", 1e-3, minimum=0.0) == 1e-3


@pytest.mark.parametrize("text", ["0", "-1"])
def test_int_minimum(text):
    with pytest.raises(NodeError, match=f"attribute 'num_group': expected an integer >= 1, got '{text}'"):
        attrs(num_group=text).int("num_group", 1, minimum=1)
    assert attrs(num_group="4").int("num_group", 1, minimum=1) == 4
    assert attrs().int("num_group", 1, minimum=1) == 1


def test_long_bad_text_is_quoted_in_part():
    with pytest.raises(NodeError) as info:
        attrs(kernel="(" + "3, " * 100000 + "x)").int_tuple("kernel")
    assert "(300003 characters)" in str(info.value) and len(str(info.value)) < 200


def mxnet_scalar(text):
    """What MXNet 1.9.1 multiplies by when _mul_scalar's `scalar` (a double) is `text`; None if it refuses."""
    try:
        symbol = mx.sym._internal._mul_scalar(mx.sym.Variable("data"), scalar=text)
    except mx.base.MXNetError:
        return None
    return float(symbol.eval(data=mx.nd.ones((1,)))[0].asnumpy()[0])


@pytest.mark.parametrize("text", ["1e400", "-1e400", "1e-400", "1e-310", "4e-320", "1e39", "inf", "-Infinity",
                                  "INF", "nan", "2.5e-308", "0", "0e5", "-0.0"])
def test_float_range_agrees_with_mxnet(text):
    """Out-of-range literals (overflow, and underflow to a subnormal or 0) are refused as MXNet refuses
    them; the words inf and nan, and true zeros, are numbers."""
    expected = mxnet_scalar(text)
    if expected is None:
        with pytest.raises(NodeError, match="attribute 'scalar': expected a number"):
            attrs(scalar=text).float("scalar")
        return
    value = attrs(scalar=text).float("scalar")
    # MXNet multiplies in float32: 1e39 gives inf, 2.5e-308 gives 0
    assert float(np.float32(value)) == expected or (math.isnan(value) and math.isnan(expected))

"""Tests for mxnet2caffe.caffe.schema: our caffe.proto, built at import, is BVLC Caffe's.

BVLC_FIELDS is BVLC Caffe master's src/caffe/proto/caffe.proto, transcribed for the
messages we declare and the parameter messages converters are likely to need next.
Every field of our caffe.proto must appear in it with the same number, label, type,
default and packing, so a file we write means the same thing to every Caffe reader.
Fork-only fields (ceil_mode, round_mode, ...) are deliberately absent from the table.
"""

import struct

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import EncodeError

from mxnet2caffe.caffe import schema
from mxnet2caffe.caffe.profiles import PROFILE_ONLY_FIELDS
from mxnet2caffe.caffe.schema import BlobProto, BlobShape, LayerParameter, NetParameter

OPT, REP, REQ = "optional", "repeated", "required"


def fields(*rows):
    """(name, number, label, type, default) rows -> {name: (number, label, type, default)}."""
    return {name: (number, label, type_name, default) for name, number, label, type_name, default in rows}


def engine(number):
    return number, OPT, "enum Engine", "DEFAULT"


BVLC_FIELDS = {
    "BlobShape": fields(("dim", 1, REP, "int64", None)),
    "BlobProto": fields(
        ("shape", 7, OPT, "BlobShape", None),
        ("data", 5, REP, "float", None),
        ("diff", 6, REP, "float", None),
        ("double_data", 8, REP, "double", None),
        ("double_diff", 9, REP, "double", None),
        ("num", 1, OPT, "int32", 0),
        ("channels", 2, OPT, "int32", 0),
        ("height", 3, OPT, "int32", 0),
        ("width", 4, OPT, "int32", 0),
    ),
    "NetParameter": fields(
        ("name", 1, OPT, "string", None),
        ("input", 3, REP, "string", None),
        ("input_shape", 8, REP, "BlobShape", None),
        ("input_dim", 4, REP, "int32", None),
        ("force_backward", 5, OPT, "bool", False),
        ("state", 6, OPT, "NetState", None),
        ("debug_info", 7, OPT, "bool", False),
        ("layer", 100, REP, "LayerParameter", None),
        ("layers", 2, REP, "V1LayerParameter", None),
    ),
    "LayerParameter": fields(
        ("name", 1, OPT, "string", None),
        ("type", 2, OPT, "string", None),
        ("bottom", 3, REP, "string", None),
        ("top", 4, REP, "string", None),
        ("phase", 10, OPT, "enum Phase", None),
        ("loss_weight", 5, REP, "float", None),
        ("param", 6, REP, "ParamSpec", None),
        ("blobs", 7, REP, "BlobProto", None),
        ("propagate_down", 11, REP, "bool", None),
        ("include", 8, REP, "NetStateRule", None),
        ("exclude", 9, REP, "NetStateRule", None),
        ("transform_param", 100, OPT, "TransformationParameter", None),
        ("loss_param", 101, OPT, "LossParameter", None),
        ("accuracy_param", 102, OPT, "AccuracyParameter", None),
        ("argmax_param", 103, OPT, "ArgMaxParameter", None),
        ("batch_norm_param", 139, OPT, "BatchNormParameter", None),
        ("bias_param", 141, OPT, "BiasParameter", None),
        ("clip_param", 148, OPT, "ClipParameter", None),
        ("concat_param", 104, OPT, "ConcatParameter", None),
        ("contrastive_loss_param", 105, OPT, "ContrastiveLossParameter", None),
        ("convolution_param", 106, OPT, "ConvolutionParameter", None),
        ("crop_param", 144, OPT, "CropParameter", None),
        ("data_param", 107, OPT, "DataParameter", None),
        ("dropout_param", 108, OPT, "DropoutParameter", None),
        ("dummy_data_param", 109, OPT, "DummyDataParameter", None),
        ("eltwise_param", 110, OPT, "EltwiseParameter", None),
        ("elu_param", 140, OPT, "ELUParameter", None),
        ("embed_param", 137, OPT, "EmbedParameter", None),
        ("exp_param", 111, OPT, "ExpParameter", None),
        ("flatten_param", 135, OPT, "FlattenParameter", None),
        ("hdf5_data_param", 112, OPT, "HDF5DataParameter", None),
        ("hdf5_output_param", 113, OPT, "HDF5OutputParameter", None),
        ("hinge_loss_param", 114, OPT, "HingeLossParameter", None),
        ("image_data_param", 115, OPT, "ImageDataParameter", None),
        ("infogain_loss_param", 116, OPT, "InfogainLossParameter", None),
        ("inner_product_param", 117, OPT, "InnerProductParameter", None),
        ("input_param", 143, OPT, "InputParameter", None),
        ("log_param", 134, OPT, "LogParameter", None),
        ("lrn_param", 118, OPT, "LRNParameter", None),
        ("memory_data_param", 119, OPT, "MemoryDataParameter", None),
        ("mvn_param", 120, OPT, "MVNParameter", None),
        ("parameter_param", 145, OPT, "ParameterParameter", None),
        ("pooling_param", 121, OPT, "PoolingParameter", None),
        ("power_param", 122, OPT, "PowerParameter", None),
        ("prelu_param", 131, OPT, "PReLUParameter", None),
        ("python_param", 130, OPT, "PythonParameter", None),
        ("recurrent_param", 146, OPT, "RecurrentParameter", None),
        ("reduction_param", 136, OPT, "ReductionParameter", None),
        ("relu_param", 123, OPT, "ReLUParameter", None),
        ("reshape_param", 133, OPT, "ReshapeParameter", None),
        ("scale_param", 142, OPT, "ScaleParameter", None),
        ("sigmoid_param", 124, OPT, "SigmoidParameter", None),
        ("softmax_param", 125, OPT, "SoftmaxParameter", None),
        ("spp_param", 132, OPT, "SPPParameter", None),
        ("slice_param", 126, OPT, "SliceParameter", None),
        ("swish_param", 147, OPT, "SwishParameter", None),
        ("tanh_param", 127, OPT, "TanHParameter", None),
        ("threshold_param", 128, OPT, "ThresholdParameter", None),
        ("tile_param", 138, OPT, "TileParameter", None),
        ("window_data_param", 129, OPT, "WindowDataParameter", None),
    ),
    "ArgMaxParameter": fields(
        ("out_max_val", 1, OPT, "bool", False),
        ("top_k", 2, OPT, "uint32", 1),
        ("axis", 3, OPT, "int32", None),
    ),
    "BatchNormParameter": fields(
        ("use_global_stats", 1, OPT, "bool", None),
        ("moving_average_fraction", 2, OPT, "float", 0.999),
        ("eps", 3, OPT, "float", 1e-5),
    ),
    "BiasParameter": fields(
        ("axis", 1, OPT, "int32", 1),
        ("num_axes", 2, OPT, "int32", 1),
        ("filler", 3, OPT, "FillerParameter", None),
    ),
    "ClipParameter": fields(("min", 1, REQ, "float", None), ("max", 2, REQ, "float", None)),
    "ConcatParameter": fields(("axis", 2, OPT, "int32", 1), ("concat_dim", 1, OPT, "uint32", 1)),
    "ConvolutionParameter": {
        **fields(
            ("num_output", 1, OPT, "uint32", None),
            ("bias_term", 2, OPT, "bool", True),
            ("pad", 3, REP, "uint32", None),
            ("kernel_size", 4, REP, "uint32", None),
            ("stride", 6, REP, "uint32", None),
            ("dilation", 18, REP, "uint32", None),
            ("pad_h", 9, OPT, "uint32", 0),
            ("pad_w", 10, OPT, "uint32", 0),
            ("kernel_h", 11, OPT, "uint32", None),
            ("kernel_w", 12, OPT, "uint32", None),
            ("stride_h", 13, OPT, "uint32", None),
            ("stride_w", 14, OPT, "uint32", None),
            ("group", 5, OPT, "uint32", 1),
            ("weight_filler", 7, OPT, "FillerParameter", None),
            ("bias_filler", 8, OPT, "FillerParameter", None),
            ("axis", 16, OPT, "int32", 1),
            ("force_nd_im2col", 17, OPT, "bool", False),
        ),
        "engine": engine(15),
    },
    "CropParameter": fields(("axis", 1, OPT, "int32", 2), ("offset", 2, REP, "uint32", None)),
    "DropoutParameter": fields(("dropout_ratio", 1, OPT, "float", 0.5)),
    "EltwiseParameter": fields(
        ("operation", 1, OPT, "enum EltwiseOp", "SUM"),
        ("coeff", 2, REP, "float", None),
        ("stable_prod_grad", 3, OPT, "bool", True),
    ),
    "ELUParameter": fields(("alpha", 1, OPT, "float", 1.0)),
    "ExpParameter": fields(
        ("base", 1, OPT, "float", -1.0), ("scale", 2, OPT, "float", 1.0), ("shift", 3, OPT, "float", 0.0)
    ),
    "FlattenParameter": fields(("axis", 1, OPT, "int32", 1), ("end_axis", 2, OPT, "int32", -1)),
    "InnerProductParameter": fields(
        ("num_output", 1, OPT, "uint32", None),
        ("bias_term", 2, OPT, "bool", True),
        ("weight_filler", 3, OPT, "FillerParameter", None),
        ("bias_filler", 4, OPT, "FillerParameter", None),
        ("axis", 5, OPT, "int32", 1),
        ("transpose", 6, OPT, "bool", False),
    ),
    "InputParameter": fields(("shape", 1, REP, "BlobShape", None)),
    "LogParameter": fields(
        ("base", 1, OPT, "float", -1.0), ("scale", 2, OPT, "float", 1.0), ("shift", 3, OPT, "float", 0.0)
    ),
    "LRNParameter": {
        **fields(
            ("local_size", 1, OPT, "uint32", 5),
            ("alpha", 2, OPT, "float", 1.0),
            ("beta", 3, OPT, "float", 0.75),
            ("norm_region", 4, OPT, "enum NormRegion", "ACROSS_CHANNELS"),
            ("k", 5, OPT, "float", 1.0),
        ),
        "engine": engine(6),
    },
    "MVNParameter": fields(
        ("normalize_variance", 1, OPT, "bool", True),
        ("across_channels", 2, OPT, "bool", False),
        ("eps", 3, OPT, "float", 1e-9),
    ),
    "PoolingParameter": {
        **fields(
            ("pool", 1, OPT, "enum PoolMethod", "MAX"),
            ("pad", 4, OPT, "uint32", 0),
            ("pad_h", 9, OPT, "uint32", 0),
            ("pad_w", 10, OPT, "uint32", 0),
            ("kernel_size", 2, OPT, "uint32", None),
            ("kernel_h", 5, OPT, "uint32", None),
            ("kernel_w", 6, OPT, "uint32", None),
            ("stride", 3, OPT, "uint32", 1),
            ("stride_h", 7, OPT, "uint32", None),
            ("stride_w", 8, OPT, "uint32", None),
            ("global_pooling", 12, OPT, "bool", False),
        ),
        "engine": engine(11),
    },
    "PowerParameter": fields(
        ("power", 1, OPT, "float", 1.0), ("scale", 2, OPT, "float", 1.0), ("shift", 3, OPT, "float", 0.0)
    ),
    "PReLUParameter": fields(
        ("filler", 1, OPT, "FillerParameter", None), ("channel_shared", 2, OPT, "bool", False)
    ),
    "ReductionParameter": fields(
        ("operation", 1, OPT, "enum ReductionOp", "SUM"),
        ("axis", 2, OPT, "int32", 0),
        ("coeff", 3, OPT, "float", 1.0),
    ),
    "ReLUParameter": {**fields(("negative_slope", 1, OPT, "float", 0.0)), "engine": engine(2)},
    "ReshapeParameter": fields(
        ("shape", 1, OPT, "BlobShape", None),
        ("axis", 2, OPT, "int32", 0),
        ("num_axes", 3, OPT, "int32", -1),
    ),
    "ScaleParameter": fields(
        ("axis", 1, OPT, "int32", 1),
        ("num_axes", 2, OPT, "int32", 1),
        ("filler", 3, OPT, "FillerParameter", None),
        ("bias_term", 4, OPT, "bool", False),
        ("bias_filler", 5, OPT, "FillerParameter", None),
    ),
    "SigmoidParameter": {"engine": engine(1)},
    "SliceParameter": fields(
        ("axis", 3, OPT, "int32", 1),
        ("slice_point", 2, REP, "uint32", None),
        ("slice_dim", 1, OPT, "uint32", 1),
    ),
    "SoftmaxParameter": {**fields(("axis", 2, OPT, "int32", 1)), "engine": engine(1)},
    "SwishParameter": fields(("beta", 1, OPT, "float", 1.0)),
    "TanHParameter": {"engine": engine(1)},
    "ThresholdParameter": fields(("threshold", 1, OPT, "float", 0.0)),
    "TileParameter": fields(("axis", 1, OPT, "int32", 1), ("tiles", 2, OPT, "int32", None)),
}

# (message, field) declared [packed = true] in BVLC's caffe.proto
BVLC_PACKED = {
    ("BlobShape", "dim"), ("BlobProto", "data"), ("BlobProto", "diff"),
    ("BlobProto", "double_data"), ("BlobProto", "double_diff"),
}

ENGINE = {"DEFAULT": 0, "CAFFE": 1, "CUDNN": 2}
BVLC_ENUMS = {
    ("EltwiseParameter", "EltwiseOp"): {"PROD": 0, "SUM": 1, "MAX": 2},
    ("PoolingParameter", "PoolMethod"): {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
    ("LRNParameter", "NormRegion"): {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1},
    ("ReductionParameter", "ReductionOp"): {"SUM": 1, "ASUM": 2, "SUMSQ": 3, "MEAN": 4},
    **{(message, "Engine"): ENGINE for message in (
        "ConvolutionParameter", "LRNParameter", "PoolingParameter", "ReLUParameter",
        "SigmoidParameter", "SoftmaxParameter", "TanHParameter")},
}
BVLC_TOP_LEVEL_ENUMS = {"Phase": {"TRAIN": 0, "TEST": 1}}

_LABELS = {FieldDescriptor.LABEL_OPTIONAL: OPT, FieldDescriptor.LABEL_REPEATED: REP,
           FieldDescriptor.LABEL_REQUIRED: REQ}
_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT32: "uint32", FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
}


def ours():
    """Our messages by name, from the descriptor pool schema.py built."""
    return NetParameter.DESCRIPTOR.file.message_types_by_name


def label(field):
    if hasattr(field, "label"):  # protobuf < 7
        return _LABELS[field.label]
    return REP if field.is_repeated else REQ if field.is_required else OPT


def describe(field):
    """A field descriptor as a BVLC_FIELDS row."""
    if field.message_type is not None:
        type_name = field.message_type.name
    elif field.enum_type is not None:
        type_name = f"enum {field.enum_type.name}"
    else:
        type_name = _SCALARS[field.type]
    default = None
    if field.has_default_value:
        default = field.default_value
        if field.enum_type is not None:
            default = field.enum_type.values_by_number[default].name
        elif field.type == FieldDescriptor.TYPE_FLOAT:
            default = float(np.float32(default))
    return field.number, label(field), type_name, default


def expected_row(message, name):
    number, label, type_name, default = BVLC_FIELDS[message][name]
    if isinstance(default, float):
        default = float(np.float32(default))  # float fields hold float32 defaults
    return number, label, type_name, default


# --- our caffe.proto against BVLC's -------------------------------------------

def test_every_message_is_a_bvlc_message():
    assert set(ours()) <= set(BVLC_FIELDS)


# fields of ours that BVLC master does not have (caffe/profiles.py: PROFILE_ONLY_FIELDS)
NOT_IN_BVLC = {
    # OpenCV's and the SSD forks' bool at BVLC's round_mode number (profile "opencv" only)
    ("PoolingParameter", "ceil_mode"): (13, "optional", "bool", True),
}


def test_every_field_beyond_bvlc_belongs_to_a_profile():
    assert set(NOT_IN_BVLC) == set(PROFILE_ONLY_FIELDS)


@pytest.mark.parametrize("message", sorted(ours()))
def test_every_field_matches_bvlc(message):
    for field in ours()[message].fields:
        if (message, field.name) in NOT_IN_BVLC:
            assert describe(field) == NOT_IN_BVLC[(message, field.name)]
            continue
        assert field.name in BVLC_FIELDS[message], f"{message}.{field.name} is not in BVLC Caffe"
        assert describe(field) == expected_row(message, field.name), f"{message}.{field.name}"


@pytest.mark.parametrize("message", sorted(ours()))
def test_packed_flags_match_bvlc(message):
    for field in ours()[message].fields:
        packed = field.GetOptions().packed
        assert packed == ((message, field.name) in BVLC_PACKED), f"{message}.{field.name}"


@pytest.mark.parametrize("message", sorted(ours()))
def test_enums_match_bvlc(message):
    for enum in ours()[message].enum_types:
        values = {value.name: value.number for value in enum.values}
        assert values == BVLC_ENUMS[(message, enum.name)], f"{message}.{enum.name}"


def test_top_level_enums_match_bvlc():
    for name, enum in NetParameter.DESCRIPTOR.file.enum_types_by_name.items():
        assert {v.name: v.number for v in enum.values} == BVLC_TOP_LEVEL_ENUMS[name]


def test_layer_parameter_declares_every_param_message_we_have():
    """A parameter message nobody can reach from LayerParameter would be dead schema."""
    layer_fields = {f.message_type.name for f in LayerParameter.DESCRIPTOR.fields if f.message_type}
    params = {name for name in ours() if name.endswith("Parameter")}
    assert params - {"NetParameter", "LayerParameter"} <= layer_fields


# --- what the writer relies on, spelled out -----------------------------------

def test_field_numbers_the_writer_uses():
    assert NetParameter.DESCRIPTOR.fields_by_name["layer"].number == 100
    assert LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number == 7
    assert BlobProto.DESCRIPTOR.fields_by_name["shape"].number == 7
    assert BlobProto.DESCRIPTOR.fields_by_name["data"].number == 5
    assert BlobShape.DESCRIPTOR.fields_by_name["dim"].number == 1


def test_packed_wire_format():
    # one tag and one length for all values: what Caffe writes and what _native emits
    assert BlobShape(dim=[2, 300]).SerializeToString() == bytes([0x0A, 3, 2, 0xAC, 0x02])
    values = [1.5, -2.0]
    assert BlobProto(data=values).SerializeToString() == bytes([0x2A, 8]) + struct.pack("<2f", *values)


def test_defaults():
    layer = LayerParameter()
    assert layer.convolution_param.bias_term is True
    assert layer.convolution_param.group == 1
    assert layer.inner_product_param.bias_term is True
    assert layer.batch_norm_param.eps == np.float32(1e-5)
    assert layer.batch_norm_param.moving_average_fraction == np.float32(0.999)
    assert layer.eltwise_param.operation == 1  # SUM
    assert layer.pooling_param.pool == 0  # MAX
    assert layer.pooling_param.stride == 1
    assert layer.concat_param.axis == 1
    assert layer.softmax_param.axis == 1
    assert layer.flatten_param.end_axis == -1
    assert layer.reshape_param.num_axes == -1
    assert layer.crop_param.axis == 2
    assert layer.dropout_param.dropout_ratio == 0.5
    assert layer.exp_param.base == -1.0


def test_enum_values():
    layer = LayerParameter()
    pool = layer.pooling_param.DESCRIPTOR.enum_types_by_name["PoolMethod"]
    assert {v.name: v.number for v in pool.values} == {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}
    op = layer.eltwise_param.DESCRIPTOR.enum_types_by_name["EltwiseOp"]
    assert {v.name: v.number for v in op.values} == {"PROD": 0, "SUM": 1, "MAX": 2}
    layer.pooling_param.pool = "AVE"  # converters give enum values by name
    layer.eltwise_param.operation = "MAX"
    assert (layer.pooling_param.pool, layer.eltwise_param.operation) == (1, 2)


def test_required_fields_are_enforced():
    layer = LayerParameter(name="clip", type="Clip")
    layer.clip_param.min = 0.0
    with pytest.raises(EncodeError):
        layer.SerializeToString()
    layer.clip_param.max = 6.0
    assert LayerParameter.FromString(layer.SerializeToString()).clip_param.max == 6.0


def test_text_format_round_trip():
    text = """
    name: "net"
    layer { name: "data" type: "Input" top: "data"
            input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }
    layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
            pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
    """
    net = text_format.Parse(text, NetParameter())
    assert net.layer[1].pooling_param.pool == 1
    assert list(net.layer[0].input_param.shape[0].dim) == [1, 3, 4, 4]
    assert text_format.Parse(text_format.MessageToString(net), NetParameter()) == net


# --- the proto reader itself --------------------------------------------------

def parse(text):
    return schema._Parser(text, "caffe").parse_file()


def test_parser_resolves_enums_and_messages_in_scope():
    proto = parse(
        """
        syntax = "proto2";
        package caffe;
        enum Phase { TRAIN = 0; TEST = 1; }
        message A {
          enum Mode { X = 0; Y = 1; }
          optional Mode mode = 1 [default = Y];   // nested enum
          optional Phase phase = 2;               // file-level enum
          repeated B children = 3;                // message declared later
          optional int64 big = 4 [default = -5];
          repeated float values = 5 [packed = true];
          optional string label = 6 [default = "a b"];
        }
        message B { optional A.Mode other = 1; optional float f = 2 [default = 1e-3]; }
        """
    )
    a, b = proto.message_type
    by_name = {f.name: f for f in a.field}
    F = descriptor_pb2.FieldDescriptorProto
    assert (by_name["mode"].type, by_name["mode"].type_name) == (F.TYPE_ENUM, ".caffe.A.Mode")
    assert by_name["mode"].default_value == "Y"
    assert (by_name["phase"].type, by_name["phase"].type_name) == (F.TYPE_ENUM, ".caffe.Phase")
    assert (by_name["children"].type, by_name["children"].type_name) == (F.TYPE_MESSAGE, ".caffe.B")
    assert by_name["children"].label == F.LABEL_REPEATED
    assert by_name["big"].default_value == "-5"
    assert by_name["values"].options.packed is True
    assert by_name["label"].default_value == "a b"
    assert (b.field[0].type, b.field[0].type_name) == (F.TYPE_ENUM, ".caffe.A.Mode")
    assert b.field[1].default_value == "1e-3"


def test_parser_rejects_what_it_does_not_understand():
    with pytest.raises(ValueError, match="unexpected 'service'"):
        parse("package caffe; service S {}")
    with pytest.raises(ValueError, match="expected '='"):
        parse("package caffe; message M { optional int32 x 1; }")

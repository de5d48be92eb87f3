"""naming.py: MXNet's output names, NameMap keys for repeated names, blob names, and the NameMap
stored in prototxt comments (read back by verify, skipped by Caffe and OpenCV)."""

import mxnet as mx
import pytest
from google.protobuf import text_format

from mxnet2caffe.caffe.annotations import HEADER, header_lines, read_annotations
from mxnet2caffe.caffe.net import Net
from mxnet2caffe.caffe.schema import NetParameter
from mxnet2caffe.naming import (
    NameMap,
    fresh_name,
    helper_name,
    mxnet_output_name,
    node_blob,
    output_key,
    output_keys,
    valid_name,
)


def test_mxnet_output_names_are_what_get_internals_lists():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    split = mx.sym.SliceChannel(fc, num_outputs=2, axis=1, name="slice")
    listed = mx.sym.Group([split[0], split[1]]).get_internals().list_outputs()
    assert listed[-3:] == [mxnet_output_name("fc1", 0, 1), mxnet_output_name("slice", 0, 2), mxnet_output_name("slice", 1, 2)]
    assert listed[-3:] == ["fc1_output", "slice_output0", "slice_output1"]


def test_keys_of_repeated_outputs_count_from_the_second():
    assert output_key("fc7_output", 0) == "fc7_output"
    assert output_key("fc7_output", 1) == "fc7_output#2"
    assert output_keys(["fc7_output", "a_output", "fc7_output", "fc7_output", "a_output"]) == [
        "fc7_output",
        "a_output",
        "fc7_output#2",
        "fc7_output#3",
        "a_output#2",
    ]


def test_blob_and_helper_names():
    assert node_blob("conv0") == "conv0"
    assert node_blob("slice", 1, 3) == "slice_output1"
    assert helper_name("bn0", "normalized") == "bn0/normalized"


@pytest.mark.parametrize(
    "name, valid",
    [
        ("stage1_unit1_conv1", "stage1_unit1_conv1"),
        ("bn0/normalized", "bn0/normalized"),
        ("model:fc-1.5+x", "model:fc-1.5+x"),
        ("tanh (odd)", "tanh__odd_"),
        ('a"b,c\nd', "a_b_c_d"),
        ("", "_"),
    ],
)
def test_valid_names(name, valid):
    assert valid_name(name) == valid


def test_fresh_names_are_deterministic():
    assert fresh_name("fc7", set()) == "fc7"
    assert fresh_name("fc7", {"fc7"}) == "fc7_2"
    assert fresh_name("fc7", {"fc7", "fc7_2", "fc7_3"}) == "fc7_4"
    assert fresh_name("fc7", {"fc7", "fc7_3"}) == "fc7_2"


def test_name_map_follows_renames_and_drops():
    names = NameMap([("conv_output", "conv"), ("drop_output", "conv"), ("fc_output", "fc")])
    names.rename_blob("conv", "conv_2")
    assert names.as_dict() == {"conv_output": "conv_2", "drop_output": "conv_2", "fc_output": "fc"}
    names.drop_blob("conv_2")
    assert names.as_dict() == {"fc_output": "fc"}
    assert names.blob("fc_output") == "fc" and names.blob("conv_output") is None
    names.add("fc_output#2", "fc_2")
    assert list(names.items()) == [("fc_output", "fc"), ("fc_output#2", "fc_2")] and len(names) == 2


TRICKY = [
    ("fc7_output", "fc7"),
    ("fc7_output#2", "fc7_2"),
    ("bn0/normalized_output", "bn0/normalized_2"),
    ('say "hi", x_output', "say__hi___x"),
    ("line\nbreak_output", "line_break"),
    ("naïve_output", "na_ve"),
]


def test_name_map_round_trips_through_prototxt_comments():
    net = Net("n", names=NameMap(TRICKY))
    lines = header_lines(net)
    assert lines[0] == HEADER and all(line.startswith("#") and "\n" not in line for line in lines)
    stored = read_annotations("\n".join(lines) + '\nname: "net"\n').names
    assert stored is not None and list(stored.items()) == TRICKY


def test_protobuf_text_format_skips_the_map():
    """What Caffe's and OpenCV's parsers see: comments only."""
    header = "\n".join(header_lines(Net("n", names=NameMap(TRICKY))))
    text = header + '\nname: "net"\nlayer { name: "data" type: "Input" top: "data" }\n'
    net = text_format.Parse(text, NetParameter())
    assert net.name == "net" and [layer.name for layer in net.layer] == ["data"]


def test_a_prototxt_without_the_map_has_none():
    assert read_annotations('name: "hand written"\nlayer { name: "conv" }\n').names is None
    # a converted model whose map is empty still says it has one
    empty = read_annotations("\n".join(header_lines(Net("n"))) + '\nname: "net"\n').names
    assert empty is not None and len(empty) == 0

"""Tests for mxnet2caffe.mxnet.symbol against files written by real MXNet 1.9.1.

Older layouts are made by editing a 1.9.1 file the way older MXNet versions wrote it
(attributes under "attr" or "param", 2-element refs, no node_row_ptr); each edited file
must read as the same Graph, and real MXNet must still load it as the same symbol.
"""

import copy
import json

import mxnet as mx
import pytest

from mxnet2caffe.errors import InputFileError
from mxnet2caffe.mxnet.graph import TensorRef
from mxnet2caffe.mxnet.symbol import parse_symbol, read_symbol

MXNET_1_9_1 = 10901


# --- helpers -----------------------------------------------------------------

def classifier():
    """Conv-BN-ReLU, a two-output split, a sum, FC and SoftmaxOutput, with hidden attributes."""
    data = mx.sym.Variable("data", shape=(1, 3, 8, 8), lr_mult=2.0)
    with mx.AttrScope(ctx_group="dev1"):
        x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=4, name="conv")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name="bn")
    x = mx.sym.Activation(x, act_type="relu", name="relu")
    halves = mx.sym.split(x, num_outputs=2, axis=1, name="split")
    x = mx.sym.elemwise_add(halves[0], halves[1], name="sum")
    x = mx.sym.FullyConnected(x, num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(x, name="softmax")


def with_loss_branch():
    """The classifier's logits next to a loss branch that inference does not need."""
    logits = classifier().get_internals()["fc_output"]
    label = mx.sym.Variable("label")
    loss = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(logits - label)), name="loss")
    return mx.sym.Group([logits, loss])


def save(sym, path):
    sym.save(str(path))
    return path


def write_json(document, path):
    path.write_text(json.dumps(document, indent=2))
    return path


def summary(graph):
    """Everything a Graph holds, as plain comparable values."""
    nodes = [
        (n.id, n.name, n.op, n.attrs.raw, n.inputs, n.hidden, n.is_variable) for n in graph.nodes
    ]
    return nodes, graph.heads


def is_hidden(key):
    return key.startswith("__") and key.endswith("__")


# edits that turn a 1.9.1 file into the layout older MXNet versions wrote

def attrs_to_attr(document):
    """MXNet 0.9 - 0.11: one "attr" object."""
    for node in document["nodes"]:
        if "attrs" in node:
            node["attr"] = node.pop("attrs")
    return document


def attrs_to_param_and_attr(document):
    """Before 0.9: op parameters under "param", MXNet's own keys under "attr"."""
    for node in document["nodes"]:
        values = node.pop("attrs", {})
        node["param"] = {k: v for k, v in values.items() if not is_hidden(k)}
        hidden = {k: v for k, v in values.items() if is_hidden(k)}
        if hidden:
            node["attr"] = hidden
    return document


def legacy_user_attributes(document):
    """Before 0.9 AttrScope keys had no underscores: "ctx_group", not "__ctx_group__"."""
    for node in document["nodes"]:
        attr = node.get("attr", {})
        if "__ctx_group__" in attr:
            attr["ctx_group"] = attr.pop("__ctx_group__")
    return document


def two_element_refs(document):
    for node in document["nodes"]:
        node["inputs"] = [ref[:2] for ref in node["inputs"]]
    document["heads"] = [ref[:2] for ref in document["heads"]]
    return document


def drop_node_row_ptr(document):
    del document["node_row_ptr"]
    return document


def drop_version(document):
    del document["attrs"]
    return document


def backward_source_ids(document):
    """0.8 files carry a "backward_source_id" per node."""
    for node in document["nodes"]:
        node["backward_source_id"] = -1
    return document


def oldest(document):
    for edit in (attrs_to_param_and_attr, legacy_user_attributes, two_element_refs,
                 drop_node_row_ptr, drop_version, backward_source_ids):
        document = edit(document)
    return document


VARIANTS = {
    "attr": [attrs_to_attr],
    "param+attr": [attrs_to_param_and_attr],
    # only files without a version get MXNet's upgrade of legacy keys
    "param+legacy attr": [attrs_to_param_and_attr, legacy_user_attributes, drop_version],
    "two-element refs": [two_element_refs],
    "no node_row_ptr": [drop_node_row_ptr],
    "no version": [drop_version],
    "attr, 2-refs, no row ptr": [attrs_to_attr, two_element_refs, drop_node_row_ptr],
    "oldest": [oldest],
}


@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    return save(classifier(), tmp_path_factory.mktemp("symbol") / "net-symbol.json")


@pytest.fixture(scope="module")
def real_document(real_file):
    return json.loads(real_file.read_text())


# --- real 1.9.1 files ----------------------------------------------------------

def test_real_file_nodes_match_the_json(real_file, real_document):
    graph = read_symbol(real_file)
    assert graph.source == str(real_file)
    assert graph.mxnet_version == MXNET_1_9_1
    assert len(graph.nodes) == len(real_document["nodes"])
    for node_id, (node, entry) in enumerate(zip(graph.nodes, real_document["nodes"])):
        assert (node.id, node.name, node.op) == (node_id, entry["name"], entry["op"])
        assert {**node.attrs.raw, **node.hidden} == entry.get("attrs", {})
        assert node.inputs == tuple(TensorRef(ref[0], ref[1]) for ref in entry["inputs"])
    assert graph.heads == [TensorRef(ref[0], ref[1]) for ref in real_document["heads"]]


def test_real_file_names_and_ops_match_mxnet(real_file):
    graph = read_symbol(real_file)
    sym = mx.sym.load(str(real_file))
    ops = {n.name: n.op for n in graph.nodes}
    assert [n.name for n in graph.variables()] == sym.list_inputs()
    assert all(ops[name] == "null" for name in sym.list_inputs())
    assert [graph.node(head).name + "_output" for head in graph.heads] == sym.list_outputs()


def test_hidden_attributes_are_separated(real_file):
    nodes = {n.name: n for n in read_symbol(real_file).nodes}
    data = nodes["data"]
    assert data.is_variable
    assert data.attrs.raw == {}
    assert data.hidden == {"__shape__": "(1, 3, 8, 8)", "__lr_mult__": "2.0"}
    conv = nodes["conv"]
    assert conv.attrs.raw == {"kernel": "(3, 3)", "pad": "(1, 1)", "num_filter": "4"}
    assert conv.hidden == {"__ctx_group__": "dev1"}
    assert conv.attrs.unread() == conv.attrs.raw  # hidden keys are never reported as lost
    assert nodes["bn_moving_var"].hidden == {"__init__": '["one", {}]'}
    assert nodes["bn"].attrs.raw == {"eps": "1e-05", "fix_gamma": "False"}
    assert nodes["sum"].attrs.raw == {} and nodes["sum"].hidden == {}


def test_multi_output_refs_and_versions(real_file):
    nodes = {n.name: n for n in read_symbol(real_file).nodes}
    split_id = nodes["split"].id
    assert nodes["sum"].inputs == (TensorRef(split_id, 0), TensorRef(split_id, 1))
    # aux states are referenced with version 1 in 1.9.1 files: the version is dropped
    bn_inputs = [nodes["bn"].inputs[i].node for i in (3, 4)]
    assert bn_inputs == [nodes["bn_moving_mean"].id, nodes["bn_moving_var"].id]


def test_unicode_names(tmp_path):
    data = mx.sym.Variable("données")
    sym = mx.sym.Activation(data, act_type="relu", name="激活")
    graph = read_symbol(save(sym, tmp_path / "u-symbol.json"))
    assert [n.name for n in graph.nodes] == ["données", "激活"]


def test_accepts_str_and_pathlike(real_file):
    assert summary(read_symbol(str(real_file))) == summary(read_symbol(real_file))


# --- older layouts --------------------------------------------------------------

@pytest.mark.parametrize("edits", VARIANTS.values(), ids=VARIANTS.keys())
def test_older_layouts_read_as_the_same_graph(tmp_path, real_file, real_document, edits):
    document = copy.deepcopy(real_document)
    for edit in edits:
        document = edit(document)
    edited = write_json(document, tmp_path / "edited-symbol.json")
    assert summary(read_symbol(edited)) == summary(read_symbol(real_file))


@pytest.mark.parametrize("edits", VARIANTS.values(), ids=VARIANTS.keys())
def test_mxnet_loads_older_layouts_as_the_same_symbol(tmp_path, real_file, real_document, edits):
    """The edited files are real MXNet files: MXNet 1.9.1 re-saves them as the original."""
    document = copy.deepcopy(real_document)
    for edit in edits:
        document = edit(document)
    resaved = save(mx.sym.load_json(json.dumps(document)), tmp_path / "resaved-symbol.json")
    assert summary(read_symbol(resaved)) == summary(read_symbol(real_file))


def test_version_of_older_layout_is_unknown(tmp_path, real_document):
    document = drop_version(copy.deepcopy(real_document))
    assert read_symbol(write_json(document, tmp_path / "s.json")).mxnet_version == 0


def test_legacy_training_attributes_are_hidden():
    """MXNet < 0.9 keys that MXNet itself treats as hidden, also as "<input>_lr_mult"."""
    document = {
        "nodes": [
            {"op": "null", "name": "data", "param": {}, "attr": {"lr_mult": "0.5"}, "inputs": []},
            {"op": "null", "name": "w", "param": {}, "inputs": []},
            {
                "op": "FullyConnected",
                "name": "fc",
                "param": {"num_hidden": "4", "no_bias": "True"},
                "attr": {"ctx_group": "a", "wd_mult": "0", "force_mirroring": "True",
                         "mirror_stage": "True", "weight_lr_mult": "0.1"},
                "inputs": [[0, 0], [1, 0]],
            },
        ],
        "arg_nodes": [0, 1],
        "heads": [[2, 0]],
    }
    nodes = parse_symbol(document, "old.json").nodes
    assert nodes[0].hidden == {"__lr_mult__": "0.5"} and nodes[0].attrs.raw == {}
    assert nodes[2].attrs.raw == {"num_hidden": "4", "no_bias": "True"}
    assert nodes[2].hidden == {
        "__ctx_group__": "a", "__wd_mult__": "0", "__force_mirroring__": "True",
        "__mirror_stage__": "True", "weight_lr_mult": "0.1",
    }


def test_later_attribute_objects_override_earlier(tmp_path):
    document = {
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "Activation", "name": "act", "param": {"act_type": "tanh"},
             "attr": {"act_type": "sigmoid"}, "attrs": {"act_type": "relu"}, "inputs": [[0, 0]]},
        ],
        "heads": [[1, 0]],
    }
    assert parse_symbol(document, "x.json").nodes[1].attrs.raw == {"act_type": "relu"}


# --- reachable() and variables() ---------------------------------------------

def test_reachable_prunes_what_the_heads_do_not_need(tmp_path):
    path = save(with_loss_branch(), tmp_path / "train-symbol.json")
    document = json.loads(path.read_text())
    everything = read_symbol(path)
    assert {n.name for n in everything.reachable()} == {n.name for n in everything.nodes}
    assert "label" in [n.name for n in everything.variables()]

    # keep only the logits head, as for inference
    logits = next(h for h in document["heads"] if document["nodes"][h[0]]["name"] == "fc")
    document["heads"] = [logits]
    graph = read_symbol(write_json(document, tmp_path / "infer-symbol.json"))
    kept = graph.reachable()
    assert [n.id for n in kept] == sorted(n.id for n in kept)  # file (topological) order
    names = [n.name for n in kept]
    assert names[-1] == "fc" and "loss" not in names and "label" not in names
    assert not any(n.op in ("MakeLoss", "mean", "square", "SoftmaxOutput") for n in kept)
    assert "softmax_label" not in names
    assert [n.name for n in graph.variables()] == [
        "data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta", "bn_moving_mean",
        "bn_moving_var", "fc_weight", "fc_bias",
    ]


def test_reachable_matches_mxnet_on_a_real_subgraph(tmp_path, real_file):
    sym = mx.sym.load(str(real_file)).get_internals()["relu_output"]
    graph = read_symbol(real_file)
    graph.heads = [TensorRef(next(n.id for n in graph.nodes if n.name == "relu"), 0)]
    assert [n.name for n in graph.variables()] == sym.list_inputs()
    reachable = {n.name for n in graph.reachable()}
    assert reachable == {n.name for n in read_symbol(save(sym, tmp_path / "sub.json")).nodes}


def test_shared_nodes_are_listed_once():
    document = {
        "nodes": [
            {"op": "null", "name": "x", "inputs": []},
            {"op": "elemwise_add", "name": "twice", "inputs": [[0, 0], [0, 0]]},
            {"op": "elemwise_mul", "name": "square", "inputs": [[1, 0], [1, 0]]},
        ],
        "heads": [[2, 0], [1, 0]],
    }
    graph = parse_symbol(document, "s.json")
    assert [n.name for n in graph.reachable()] == ["x", "twice", "square"]
    assert [n.name for n in graph.variables()] == ["x"]


# --- errors: every one is an InputFileError naming the file ---------------------

def minimal(**changes):
    document = {
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "Activation", "name": "act", "attrs": {"act_type": "relu"}, "inputs": [[0, 0, 0]]},
        ],
        "arg_nodes": [0],
        "heads": [[1, 0, 0]],
    }
    document.update(changes)
    return document


def with_node(index, **fields):
    document = minimal()
    document["nodes"][index] = {**document["nodes"][index], **fields}
    return document


def without(index, key):
    document = minimal()
    del document["nodes"][index][key]
    return document


BAD_DOCUMENTS = {
    "list": ([], "no 'nodes' list"),
    "string": ("nodes", "no 'nodes' list"),
    "no nodes": ({"heads": [[0, 0]]}, "no 'nodes' list"),
    "nodes not a list": (minimal(nodes={"0": {}}), "no 'nodes' list"),
    "no heads": ({"nodes": minimal()["nodes"]}, "no 'heads' list"),
    "empty heads": (minimal(heads=[]), "no heads"),
    "heads not a list": (minimal(heads={"0": 0}), "'heads' is not a list"),
    "node not an object": (minimal(nodes=[minimal()["nodes"][0], "act"]), "node #1"),
    "node without op": (without(1, "op"), "node #1"),
    "node without name": (without(0, "name"), "node #0"),
    "attrs not an object": (with_node(1, attrs="relu"), "node 'act': 'attrs' is not an object"),
    "param not an object": (with_node(1, param=["x"]), "node 'act': 'param' is not an object"),
    "inputs not a list": (with_node(1, inputs={"0": 0}), "inputs of node 'act'"),
    "input out of range": (with_node(1, inputs=[[7, 0]]), "points outside the graph"),
    "input negative": (with_node(1, inputs=[[-1, 0]]), "points outside the graph"),
    "input to itself": (with_node(1, inputs=[[1, 0]]), "points outside the graph"),
    "input forward": (with_node(0, inputs=[[1, 0]]), "points outside the graph"),
    "negative index": (with_node(1, inputs=[[0, -1]]), "points outside the graph"),
    "ref too short": (with_node(1, inputs=[[0]]), "bad entry [0]"),
    "ref too long": (with_node(1, inputs=[[0, 0, 0, 0]]), "bad entry"),
    "ref not a list": (with_node(1, inputs=[0]), "bad entry 0"),
    "ref of strings": (with_node(1, inputs=[["0", "0"]]), "bad entry"),
    "ref of floats": (with_node(1, inputs=[[0.0, 0]]), "bad entry"),
    "ref of bools": (with_node(1, inputs=[[False, 0]]), "bad entry"),
    "ref null": (with_node(1, inputs=[None]), "bad entry None"),
    "head out of range": (minimal(heads=[[2, 0]]), "heads: entry [2, 0] points outside"),
    "head malformed": (minimal(heads=[[1]]), "heads: bad entry [1]"),
}


@pytest.mark.parametrize(
    "document, expected", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys()
)
def test_malformed_symbols(tmp_path, document, expected):
    path = write_json(document, tmp_path / "bad-symbol.json")
    with pytest.raises(InputFileError) as info:
        read_symbol(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == str(path)
    assert expected in str(info.value)


def test_minimal_document_is_valid(tmp_path):
    graph = read_symbol(write_json(minimal(), tmp_path / "ok.json"))
    assert [(n.name, n.op) for n in graph.nodes] == [("data", "null"), ("act", "Activation")]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"{nodes: []", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"nodes": [], "heads": [], "x": "\xe9t\xe9"}', "not valid JSON"),  # Latin-1
        (b"\xff\xfe{\x00}\x00", "not valid JSON"),  # UTF-16
        (b'{"nodes": [}', "not valid JSON"),
    ],
    ids=["bad syntax", "empty", "latin-1", "utf-16", "truncated"],
)
def test_unreadable_content(tmp_path, content, expected):
    path = tmp_path / "bad-symbol.json"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as info:
        read_symbol(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_missing_file(tmp_path):
    path = tmp_path / "absent-symbol.json"
    with pytest.raises(InputFileError) as info:
        read_symbol(path)
    assert str(info.value).startswith(f"{path}: cannot read symbol file")
    assert info.value.path == str(path)


def test_directory(tmp_path):
    with pytest.raises(InputFileError) as info:
        read_symbol(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot read symbol file")


def test_parse_symbol_names_its_source():
    with pytest.raises(InputFileError, match=r"^from-memory: the symbol has no heads"):
        parse_symbol(minimal(heads=[]), "from-memory")


def test_brackets_in_strings_do_not_count_as_nesting(tmp_path, real_document):
    """The nesting bound counts the brackets of the JSON, never those inside strings, escaped
    quotes and backslashes included."""
    document = copy.deepcopy(real_document)
    document["nodes"][0]["attrs"] = {"__note__": '\\" ' + "[{" * 300 + ' \\\\"'}
    document["nodes"][1]["name"] = "]" * 300 + '"'
    path = write_json(document, tmp_path / "strings-symbol.json")
    graph = read_symbol(path)
    assert graph.nodes[1].name == "]" * 300 + '"'
    # the same file with 101 levels of real nesting more is refused, counted right
    deep = json.dumps(document).replace('"heads"', '"deeper": ' + "[" * 101 + "]" * 101 + ', "heads"', 1)
    (tmp_path / "deep-symbol.json").write_text(deep)
    with pytest.raises(InputFileError, match="nested 102 levels deep"):
        read_symbol(tmp_path / "deep-symbol.json")

"""The message helpers of mxnet2caffe.errors: whatever a file holds, a message quotes a few dozen
characters of it, lists a few items and counts the rest; repeated warnings come as a few and a count."""

import logging

from mxnet2caffe.errors import ConversionError, NodeError, listed, log_summarized, shortened, shortened_mapping


def test_shortened_keeps_short_text_and_cuts_long_text_with_its_length():
    assert shortened("conv1") == "conv1"
    assert shortened("x" * 60) == "x" * 60
    assert shortened("x" * 1000) == "x" * 60 + "... (1000 characters)"
    assert shortened(12345, limit=3) == "123... (5 characters)"


def test_listed_shows_six_items_then_counts():
    assert listed((1, 3, 224, 224)) == "(1, 3, 224, 224)"
    assert listed((7,)) == "(7,)"
    assert listed(()) == "()"
    assert listed(list(range(2_000_000))) == "(0, 1, 2, 3, 4, 5, ... 1999994 more)"
    assert listed(["data", "y" * 100]) == "('data', '" + "y" * 39 + "... (102 characters))"


def test_shortened_mapping_cuts_keys_values_and_entries():
    values = {f"k{i}": "v" * (100 if i == 0 else 1) for i in range(10)}
    text = shortened_mapping(values)
    assert text.startswith("{k0: " + "v" * 40 + "... (100 characters), k1: v,")
    assert text.endswith("k5: v, ... 4 more}")


def test_log_summarized_gives_five_lines_and_a_count(caplog):
    log = logging.getLogger("test_messages")
    with caplog.at_level(logging.WARNING):
        log_summarized(log, [f"array {i} is uninitialized" for i in range(250_000)])
    assert [record.getMessage() for record in caplog.records] == [
        "array 0 is uninitialized", "array 1 is uninitialized", "array 2 is uninitialized",
        "array 3 is uninitialized", "array 4 is uninitialized", "... and 249995 more like these",
    ]


def test_log_summarized_without_a_count_when_few(caplog):
    with caplog.at_level(logging.WARNING):
        log_summarized(logging.getLogger("test_messages"), ["one", "two"])
    assert [record.getMessage() for record in caplog.records] == ["one", "two"]


def test_node_error_cuts_the_node_name():
    error = NodeError("n" * 100_000, "Convolution", "attribute 'stride': expected ...")
    assert str(error) == f"node '{'n' * 60}... (100000 characters)' (op Convolution): attribute 'stride': expected ..."
    assert error.node_name == "n" * 100_000  # the whole name stays available to code


def test_conversion_error_cuts_a_quote_that_escaped_the_helpers():
    """The last guard: a run of 300+ characters without a space is cut to 100, the message to 2000."""
    error = ConversionError(f"node 'x': pool_type '{'p' * 1_000_000}' is not supported")
    assert str(error) == f"node 'x': pool_type '{'p' * 99}... (1000002 characters) is not supported"
    long_path = "/" + "d" * 250 + "/model-symbol.json"
    assert str(ConversionError(f"{long_path}: not valid JSON")) == f"{long_path}: not valid JSON"
    assert len(str(ConversionError("word " * 10_000))) < 2100

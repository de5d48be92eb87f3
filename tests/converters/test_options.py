import pytest

from mxnet2caffe import ConversionError, ConvertOptions


def test_default_is_stock_everywhere():
    assert not ConvertOptions().native("broadcast_mul")


def test_native_switch():
    assert ConvertOptions(forms={"broadcast_mul": "native"}).native("broadcast_mul")


@pytest.mark.parametrize(
    "forms, message",
    [({"broadcast_muls": "native"}, "unknown option 'broadcast_muls'"), ({"broadcast_mul": "fast"}, "not 'fast'")],
)
def test_bad_switches_are_clear_errors(forms, message):
    with pytest.raises(ConversionError, match=message):
        ConvertOptions(forms=forms)

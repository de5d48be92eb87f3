"""Typed access to MXNet node attributes.

MXNet stores every attribute as a string ("(3, 3)", "True", "1e-05"). Converters read
them only through Attrs, with MXNet's own defaults, so parsing lives in one place and
the attributes nobody read can be reported after conversion.
"""

from __future__ import annotations

import builtins
import math
import sys
from typing import Callable, Dict, FrozenSet, Iterable, Mapping, Optional, Set, Tuple, TypeVar, Union, overload

from .errors import NodeError

# The methods are named after the types they return (attrs.int("num_filter")), so inside the
# class body `int`, `str` ... name the methods: annotations there spell the types builtins.int.

_T = TypeVar("_T")
_Default = TypeVar("_Default")


class _Missing:
    """The type of _MISSING, the default of a required attribute."""


_MISSING = _Missing()
# how MXNet writes an optional parameter that is not set (dmlc::optional); MXNet rejects it
# for any other parameter
_UNSET = "None"
# MXNet 1.9.1's dmlc::optional parameters ("int or None" in its docs) among the ops converted,
# where the converter's default is not None (a read with the default None is of an optional
# parameter anyway); tests/test_attrs_none.py checks this against MXNet
OPTIONAL_PARAMETERS: Dict[builtins.str, FrozenSet[builtins.str]] = {
    "Pooling": frozenset({"p_value", "count_include_pad"}),
    "BatchNorm": frozenset({"min_calib_range", "max_calib_range"}),
    "Dropout": frozenset({"cudnn_off"}),
    "softmax": frozenset({"temperature", "use_length"}),
    "log_softmax": frozenset({"temperature", "use_length"}),
    "_contrib_BilinearResize2D": frozenset({"scale_height", "scale_width"}),
    "repeat": frozenset({"axis"}),
    "slice_axis": frozenset({"end"}),
    **{
        op: frozenset({"axis"})
        for op in ("max", "max_axis", "mean", "min", "min_axis", "norm", "squeeze", "sum", "sum_axis")
    },
}
# Tuple parameters that MXNet 1.9.1 runs with "None" (its unknown tuple) as if not given, where a
# plain tuple parameter fails its checks (Convolution's stride, Pad's pad_width, transpose's axes);
# checked one by one against MXNet in tests/test_attrs_none.py
UNSET_TUPLES: Dict[builtins.str, FrozenSet[builtins.str]] = {
    "Dropout": frozenset({"axes"}),
    "tile": frozenset({"reps"}),
    "_contrib_AdaptiveAvgPooling2D": frozenset({"output_size"}),
    "Reshape": frozenset({"target_shape"}),
    "reshape": frozenset({"target_shape"}),
}
# MXNet stores integer attributes as C++ int or int64 (a tuple's dims)
_INT64 = (-(2**63), 2**63 - 1)
# MXNet's tuples are shapes, axes, windows and paddings of at most 32 axes (pad_width: two per
# axis); longer ones are refused unparsed
_MAX_TUPLE_ITEMS = 256
# how much of a bad attribute's text a message quotes
_QUOTED = 40


class Attrs:
    """The attributes of one node, parsed on demand; remembers which were read.

    A read without a default is of a required attribute: missing, it raises NodeError. A read
    with a default gives the default when the attribute is missing, and when it is "None" (unset)
    if MXNet's parameter is optional: the default is None, or OPTIONAL_PARAMETERS lists it. MXNet
    refuses "None" for any other parameter, and so does Attrs (a string read returns it as it is:
    some of MXNet's string choices include None)."""

    def __init__(self, node_name: builtins.str, op: builtins.str, raw: Mapping[builtins.str, builtins.str]) -> None:
        self._node_name = node_name
        self._op = op
        self._raw: Dict[builtins.str, builtins.str] = {str(k): str(v) for k, v in raw.items()}
        self._read: Set[builtins.str] = set()

    def __contains__(self, key: builtins.str) -> builtins.bool:
        return key in self._raw

    @property
    def raw(self) -> Dict[builtins.str, builtins.str]:
        return dict(self._raw)

    def unread(self) -> Dict[builtins.str, builtins.str]:
        """Attributes present in the graph that no converter looked at."""
        return {k: v for k, v in self._raw.items() if k not in self._read}

    def _error(self, key: builtins.str, message: builtins.str) -> NodeError:
        return NodeError(self._node_name, self._op, f"attribute '{key}': {message}")

    def _bad(self, key: builtins.str, expected: builtins.str, text: builtins.str) -> NodeError:
        """`expected ..., got '...'`, quoting at most _QUOTED characters of the text."""
        shown = repr(text) if len(text) <= _QUOTED else f"{text[:_QUOTED]!r}... ({len(text)} characters)"
        return self._error(key, f"expected {expected}, got {shown}")

    def _unset(self, key: builtins.str, text: builtins.str, default: object, expected: builtins.str) -> builtins.bool:
        """Whether `text` is MXNet's "None" for an optional parameter; raises for another one."""
        if text.strip() != _UNSET:
            return False
        if default is None or key in OPTIONAL_PARAMETERS.get(self._op, ()):
            return True
        raise self._error(key, f"expected {expected}, got 'None' (MXNet refuses it: the parameter is not optional)")

    def _text(self, key: builtins.str) -> Optional[builtins.str]:
        """The attribute's string, None if absent; either way it counts as read."""
        self._read.add(key)
        return self._raw.get(key)

    def _default(self, key: builtins.str, default: Union[_T, _Missing]) -> _T:
        if isinstance(default, _Missing):
            raise self._error(key, "required but missing")
        return default

    def _parsed(
        self,
        key: builtins.str,
        default: Union[_Default, _Missing],
        parse: Callable[[builtins.str], _T],
        expected: builtins.str,
    ) -> Union[_T, _Default]:
        """`parse` of the attribute's string; the default when it is absent or unset."""
        text = self._text(key)
        if text is None or (not isinstance(default, _Missing) and self._unset(key, text, default, expected)):
            return self._default(key, default)
        try:
            return parse(text)
        except ValueError:
            raise self._bad(key, expected, text) from None

    def _at_least(
        self, key: builtins.str, value: _T, minimum: Union[builtins.int, builtins.float, None], expected: builtins.str
    ) -> _T:
        """`value` if it is None or no less than `minimum` (and finite, for a float)."""
        if minimum is None or value is None:
            return value
        number = builtins.float(value)  # type: ignore[arg-type]
        if not (math.isfinite(number) and number >= minimum):
            raise self._bad(key, f"{expected} >= {minimum}", builtins.str(self._raw.get(key)))
        return value

    @overload
    def str(self, key: builtins.str) -> builtins.str: ...
    @overload
    def str(self, key: builtins.str, default: _Default) -> Union[builtins.str, _Default]: ...
    def str(self, key: builtins.str, default: object = _MISSING) -> object:
        text = self._text(key)
        if text is None or (default is None and text.strip() == _UNSET):
            return self._default(key, default)
        return text

    @overload
    def int(self, key: builtins.str, *, minimum: Optional[builtins.int] = None) -> builtins.int: ...
    @overload
    def int(
        self, key: builtins.str, default: _Default, *, minimum: Optional[builtins.int] = None
    ) -> Union[builtins.int, _Default]: ...
    def int(self, key: builtins.str, default: object = _MISSING, *, minimum: Optional[builtins.int] = None) -> object:
        """An integer in int64's range; with `minimum`, no less than it."""
        return self._at_least(key, self._parsed(key, default, _int64, "an integer"), minimum, "an integer")

    @overload
    def float(self, key: builtins.str, *, minimum: Optional[builtins.float] = None) -> builtins.float: ...
    @overload
    def float(
        self, key: builtins.str, default: _Default, *, minimum: Optional[builtins.float] = None
    ) -> Union[builtins.float, _Default]: ...
    def float(
        self, key: builtins.str, default: object = _MISSING, *, minimum: Optional[builtins.float] = None
    ) -> object:
        """A number; with `minimum`, a finite one no less than it."""
        return self._at_least(key, self._parsed(key, default, _parse_double, "a number"), minimum, "a finite number")

    def bool(self, key: builtins.str, default: Union[builtins.bool, _Missing] = _MISSING) -> builtins.bool:
        return self._parsed(key, default, _parse_bool, "a boolean")

    def int_tuple(
        self, key: builtins.str, default: Union[Iterable[builtins.int], None, _Missing] = _MISSING
    ) -> Tuple[builtins.int, ...]:
        """Parses "(3, 3)", "[3,3]", "3", "()" or Python 2's "(3L, 3L)" into a tuple of at most
        _MAX_TUPLE_ITEMS ints in int64's range, with MXNet's syntax ("(" and "(,)" are errors, "[]"
        is MXNet's empty tuple); a default of None stands for (). "None" is MXNet's unknown tuple:
        () for an optional parameter (default None), the default for one of UNSET_TUPLES, refused
        for any other (MXNet's checks fail on it)."""
        text = self._text(key)
        if text is None:
            default = self._default(key, default)
            return tuple(default) if default is not None else ()
        stripped = text.strip()
        if key in UNSET_TUPLES.get(self._op, ()) and stripped == _UNSET:
            return tuple(default) if isinstance(default, Iterable) else ()
        if self._unset(key, stripped, default, "a tuple of integers"):
            return ()
        if stripped.count(",") >= _MAX_TUPLE_ITEMS:  # counted before parsing: parsing 20M items takes seconds
            raise self._bad(key, f"a tuple of at most {_MAX_TUPLE_ITEMS} integers", text)
        try:
            return _parse_tuple(stripped)
        except ValueError:
            raise self._bad(key, "a tuple of integers", text) from None


def _parse_double(text: str) -> float:
    """A number as MXNet's parser (strtod) reads it: a literal beyond double's range, or so small
    that it is subnormal or 0, is refused ("Out of range value"); "inf" and "nan" are numbers."""
    value = float(text)
    if math.isinf(value) and text.strip().lstrip("+-").lower() not in ("inf", "infinity"):
        raise ValueError(text)
    mantissa = text.strip().lower().split("e")[0]
    if abs(value) < sys.float_info.min and any(digit in mantissa for digit in "123456789"):
        raise ValueError(text)
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


def _parse_tuple(text: str) -> Tuple[int, ...]:
    """MXNet's tuple syntax: a bare integer, or "(" or "[", integers separated by commas with
    one optional comma after the last, ")" or "]"."""
    if not (text[:1] in ("(", "[") and text[-1:] in (")", "]") and len(text) >= 2):
        return (_tuple_item(text),)
    inner = text[1:-1].strip()
    if inner.endswith(","):
        inner = inner[:-1]
        if not inner.strip():  # "(,)"
            raise ValueError(text)
    return tuple(_tuple_item(part) for part in inner.split(",")) if inner else ()


def _tuple_item(text: str) -> int:
    # MXNet's tuple parser skips one "L" after a number: shapes saved from Python 2 longs
    text = text.strip()
    if text.endswith("L"):
        text = text[:-1]
    return _int64(text)


def _int64(text: str) -> int:
    # a long run of digits is refused before int() spends time on it
    if len(text.strip()) > 25:
        raise ValueError(text)
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(text)
    return value

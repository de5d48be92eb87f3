"""Typed access to MXNet node attributes.

MXNet stores every attribute as a string ("(3, 3)", "True", "1e-05"). Converters read
them only through Attrs, with MXNet's own defaults, so parsing lives in one place and
the attributes nobody read can be reported after conversion.
"""

from __future__ import annotations

import builtins
from typing import Callable, Dict, Iterable, Mapping, Optional, Set, Tuple, TypeVar, Union, overload

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


class Attrs:
    """The attributes of one node, parsed on demand; remembers which were read.

    A read without a default is of a required attribute: missing, it raises NodeError. A read
    with a default gives the default when the attribute is missing or "None" (unset)."""

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
        if text is None or (text == _UNSET and not isinstance(default, _Missing)):
            return self._default(key, default)
        try:
            return parse(text)
        except ValueError:
            raise self._error(key, f"expected {expected}, got {text!r}") from None

    @overload
    def str(self, key: builtins.str) -> builtins.str: ...
    @overload
    def str(self, key: builtins.str, default: _Default) -> Union[builtins.str, _Default]: ...
    def str(self, key: builtins.str, default: object = _MISSING) -> object:
        return self._parsed(key, default, str, "a string")

    @overload
    def int(self, key: builtins.str) -> builtins.int: ...
    @overload
    def int(self, key: builtins.str, default: _Default) -> Union[builtins.int, _Default]: ...
    def int(self, key: builtins.str, default: object = _MISSING) -> object:
        return self._parsed(key, default, int, "an integer")

    @overload
    def float(self, key: builtins.str) -> builtins.float: ...
    @overload
    def float(self, key: builtins.str, default: _Default) -> Union[builtins.float, _Default]: ...
    def float(self, key: builtins.str, default: object = _MISSING) -> object:
        return self._parsed(key, default, float, "a number")

    def bool(self, key: builtins.str, default: Union[builtins.bool, _Missing] = _MISSING) -> builtins.bool:
        return self._parsed(key, default, _parse_bool, "a boolean")

    def int_tuple(
        self, key: builtins.str, default: Union[Iterable[builtins.int], None, _Missing] = _MISSING
    ) -> Tuple[builtins.int, ...]:
        """Parses "(3, 3)", "[3,3]", "3", "()", "None" or Python 2's "(3L, 3L)" into a tuple of ints;
        a default of None stands for ()."""
        text = self._text(key)
        if text is None:
            default = self._default(key, default)
            return tuple(default) if default is not None else ()
        inner = text.strip().strip("()[]").strip()
        if not inner or inner == _UNSET:
            return ()
        try:
            return tuple(_tuple_item(part) for part in inner.split(",") if part.strip())
        except ValueError:
            raise self._error(key, f"expected a tuple of integers, got {text!r}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


def _tuple_item(text: str) -> int:
    # MXNet's tuple parser skips one "L" after a number: shapes saved from Python 2 longs
    text = text.strip()
    if text.endswith("L"):
        text = text[:-1]
    return int(text)

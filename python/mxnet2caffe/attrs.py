"""Typed access to MXNet node attributes.

MXNet stores every attribute as a string ("(3, 3)", "True", "1e-05"). Converters read
them only through Attrs, with MXNet's own defaults, so parsing lives in one place and
the attributes nobody read can be reported after conversion.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Set, Tuple

from .errors import NodeError

_MISSING = object()


class Attrs:
    """The attributes of one node, parsed on demand; remembers which were read."""

    def __init__(self, node_name: str, op: str, raw: Mapping[str, str]) -> None:
        self._node_name = node_name
        self._op = op
        self._raw: Dict[str, str] = {str(k): str(v) for k, v in raw.items()}
        self._read: Set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._raw

    @property
    def raw(self) -> Dict[str, str]:
        return dict(self._raw)

    def unread(self) -> Dict[str, str]:
        """Attributes present in the graph that no converter looked at."""
        return {k: v for k, v in self._raw.items() if k not in self._read}

    def _error(self, key: str, message: str) -> NodeError:
        return NodeError(self._node_name, self._op, f"attribute '{key}': {message}")

    def _get(self, key: str, default: object) -> object:
        self._read.add(key)
        if key in self._raw:
            return self._raw[key]
        if default is _MISSING:
            raise self._error(key, "required but missing")
        return default

    def str(self, key: str, default: object = _MISSING) -> Optional[str]:
        value = self._get(key, default)
        return value if value is None else str(value)

    def int(self, key: str, default: object = _MISSING) -> Optional[int]:
        value = self._get(key, default)
        if not isinstance(value, str):
            return value  # the default, possibly None
        if value == "None":
            return None
        try:
            return int(value)
        except ValueError:
            raise self._error(key, f"expected an integer, got {value!r}") from None

    def float(self, key: str, default: object = _MISSING) -> Optional[float]:
        value = self._get(key, default)
        if not isinstance(value, str):
            return value
        if value == "None":
            return None
        try:
            return float(value)
        except ValueError:
            raise self._error(key, f"expected a number, got {value!r}") from None

    def bool(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, str):
            return bool(value)
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise self._error(key, f"expected a boolean, got {value!r}")

    def int_tuple(self, key: str, default: object = _MISSING) -> Tuple[int, ...]:
        """Parses "(3, 3)", "[3,3]", "3", "()" or Python 2's "(3L, 3L)" into a tuple of ints."""
        value = self._get(key, default)
        if not isinstance(value, str):
            return tuple(value) if value is not None else ()
        text = value.strip().strip("()[]").strip()
        if not text or text == "None":
            return ()
        try:
            return tuple(_tuple_item(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise self._error(key, f"expected a tuple of integers, got {value!r}") from None


def _tuple_item(text: str) -> int:
    # MXNet's tuple parser skips one "L" after a number: shapes saved from Python 2 longs
    text = text.strip()
    if text.endswith("L"):
        text = text[:-1]
    return int(text)

"""Reading provider JSON without trusting its shape.

A stream line can be well-formed JSON of the wrong shape (a list where an object belongs, a
string for ``choices``, a number for ``content``) or nested deeper than Python's recursion
limit. Either is the vessel's stream error, with the offending data in the message — never
an ``AttributeError``, ``TypeError`` or ``RecursionError`` from deep inside a parser. The
adapters read every field through these helpers and run each event's reading inside
:func:`reading`, so all four fail the same way.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import translate

if TYPE_CHECKING:
    from .. import errors as E
    from .base import BaseAdapter


class WrongShape(ValueError):
    """A field of provider JSON is not of the type the protocol gives it."""


def load(adapter: BaseAdapter, data: str, what: str = "event data") -> Any:
    """Parse JSON; malformed or absurdly deep JSON is the vessel's stream error."""
    try:
        return json.loads(data)
    except RecursionError:
        raise translate.stream_error(adapter, f"{what} nested too deeply to read: {adapter.excerpt(data)}") from None
    except ValueError:
        raise translate.stream_error(adapter, f"malformed {what}: {adapter.excerpt(data)}") from None


def obj(value: Any, where: str) -> dict[str, Any]:
    """An object (a missing or null one reads as empty)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise WrongShape(f"{where} is {_kind(value)}, not an object")


def items(value: Any, where: str) -> list[Any]:
    """An array (a missing or null one reads as empty)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise WrongShape(f"{where} is {_kind(value)}, not an array")


def first(value: Any, where: str) -> dict[str, Any]:
    """The first object of an array (empty when the array is)."""
    seq = items(value, where)
    return obj(seq[0], f"{where}[0]") if seq else {}


def text(value: Any, where: str) -> str:
    """A string (a missing or null one reads as empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise WrongShape(f"{where} is {_kind(value)}, not a string")


def opt_text(value: Any, where: str) -> str | None:
    """A string, or None when absent."""
    return text(value, where) or None


def _kind(value: Any) -> str:
    name = {list: "an array", dict: "an object", str: "a string", bool: "a boolean"}.get(type(value))
    return name or ("a number" if isinstance(value, (int, float)) else type(value).__name__)


class reading:  # noqa: N801 — used as a function: ``with shape.reading(adapter, line):``
    """Turn a wrong shape met while reading ``data`` into the vessel's stream error.

    The helpers above name the field; the other exceptions are a safety net for a field
    read without them, so a parser can never crash on what a server sent. A class, not a
    ``@contextmanager``: it runs once per stream line, and a generator-based one cost more
    than reading the line's fields.
    """

    __slots__ = ("adapter", "data")

    def __init__(self, adapter: BaseAdapter, data: str) -> None:
        self.adapter, self.data = adapter, data

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if kind is None:
            return False
        if issubclass(kind, WrongShape):
            raise _shape_error(self.adapter, str(exc), self.data) from None
        if issubclass(kind, (AttributeError, TypeError, KeyError, IndexError, RecursionError)):
            raise _shape_error(self.adapter, f"unexpected {kind.__name__}", self.data) from None
        return False


def _shape_error(adapter: BaseAdapter, why: str, data: str) -> E.StreamError:
    return translate.stream_error(adapter, f"unexpected data in the stream ({why}): {adapter.excerpt(data)}")

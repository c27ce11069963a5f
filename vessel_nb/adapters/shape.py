"""Reading provider JSON without trusting its shape.

A stream line can be well-formed JSON of the wrong shape (a list where an object belongs, a
string for ``choices``, a number for ``content``) or nested deeper than Python's recursion
limit. Either is the vessel's stream error, with the offending data in the message — never
an ``AttributeError``, ``TypeError`` or ``RecursionError`` from deep inside a parser. The
adapters read every field through these helpers (or check its type inline on the hot path
and call them only when it is not the expected one) and turn :data:`ERRORS` raised while
reading an event into :func:`error`, so all four fail the same way.
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


_scan = json.JSONDecoder().scan_once  # json.loads minus its wrappers (two regex matches, two calls)


def load(adapter: BaseAdapter, data: str, what: str = "event data") -> Any:
    """Parse JSON; malformed or absurdly deep JSON is the vessel's stream error."""
    try:
        # The common case in one C call: a line that is exactly one JSON value. Anything
        # else (whitespace around it, an error) goes through json.loads, for its verdict.
        value, end = _scan(data, 0)
        if end == len(data):
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
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


ERRORS = (WrongShape, AttributeError, TypeError, KeyError, IndexError, RecursionError)
"""What reading an event may raise on data of the wrong shape: catch these around the
reading and turn them into :func:`error` (a plain ``try``, free until something is wrong —
a context manager per event cost more than the reading on a fast stream)."""


def error(adapter: BaseAdapter, exc: BaseException, data: str) -> E.StreamError:
    """The vessel's stream error for a wrong shape met while reading ``data``.

    The helpers above name the field; the other exceptions are a safety net for a field
    read without them, so a parser can never crash on what a server sent.
    """
    why = str(exc) if isinstance(exc, WrongShape) else f"unexpected {type(exc).__name__}"
    return translate.stream_error(adapter, f"unexpected data in the stream ({why}): {adapter.excerpt(data)}")

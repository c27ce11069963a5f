"""Small input checks shared by the orchestrator, the adapters and the config file.

Each raises one :class:`~vessel_nb.errors.ConfigError` that names what is wrong and what
would be right, before anything is sent or logged.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError


def text(value: str, what: str) -> str:
    """Text that can be sent and stored: UTF-8 encodable (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"{what} contains a character that cannot be encoded as UTF-8 "
            f"({value[exc.start]!r} at position {exc.start}, a lone surrogate); "
            "remove it or decode the text with errors='replace'"
        ) from None
    return value


def typed(value: Any, expected: type | tuple[type, ...], what: str, example: str) -> Any:
    """``value`` when it has the expected type (a bool is not taken for a number)."""
    kinds = expected if isinstance(expected, tuple) else (expected,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise ConfigError(f"{what} must be {example}, not {type(value).__name__} {value!r:.60}")
    return value


def limit(value: Any, what: str) -> float | None:
    """A time limit: a positive, finite number of seconds, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} must be a positive number of seconds (or None for no limit), not {value!r}")
    return float(value)

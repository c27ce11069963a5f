"""The failures a practice server can be told to have, checked before they are stored.

Handlers read them through ``PracticeServer.take_fault`` (request-level kinds) and
``ChatHandler.stream`` (mid-stream kinds); "down" is carried out by the server itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "down",
    "hang_headers",
    "hang_mid_stream",
    "slow_first_token",
    "status",
    "error_mid_stream",
    "malformed",
    "truncated",
)
"""what ``set_fault`` accepts"""

PARAMS = {
    "down": set(),
    "hang_headers": set(),
    "hang_mid_stream": {"after"},
    "slow_first_token": {"delay"},
    "status": {"code", "retry_after"},
    "error_mid_stream": {"after"},
    "malformed": {"after"},
    "truncated": {"after"},
}
"""the keyword parameters each kind takes"""

MID_STREAM = ("hang_mid_stream", "error_mid_stream", "malformed", "truncated")
"""kinds that act after ``after`` pieces of a streamed reply"""


@dataclass
class Fault:
    """An injected failure and how many more chat requests it applies to."""

    kind: str
    """one of FAULT_KINDS"""
    params: dict[str, Any] = field(default_factory=dict)
    """after / delay / code / retry_after"""
    remaining: int | None = None
    """chat requests left to apply to (None = until cleared)"""


def make_fault(kind: str, times: int | None, params: dict[str, Any]) -> Fault:
    """A checked Fault; ValueError says what is wrong in words."""
    if kind not in PARAMS:
        raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
    unknown = set(params) - PARAMS[kind]
    if unknown:
        raise ValueError(f"fault {kind!r} takes no {', '.join(sorted(unknown))} (takes: {sorted(PARAMS[kind])})")
    if kind == "status":
        code = params.get("code")
        if not isinstance(code, int) or not 400 <= code <= 599:
            raise ValueError("fault 'status' needs code=<HTTP status 400-599>, e.g. code=429")
    for name in ("after", "delay", "retry_after"):
        value = params.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"fault {kind!r}: {name}= must be a number >= 0, not {value!r}")
    if times is not None and (kind == "down" or times < 1):
        raise ValueError("times= must be >= 1, and 'down' lasts until clear_fault()")
    return Fault(kind, dict(params), times)

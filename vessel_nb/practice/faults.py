"""The failures a practice server can be told to have: one table, checked before storing.

:data:`FAULTS` says, for every kind, which keyword parameters it takes (with their
defaults) and in which phase of a request it acts. Everything else is read off it:
:data:`FAULT_KINDS`, the checks in :func:`make_fault`, and where the handlers apply it —
"down" is carried out by the server itself (``PracticeServer.set_fault``), "headers" kinds
by ``ChatHandler.begin`` before any byte is sent, "stream" kinds by ``ChatHandler.stream``
after ``after`` pieces. A new endpoint (e.g. another streaming API) gets every fault by
building on ``ChatHandler`` and supplying its own ``Frames``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["server", "headers", "first_token", "stream"]


@dataclass(frozen=True)
class FaultSpec:
    """What one fault kind takes and when it acts."""

    params: dict[str, Any]
    """keyword parameters it accepts -> default (None = no default: see ``doc``)"""
    phase: Phase
    """"server": every endpoint; "headers": before the response starts; "first_token":
    after the headers; "stream": after ``after`` pieces of a streamed reply"""
    doc: str
    """one line for people (README, errors)"""


FAULTS: dict[str, FaultSpec] = {
    "down": FaultSpec({}, "server", "connection refused on every endpoint; the port is kept"),
    "hang_headers": FaultSpec({}, "headers", "accept the request, never answer (until cleared or stopped)"),
    "status": FaultSpec(
        {"code": None, "retry_after": None}, "headers", "the provider's real error body and headers for HTTP `code`"
    ),
    "slow_first_token": FaultSpec({"delay": 2.0}, "first_token", "headers at once, first piece after `delay` s"),
    "hang_mid_stream": FaultSpec({"after": 1}, "stream", "stop after `after` pieces until cleared, then go on"),
    "error_mid_stream": FaultSpec({"after": 1}, "stream", "the provider's mid-stream error form, then the end"),
    "malformed": FaultSpec({"after": 1}, "stream", "one event of invalid JSON, then the stream goes on"),
    "truncated": FaultSpec(
        {"after": None}, "stream", "the body ends cleanly without the terminator (`after` = all pieces)"
    ),
}
"""every fault kind -> its spec"""

FAULT_KINDS = tuple(FAULTS)
"""what ``set_fault`` accepts"""

MID_STREAM = tuple(kind for kind, spec in FAULTS.items() if spec.phase == "stream")
"""kinds that act after ``after`` pieces of a streamed reply"""


@dataclass
class Fault:
    """An injected failure and how many more chat requests it applies to."""

    kind: str
    """one of FAULT_KINDS"""
    params: dict[str, Any] = field(default_factory=dict)
    """the parameters given, defaults filled in (``after``/``delay``/``code``/``retry_after``)"""
    remaining: int | None = None
    """chat requests left to apply to (None = until cleared)"""

    @property
    def spec(self) -> FaultSpec:
        """This kind's row of :data:`FAULTS`."""
        return FAULTS[self.kind]


def make_fault(kind: str, times: int | None, params: dict[str, Any]) -> Fault:
    """A checked Fault with its defaults filled in; ValueError says what is wrong in words."""
    spec = FAULTS.get(kind)
    if spec is None:
        raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
    unknown = set(params) - set(spec.params)
    if unknown:
        raise ValueError(f"fault {kind!r} takes no {', '.join(sorted(unknown))} (takes: {sorted(spec.params)})")
    if kind == "status":
        code = params.get("code")
        if not isinstance(code, int) or not 400 <= code <= 599:
            raise ValueError("fault 'status' needs code=<HTTP status 400-599>, e.g. code=429")
    for name in ("after", "delay", "retry_after"):
        value = params.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"fault {kind!r}: {name}= must be a number >= 0, not {value!r}")
    if times is not None and (spec.phase == "server" or times < 1):
        raise ValueError("times= must be >= 1, and 'down' lasts until clear_fault()")
    filled = {name: default for name, default in spec.params.items() if default is not None}
    return Fault(kind, {**filled, **params}, times)

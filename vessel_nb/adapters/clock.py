"""The time limits of one attempt: connect, first token, idle gap, total.

Which deadline applies changes as the attempt goes on (the first-token limit until text
arrives, then the idle gap, never past the total), and a liveness watchdog may end a wait
early. Keeping that here leaves the adapters' stream loop short.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .. import errors as E
from ..types import Timeouts

if TYPE_CHECKING:
    from .base import BaseAdapter


class AttemptClock:
    """The time limits of one attempt: which deadline applies now, and why it fired."""

    def __init__(self, loop: asyncio.AbstractEventLoop, t: Timeouts, liveness: float | None) -> None:
        self.loop, self.t = loop, t
        self.start = loop.time()
        self.end = self.start + t.total if t.total else None
        self.first = _earliest(self.start + t.first_token if t.first_token else None, self.end)
        self.liveness = liveness if liveness and (t.first_token is None or liveness < t.first_token) else None
        self.got_text = False
        self.unresponsive = False
        self.scope: asyncio.Timeout | None = None

    def limit(self) -> asyncio.Timeout:
        """A timeout scope for the next wait: first-token limit, then the idle gap; never past total."""
        if self.unresponsive:
            return asyncio.timeout_at(self.loop.time())
        if not self.got_text:
            return asyncio.timeout_at(self.first)
        return asyncio.timeout_at(_earliest(self.loop.time() + self.t.idle if self.t.idle else None, self.end))

    def dead(self) -> None:
        """The liveness probe failed: end the current wait now."""
        self.unresponsive = True
        if self.scope is not None and not self.scope.expired():
            self.scope.reschedule(self.loop.time())

    def timeout_error(self, adapter: BaseAdapter) -> E.VesselTimeout:
        """Say which limit was hit."""
        now = self.loop.time()
        if self.unresponsive:
            msg = f"{adapter.host_label} stopped answering (no first token, and its health probe got no answer either)"
            return E.VesselTimeout(msg, vessel=adapter.name)
        if self.end is not None and now >= self.end - 0.001:
            return E.VesselTimeout(
                f"the answer took longer than the {self.t.total:g}s total limit", vessel=adapter.name
            )
        if self.got_text:
            return E.VesselTimeout(f"the stream went silent for {self.t.idle:g}s", vessel=adapter.name)
        return E.VesselTimeout(
            f"no first token from {adapter.host_label} within {self.first - self.start:.0f}s",
            vessel=adapter.name,
            hint="raise timeouts.first_token if the model is slow to load",
        )


def _earliest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None

"""The time limits of one attempt: connect, first token, idle gap, total.

Which deadline applies changes as the attempt goes on (the first-token limit until text
arrives, then the idle gap, never past the total), and a liveness watchdog may end a wait
early. Keeping that here leaves the adapters' stream loop short.

Waiting for the response's headers uses an ordinary ``asyncio.timeout`` scope
(:meth:`AttemptClock.limit`). Waiting for each of thousands of deltas does not: a scope per
delta creates, schedules and cancels a timer handle every time, which cost about a fifth
of the whole per-delta path in the profile. Instead :meth:`AttemptClock.wait` just notes
when the wait began, and one timer per attempt checks lazily: when it fires before the
deadline that now applies, it re-arms itself for that deadline (at most once per idle
period, not per delta); when the deadline has passed during a wait, it cancels the task,
and :meth:`AttemptClock.expired` turns that cancellation into the timeout it stands for,
with the same ``uncancel`` bookkeeping ``asyncio.timeout`` does.
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
        self._waiting = False
        self._since = self.start  # when the current (or last) wait for a delta began
        self._task: asyncio.Task | None = None
        self._cancelling = 0
        self._timer: asyncio.Handle | None = None
        self._timer_at = float("inf")
        self._fired = False

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
        if self._waiting:
            self._check()

    # --- waiting for deltas: one lazy timer per attempt ---------------------------------------
    def _deadline(self) -> float | None:
        if self.unresponsive:
            return self._since
        if not self.got_text:
            return self.first
        idle = self.t.idle
        if idle is None:
            return self.end
        gap = self._since + idle
        return gap if self.end is None or gap < self.end else self.end

    def wait(self) -> None:
        """A wait for the next delta begins."""
        self._since = self.loop.time()
        if self._task is None:
            self._task = asyncio.current_task()
            self._cancelling = self._task.cancelling() if self._task is not None else 0
        deadline = self._deadline()
        # A deadline already past fires at the next turn of the loop, as asyncio.timeout_at
        # does: a delta that is already buffered (the wait does not suspend) is still taken.
        if deadline is not None and deadline < self._timer_at:
            self._arm(deadline)  # first wait, or the first token brought the deadline forward
        self._waiting = True

    def waited(self) -> None:
        """The wait for a delta ended (a delta, the end, or an error arrived)."""
        self._waiting = False

    def expired(self) -> bool:
        """After a CancelledError out of a wait: True when it was this clock's deadline (then
        raise a timeout), False when someone else cancelled (then let it propagate)."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        """The attempt is over: drop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, float("inf")

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if when <= self.loop.time():  # already due: check before the wait's next step, as timeout_at does
            self._timer, self._timer_at = self.loop.call_soon(self._check), when
        else:
            self._timer, self._timer_at = self.loop.call_at(when, self._check), when

    def _check(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        if not self._waiting or self._task is None:
            return  # between waits no limit runs; the next wait re-arms
        deadline = self._deadline()
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._arm(deadline)
        elif not self._fired:
            self._fired = True
            self._task.cancel()

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
            f"no first token from {adapter.host_label} within {self.t.first_token:g}s",
            vessel=adapter.name,
            hint="raise timeouts.first_token if the model is slow to load",
        )


def _earliest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None

"""How fast a run asks each vessel: a concurrency limit, and a pause every call honours.

A 429 tells the client to slow down for the whole key, not for one request. So when one
call of a run is rate limited, the vessel's :class:`Gate` pauses — for the Retry-After /
retryDelay the provider sent, else a backoff that doubles — and every call of the run to
that vessel waits for the pause before it starts; the limited call is then asked again.
The run slows down instead of failing, and other vessels go on at their own pace.

A vessel that answers nothing at all (a 503 on every call, or down, timing out, refusing its
key) is not waited for forever: the gate counts *rounds* — failures of calls that started
after the previous round, so a burst of calls failing together is one round — and gives up
after ``give_up_after`` rounds in a row with no answer in between. Then its waiting calls
stop waiting and the run asks it nothing more (counting per call instead made a dead vessel
cost minutes per prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import errors as E

LOCAL_LIMIT = 2
"""calls at once on a local vessel (one GPU: a second request queues behind the first)"""
CLOUD_LIMIT = 8
"""calls at once on a cloud vessel"""
_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 60.0
_WAITING_CURES = frozenset({E.RateLimited.kind, E.ServerError.kind})
_MAX_PAUSE = 300.0  # a Retry-After longer than this is a quota, not a rate: stop asking instead


def retryable(err: BaseException) -> bool:
    """A failure that waiting can cure: rate limited, or an overloaded / failing server."""
    if isinstance(err, E.AllVesselsFailed):
        # routed: every vessel was rate limited or overloaded, or skipped while cooling down
        # after such an answer (a vessel with no key, or a wrong model, is not cured by waiting)
        return bool(err.attempts) and all(
            a.error_kind in _WAITING_CURES or (a.outcome == "unhealthy" and "cooling down" in a.error)
            for a in err.attempts
        )
    if isinstance(err, E.BillingError):
        return False
    return isinstance(err, (E.RateLimited, E.ServerError))


_VESSEL_DOWN = frozenset(
    k.kind for k in (E.VesselUnavailable, E.VesselTimeout, E.AuthError, E.MissingKey, E.BillingError, E.ModelNotFound)
)


def vessel_down(err: BaseException) -> bool:
    """A failure of the vessel itself, which the next prompt will meet too (down, timing out,
    refusing the key or the model) — not of this prompt (a 400, a broken stream)."""
    if isinstance(err, E.AllVesselsFailed):
        return bool(err.attempts) and all(
            a.error_kind in _VESSEL_DOWN or a.outcome == "unhealthy" for a in err.attempts
        )
    return getattr(err, "kind", None) in _VESSEL_DOWN


def wait_asked(err: BaseException) -> float | None:
    """The longest wait the provider(s) asked for in this failure, if any did."""
    if isinstance(err, E.AllVesselsFailed):
        waits = [w for f in err.failures.values() if (w := wait_asked(f)) is not None]
        return max(waits) if waits else None
    return getattr(err, "retry_after", None)


class Gate:
    """One vessel's share of a run: at most ``limit`` calls at once, and a pause they all honour."""

    def __init__(self, name: str, limit: int, give_up_after: int | None = None) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise E.ConfigError(
                f"the concurrency of {name!r} must be a whole number of calls, 1 or more, not {limit!r}"
            )
        self.name = name
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._resume_at = 0.0
        self._backoff = _FIRST_BACKOFF
        self.in_flight = 0
        """calls on this vessel right now"""
        self.rate_limited = 0
        """how many times the vessel asked the run to slow down"""
        self.answered = 0
        """calls of the run this vessel answered"""
        self.paused_total = 0.0
        """seconds the vessel has been paused for, all pauses together (overlaps counted once)"""
        self.give_up_after = give_up_after
        """rounds of slowing down in a row, with no answer, after which the run stops asking"""
        self.rounds = 0
        """pauses so far, a burst of calls failing together counted once (see :meth:`slow_down`)"""
        self.failing = 0
        """rounds in a row since the vessel last answered"""
        self._woken: asyncio.Event | None = None  # made on the loop: set when the gate gives up

    @property
    def gave_up(self) -> bool:
        """The vessel slowed the run down ``give_up_after`` rounds in a row without answering."""
        return self.give_up_after is not None and self.failing > self.give_up_after

    def paused_for(self) -> float:
        """Seconds until calls may start again (0 when not paused, or given up)."""
        if self.gave_up:
            return 0.0
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    def slow_down(self, err: BaseException, seen_round: int | None = None) -> float:
        """The vessel asked to slow down: pause every call of the run to it. Returns the pause.

        ``seen_round``: :attr:`rounds` when the failed call started. A call that started
        before the latest pause failed in the same burst: it lengthens the pause (to its own
        Retry-After) but is not a new round, and does not double the backoff."""
        self.rate_limited += 1
        new_round = seen_round is None or seen_round == self.rounds
        asked = wait_asked(err)
        if asked is not None:
            pause = min(max(asked, 0.0), _MAX_PAUSE)
        elif new_round:
            pause, self._backoff = self._backoff, min(self._backoff * 2, _MAX_BACKOFF)
        else:
            pause = 0.0
        if new_round:
            self.rounds += 1
            self.failing += 1
            if self.gave_up:  # no more waiting: the calls waiting out the pause stop now
                if self._woken is not None:
                    self._woken.set()
                return 0.0
        now = asyncio.get_running_loop().time()
        until = max(self._resume_at, now + pause)
        self.paused_total += until - max(self._resume_at, now)
        self._resume_at = until
        return pause

    def failed(self, seen_round: int | None = None) -> None:
        """The vessel itself failed a call (see :func:`vessel_down`): a round like a slow-down
        (calls failing together count once), without a pause — waiting would not cure it."""
        if seen_round is None or seen_round == self.rounds:
            self.rounds += 1
            self.failing += 1
            if self.gave_up and self._woken is not None:
                self._woken.set()

    def went_well(self) -> None:
        """A call answered: the next slow-down starts from the first backoff again."""
        self.answered += 1
        self.failing = 0
        self._backoff = _FIRST_BACKOFF

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the vessel's slots, starting only once any pause has passed."""
        if self._woken is None:
            self._woken = asyncio.Event()
        async with self._slots:
            # a pause may be set or lengthened while this call waits: check again after each wait
            while (left := self.paused_for()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), left)
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1

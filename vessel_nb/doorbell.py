"""Callbacks for an event loop from other threads, with one wake-up for many of them.

Why: ``loop.call_soon_threadsafe`` writes a byte to the loop's self-pipe every time. Each
write is a system call that wakes the other thread, which then wants the GIL back; with
hundreds of streams crossing threads at once (``orch.stream`` from a notebook's loop, see
:mod:`.handoff`) the two threads spent their time handing the GIL to each other, a few
times per call. A :class:`Doorbell` rings the loop once and runs every callback queued
until the loop gets to them, in the order they came, each in the context it was queued in
(as ``call_soon_threadsafe`` would).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

#: a ring the loop has not answered for this long is rung again (a lost ring, or a busy loop)
_RING_AGAIN = 1.0


class Doorbell:
    """Queue callbacks for ``loop`` from any thread; the loop is woken once per batch."""

    __slots__ = ("loop", "_lock", "_queued", "_rung", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._queued: list[tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...]]] = []
        self._rung: float | None = None  # when the loop was rung for the queue it has not run yet

    def ring(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon. RuntimeError when the loop is closed."""
        item = (contextvars.copy_context(), fn, args)
        now = time.monotonic()
        with self._lock:
            self._queued.append(item)
            if self._rung is not None and now - self._rung < _RING_AGAIN:
                return  # the loop is rung already and has not got to the queue yet
            self._rung = now
        # Rung outside the lock: holding it through the system call made the woken loop wait
        # for it. A ring lost in between (a KeyboardInterrupt lands between any two steps)
        # is made good by the first ring after _RING_AGAIN: nothing waits forever.
        try:
            self.loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed: nothing queued will ever run
            with self._lock:
                self._queued.clear()
                self._rung = None
            raise
        except BaseException:  # interrupted: the next ring rings
            with self._lock:
                self._rung = None
            raise

    def _run(self) -> None:
        with self._lock:
            queued, self._queued, self._rung = self._queued, [], None
        for i, (context, fn, args) in enumerate(queued):
            try:
                context.run(fn, *args)
            except (SystemExit, KeyboardInterrupt):
                # An interrupt (the kernel's, on a notebook's own loop) must not lose the
                # callbacks after this one: they may be other streams' wake-ups, whose
                # consumers would otherwise wait forever. They go back first in the queue.
                rest = queued[i + 1 :]
                if rest:
                    with self._lock:
                        self._queued[:0] = rest
                        ring = self._rung is None
                        if ring:
                            self._rung = time.monotonic()
                    if ring:
                        self.loop.call_soon(self._run)  # on the loop's own thread: no self-pipe
                raise
            except BaseException as exc:  # noqa: BLE001 — reported as the loop reports a callback's error
                self.loop.call_exception_handler({"message": f"Exception in callback {fn!r}", "exception": exc})


_bells: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Doorbell] = weakref.WeakKeyDictionary()
_bells_lock = threading.Lock()


def for_loop(loop: asyncio.AbstractEventLoop) -> Doorbell:
    """The doorbell of ``loop`` (one per loop, so its callbacks share the wake-ups)."""
    bell = _bells.get(loop)
    if bell is None:
        with _bells_lock:
            bell = _bells.get(loop)
            if bell is None:
                bell = _bells[loop] = Doorbell(loop)
    return bell

"""Hand a stream produced on the background loop to a consumer on another thread, in batches.

Why not one hop per item: a 20,000-token answer is 20,000 items, and waking another thread
costs tens of microseconds (a self-pipe write, a futex, a GIL hand-over) — more than
parsing the item. So the producer task reads ahead into a bounded buffer and the consumer
takes everything buffered at once:

- **at most one wake-up per batch**: the producer wakes the consumer only when it is
  waiting, and only when the producer itself pauses (waits for data or for room) or has
  ``BATCH`` items ready, so the items parsed from bytes already received go over together;
  woken per item instead, the two threads took turns item by item (17 wake-ups for a
  20-token answer, against 4);
- **backpressure**: at ``limit`` buffered items the producer waits until the consumer takes
  them, so a slow consumer never makes the buffer (or the connection's data) pile up;
- **prompt first item**: after the first item the producer waits until the consumer has
  taken it. Otherwise, on a fast stream, the loop thread keeps the GIL busy parsing and
  the consumer would see its first token together with the last (CPython only hands the
  GIL over after a 5 ms switch interval or when the holder blocks);
- **cancellation**: :meth:`Handoff.stop` cancels the producer task and waits until its
  ``finally`` blocks (closing the connection, logging the attempt 'cancelled') have run.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from . import doorbell

#: items read ahead before the producer waits for the consumer
LIMIT = 256
#: items after which a waiting consumer is woken without waiting for the producer to pause
BATCH = 32


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Handoff:
    """A bounded buffer between one producer task on ``loop`` and one consumer elsewhere.

    ``wakeups`` counts the cross-thread wake-ups (both directions), for tests and the bench.
    """

    def __init__(
        self, agen_factory: Callable[[], AsyncIterator[Any]], loop: asyncio.AbstractEventLoop, limit: int = LIMIT
    ) -> None:
        self._factory = agen_factory
        self._loop = loop
        self._bell = doorbell.for_loop(loop)  # the wake-ups of every stream share the loop's
        self._limit = max(1, limit)
        self._lock = threading.Lock()
        self._items: deque[Any] = deque()
        self._wake: Callable[[], Any] | None = None  # set while the consumer waits
        self._space: asyncio.Future[None] | None = None  # set while the producer waits
        self._first = True
        self._flush_due = False  # a wake-up of the consumer is scheduled on the loop
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._task: asyncio.Task[None] | None = None
        self.wakeups = 0

    def start(self) -> Handoff:
        """Schedule the producer on the background loop; returns at once."""
        self._bell.ring(self._start_here)
        return self

    # --- producer side (background loop thread) -------------------------------------------
    def _start_here(self) -> None:
        with self._lock:
            if self._cancelled:  # stopped before it began: nothing was opened
                self._finish_locked(None)
                wake = self._take_wake_locked()
            else:
                self._task = self._loop.create_task(self._produce())
                wake = None
        if wake is not None:
            wake()

    async def _produce(self) -> None:
        error: BaseException | None = None
        agen = self._factory()
        try:
            async for item in agen:
                await self._put(item)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 — every outcome goes to the consumer
            error = exc
        finally:
            try:
                await agen.aclose()
            finally:
                with self._lock:
                    self._finish_locked(error)
                    wake = self._take_wake_locked()
                if wake is not None:
                    wake()

    async def _put(self, item: Any) -> None:
        space = wake = None
        with self._lock:
            self._items.append(item)
            if self._first or len(self._items) >= self._limit:
                self._first = False
                space = self._space = self._loop.create_future()
                wake = self._take_wake_locked()  # the producer waits next: wake the consumer now
            elif len(self._items) >= BATCH:
                wake = self._take_wake_locked()  # a long run of buffered items: hand over a part
            elif not self._flush_due:
                # Wake the consumer when this task next gives the loop a turn (it waits for
                # data, or hits backpressure), not per item: items parsed from bytes already
                # received go over as one batch instead of one wake-up each.
                self._flush_due = True
                self._loop.call_soon(self._flush)
        if wake is not None:
            wake()
        if space is not None:
            await space

    def _flush(self) -> None:
        with self._lock:
            self._flush_due = False
            # nothing to hand over when the consumer took it all meanwhile (at the limit)
            wake = self._take_wake_locked() if self._items else None
        if wake is not None:
            wake()

    def _finish_locked(self, error: BaseException | None) -> None:
        self._done = True
        self._error = error

    def _take_wake_locked(self) -> Callable[[], Any] | None:
        wake, self._wake = self._wake, None
        if wake is not None:
            self.wakeups += 1
        return wake

    # --- consumer side (any other thread) ----------------------------------------------------
    def _batch_locked(self) -> deque[Any] | None:
        """What is buffered, or None when there is nothing; frees a waiting producer."""
        if not self._items:
            return None
        batch, self._items = self._items, deque()
        space, self._space = self._space, None
        if space is not None:
            self.wakeups += 1
            self._bell.ring(_resolve, space)
        return batch

    def _end(self) -> list[Any]:
        if self._error is not None and not self._cancelled:
            error, self._error = self._error, None
            raise error
        return []

    def take_sync(self, timeout: float) -> deque[Any] | list[Any] | None:
        """The next batch; ``[]`` at the end; None when ``timeout`` passed with nothing new.

        Raises the producer's exception (after its clean-up has run) when it failed.
        """
        with self._lock:
            batch = self._batch_locked()
            if batch is not None:
                return batch
            if self._done:
                return self._end()
            waiter = threading.Lock()
            waiter.acquire()
            self._wake = waiter.release
        if not waiter.acquire(timeout=timeout):
            with self._lock:
                if self._wake == waiter.release:
                    self._wake = None
            return None
        return self.take_sync(0)

    async def take_async(self) -> deque[Any] | list[Any]:
        """The next batch, ``[]`` at the end (awaited on the consumer's own event loop)."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                batch = self._batch_locked()
                if batch is not None:
                    return batch
                if self._done:
                    return self._end()
                fut = loop.create_future()
                self._wake = functools.partial(_call_threadsafe, doorbell.for_loop(loop), fut)
            try:
                await fut
            finally:
                with self._lock:
                    self._wake = None

    # --- stopping ------------------------------------------------------------------------------
    def _cancel(self) -> bool:
        """Ask the producer to stop; True when it has already finished."""
        with self._lock:
            if self._done:
                return True
            self._cancelled = True
            task = self._task
            self._items.clear()
            space, self._space = self._space, None
        if task is not None:
            self._bell.ring(task.cancel)
        elif space is not None:
            self._bell.ring(_resolve, space)
        return False

    def stop_sync(self, timeout: float = 10.0) -> None:
        """Cancel the producer (if still running) and wait, in slices, until it has finished."""
        if self._cancel():
            return
        remaining = timeout
        try:
            while remaining > 0:
                if self.take_sync(0.1) == []:
                    return
                remaining -= 0.1
        except KeyboardInterrupt:  # a second interrupt while cleaning up: stop waiting
            pass

    async def stop_async(self) -> None:
        """Cancel the producer (if still running) and wait until it has finished."""
        if self._cancel():
            return
        while await self.take_async():
            pass


def _call_threadsafe(bell: doorbell.Doorbell, fut: asyncio.Future[None]) -> None:
    try:
        bell.ring(_resolve, fut)
    except RuntimeError:  # the consumer's loop was closed: nobody is waiting any more
        pass

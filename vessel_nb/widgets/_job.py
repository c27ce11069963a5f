"""One call run by a panel on vessel_nb's background loop, finished only once it has stopped.

Why not ``orch.submit``'s CallHandle: its ``cancel()`` cancels the concurrent future, and
that future reports "done" (running its callbacks) at once, while the asyncio task is still
closing the connection and logging the 'cancelled' attempt. A panel that said "stopped"
then would let ``orch.log.df`` miss the row for a moment. Here the panel's own coroutine
drives ``orch.stream`` and reports the end from inside, after the stream has closed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from .. import errors as E
from .. import loop as bg
from ..types import Chunk, Reply

OnChunk = Callable[[Chunk], None]
OnEnd = Callable[[Reply | None, BaseException | None], None]


class Job:
    """Stream one call on the background loop; ``on_chunk`` and then ``on_end`` run there.

    ``on_end(reply, error)`` runs exactly once, after the stream has closed: error is the
    call's exception, or :class:`asyncio.CancelledError` when :meth:`cancel` stopped it.
    """

    def __init__(self, orch: Any, messages: Any, options: dict[str, Any], on_chunk: OnChunk, on_end: OnEnd) -> None:
        self._orch = orch
        self._messages = messages
        self._options = options
        self._on_chunk = on_chunk
        self._on_end = on_end
        self._task: asyncio.Task | None = None
        self._cancelled = False

    def start(self) -> Job:
        """Begin on the background loop; returns at once."""
        bg.submit(self._run())
        return self

    def cancel(self) -> None:
        """Stop the call: the connection is closed and the attempt logged 'cancelled', then on_end runs."""
        bg.get_loop().call_soon_threadsafe(self._cancel_here)

    def _cancel_here(self) -> None:
        # On the loop thread, like _run: either the task exists and is cancelled, or it sees the flag.
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        self._task = asyncio.current_task()
        reply: Reply | None = None
        error: BaseException | None = None
        try:
            if self._cancelled:
                raise asyncio.CancelledError
            async with aclosing(self._orch.stream(self._messages, **self._options)) as chunks:
                async for chunk in chunks:
                    if chunk.done and chunk.reply is not None:
                        reply = chunk.reply
                    self._on_chunk(chunk)
            if reply is None:
                error = E.VesselNBError("the stream ended without a reply")
        except asyncio.CancelledError as exc:  # our own task: Stop ends here, nothing awaits it
            error = exc
        except Exception as exc:  # noqa: BLE001 — every failure is shown to the person
            error = exc
        try:
            self._on_end(reply, error)
        except Exception:  # a bug in a panel must not vanish into an unretrieved task
            logging.getLogger(__name__).exception("vessel_nb panel: finishing a call failed")


def wait_event(event: threading.Event, timeout: float | None, on_interrupt: Callable[[], None]) -> bool:
    """Wait in short slices so a kernel interrupt lands; on interrupt call ``on_interrupt`` and re-raise."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not event.wait(0.1):
            if deadline is not None and time.monotonic() >= deadline:
                return False
    except KeyboardInterrupt:
        on_interrupt()
        raise
    return True


def is_cancel(exc: BaseException | None) -> bool:
    """The call was stopped by the person (Stop, interrupt, close)."""
    return isinstance(exc, asyncio.CancelledError)

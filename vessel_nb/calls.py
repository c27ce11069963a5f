"""The shapes a call can take besides the orchestrator's own: input checking, a call running
in the background (:class:`CallHandle`), and collecting a stream into a :class:`Reply`."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from . import checks
from . import errors as E
from . import loop as bg
from .privacy import MARK
from .types import Chunk, Message, Reply


def normalize_messages(messages: str | Sequence[Message]) -> list[Message]:
    """Accept a prompt string or a list of {"role", "content"} dicts; reject anything else clearly."""
    if isinstance(messages, str):
        if not messages.strip():
            raise E.ConfigError("the prompt is empty; write a question")
        return [{"role": "user", "content": checks.text(messages, "the prompt")}]
    if not isinstance(messages, Sequence) or not messages:
        raise E.ConfigError(
            "messages must be a prompt string or a non-empty list of {'role': ..., 'content': ...} dicts"
        )
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise E.ConfigError(f"message {i} must be a dict with 'role' and 'content', got {m!r:.80}")
        if m["role"] not in ("system", "user", "assistant"):
            raise E.ConfigError(f"message {i} has role {m['role']!r}; use 'system', 'user' or 'assistant'")
        if not isinstance(m["content"], str):
            raise E.ConfigError(f"message {i} content must be text (pass images with images=[...])")
        msg = {"role": m["role"], "content": checks.text(m["content"], f"message {i}")}
        if MARK in m:
            # the mark is kept only as a real bool: "false" must not quietly mean private or not
            msg[MARK] = checks.typed(m[MARK], bool, f"message {i} {MARK!r}", "True or False")
        out.append(msg)
    if not any(m["role"] == "user" for m in out):
        raise E.ConfigError("messages need at least one 'user' message")
    return out


class CallHandle:
    """A call running in the background (see :meth:`AIOrchestrator.submit`)."""

    def __init__(self, gen: AsyncIterator[Chunk], on_chunk: Callable[[Chunk], Any] | None) -> None:
        self._task: asyncio.Task | None = None
        self._cancel_early = False

        async def run() -> Reply:
            self._task = asyncio.current_task()
            if self._cancel_early:
                await gen.aclose()
                raise asyncio.CancelledError
            return await collect(gen, on_chunk)

        self._future: concurrent.futures.Future[Reply] = bg.submit(run())

    def cancel(self) -> None:
        """Stop the call; the upstream connection is closed and the attempt logged 'cancelled'.

        The handle reports done only after that has happened (cancelling the outer future
        directly would report done while the call is still closing)."""
        bg.get_loop().call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        else:
            self._cancel_early = True

    def done(self) -> bool:
        """The call has finished (answered, failed or cancelled)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> Reply:
        """The reply (raises the call's error, or CancelledError)."""
        return self._future.result(timeout)

    def add_done_callback(self, fn: Callable[[CallHandle], Any]) -> None:
        """Call fn(handle) when the call finishes (on the loop thread)."""
        self._future.add_done_callback(lambda _f: fn(self))


async def collect(gen: AsyncIterator[Chunk], on_chunk: Callable[[Chunk], Any] | None = None) -> Reply:
    """Run a call's stream to its end and return the reply (calling ``on_chunk`` per chunk)."""
    async with aclosing(gen) as chunks:
        async for chunk in chunks:
            if on_chunk is not None:
                on_chunk(chunk)
            if chunk.done and chunk.reply is not None:
                return chunk.reply
    raise E.VesselNBError("the stream ended without a reply")  # not reachable by design

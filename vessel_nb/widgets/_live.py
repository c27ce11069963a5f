"""Streaming text to the browser in few, small messages (shared by both panels).

Traffic stays proportional to the text. While an answer streams, only the new text goes
out, as custom messages (``{"t": "delta", "id", "seq", "text", "done", "tail"}``: the raw
text and, at most every 0.1 s, HTML for Markdown blocks that became complete and HTML of
the block still open — see :mod:`._markdown`) coalesced every ``interval`` seconds; the whole text is put into a trait once, when the answer ends, so a
reloaded or re-rendered view shows everything. A view that joins mid-stream asks for a
``snapshot`` of the text so far (``seq`` tells it which later deltas still apply).

Threads: chunks arrive on vessel_nb's background loop thread, a view's request on the
kernel thread. ipykernel's iopub socket is thread-safe; :data:`WIRE_LOCK` keeps every
message these widgets send, and the state each one describes, in one order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ._markdown import MarkdownStream

WIRE_LOCK = threading.RLock()
"""Held while a widget message is built and sent, so state and wire order agree."""

Post = Callable[[dict[str, Any]], None]


class LiveText:
    """The text of one streaming answer, sent to the views as coalesced deltas.

    ``feed`` is called per chunk (on the loop thread); the pending text goes out at most
    every ``interval`` seconds (0 = every chunk). ``snapshot`` gives the text already sent,
    with its sequence number, for a view that joins late.
    """

    def __init__(self, post: Post, key: dict[str, Any], interval: float = 0.05) -> None:
        self._post = post
        self._key = key
        self._interval = interval
        self._sent: list[str] = []
        self._sent_thinking: list[str] = []
        self._pending: list[str] = []
        self._pending_thinking: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._first: float | None = None
        self._md = MarkdownStream()
        self.seq = 0
        self.closed = False

    @property
    def text(self) -> str:
        """All answer text received so far (sent or pending)."""
        with WIRE_LOCK:
            return "".join(self._sent) + "".join(self._pending)

    @property
    def thinking(self) -> str:
        """All reasoning text received so far."""
        with WIRE_LOCK:
            return "".join(self._sent_thinking) + "".join(self._pending_thinking)

    def feed(self, text: str = "", thinking: str = "", *, first: float | None = None) -> None:
        """Add text; it goes out with the next flush. ``first`` (seconds) rides on the first delta."""
        if not (text or thinking):
            return
        with WIRE_LOCK:
            if self.closed:
                return
            if first is not None and self._first is None:
                self._first = first
            if text:  # most chunks carry one of the two: append nothing for the other
                self._pending.append(text)
            if thinking:
                self._pending_thinking.append(thinking)
            if self._interval <= 0:
                self._flush_locked()
            elif self._timer is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # fed from plain code (tests): no timer to wait for
                    self._flush_locked()
                else:
                    self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Send the pending text now."""
        with WIRE_LOCK:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        text, thinking = "".join(self._pending), "".join(self._pending_thinking)
        if not (text or thinking):
            return
        self._pending.clear()
        self._pending_thinking.clear()
        self._sent.append(text)
        self._sent_thinking.append(thinking)
        self.seq += 1
        msg: dict[str, Any] = {"t": "delta", **self._key, "seq": self.seq, "text": text}
        rendered = self._md.push(text) if text else None
        if rendered is not None:
            msg["done"], msg["tail"] = rendered
        if thinking:
            msg["thinking"] = thinking
        if self._first is not None and self.seq == 1:
            msg["first"] = round(self._first, 3)
        self._post(msg)

    def reset(self) -> None:
        """Forget the text: an opt-in restart discards the partial answer, a fallback the
        reasoning shown without an answer."""
        with WIRE_LOCK:
            self._flush_locked()
            self._sent.clear()
            self._sent_thinking.clear()
            self._md.reset()
            self._first = None
            self.seq += 1
            self._post({"t": "reset", **self._key, "seq": self.seq})

    def close(self) -> None:
        """Send what is pending and ignore anything fed later (a late chunk after Stop)."""
        with WIRE_LOCK:
            self._flush_locked()
            self.closed = True

    def snapshot(self) -> dict[str, Any]:
        """The text already sent and its sequence number (call with WIRE_LOCK held)."""
        snap: dict[str, Any] = {
            "text": "".join(self._sent),
            "thinking": "".join(self._sent_thinking),
            "seq": self.seq,
            "done": self._md.done_html,
            "tail": self._md.tail_html,
            "pending": self._md.pending,
        }
        if self._first is not None:
            snap["first"] = round(self._first, 3)
        return snap

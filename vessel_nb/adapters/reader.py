"""How an adapter reads one attempt's stream: a line at a time, synchronously, into Deltas.

Why not an async generator over the lines (as version 1 had): a 20,000-token answer is
20,000 lines, and every async generator layer a line crosses (lines -> events -> deltas)
costs more than reading it. The HTTP loop (:func:`.httpio.stream_deltas`) splits each
network read into lines and hands them to the adapter's :class:`Reader` one by one, with
no suspension in between; the reader keeps whatever state the protocol needs across lines
(an SSE event under construction, Anthropic's running usage counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..wire import SSE, SSEDecoder

if TYPE_CHECKING:
    from ..types import Delta
    from .base import BaseAdapter


class Reader:
    """One attempt's stream, read a line at a time (a new reader per attempt)."""

    __slots__ = ("adapter", "model")

    def __init__(self, adapter: BaseAdapter) -> None:
        self.adapter = adapter
        self.model: str | None = None
        """the model of the text a plain ``str`` from :meth:`line` stands for"""

    def line(self, line: str) -> Delta | str | None:
        """Read one line (without its ending); the Delta it completes, if any. In-band errors
        and data of the wrong shape raise the vessel's StreamError.

        A non-empty ``str`` is short for ``Delta(text=it, model=self.model)``: the fast path
        of the common token hands over its bare text, which the stream loop appends to the
        text it holds without building a Delta per token (``model`` changes only on a line
        that returns a Delta)."""
        raise NotImplementedError

    def end(self) -> Iterator[Delta]:
        """The body ended: Deltas of what was left unfinished (an SSE event without its blank line)."""
        return iter(())


class SSEReader(Reader):
    """A reader for an SSE stream: subclasses read complete events in :meth:`event`."""

    __slots__ = ("_sse",)

    def __init__(self, adapter: BaseAdapter) -> None:
        super().__init__(adapter)
        self._sse = SSEDecoder()

    def line(self, line: str) -> Delta | str | None:  # noqa: D102
        sse = self._sse.line(line)
        return None if sse is None else self.event(sse)

    def end(self) -> Iterator[Delta]:  # noqa: D102
        for sse in self._sse.flush():
            delta = self.event(sse)
            if delta is not None:
                yield delta

    def event(self, sse: SSE) -> Delta | str | None:
        """Read one complete event (a ``str`` as in :meth:`Reader.line`)."""
        raise NotImplementedError

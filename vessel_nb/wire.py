"""Incremental decoders for the three stream framings the providers use.

Bytes arrive split anywhere: inside a line, inside a CRLF pair, inside a multi-byte
UTF-8 character. These decoders keep what they cannot finish yet and never guess.

- :func:`aiter_lines` — bytes -> text lines (CRLF, LF or CR), for NDJSON and SSE.
- :class:`SSEDecoder` — WHATWG event-stream parsing (``event``/``data``/comments), plus the
  one deviation the real world needs: Gemini writes a mid-stream error as raw, pretty-printed
  JSON with no ``data:`` prefix. A strict parser drops those lines and sees a clean end, so
  lines that are not SSE fields are gathered until their braces balance and surfaced as a
  ``raw`` event (python-genai does the same in ``_iter_response_stream``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

_NEWLINE = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Feed text pieces, get complete lines; a CR at the end of a piece waits for a LF."""

    def __init__(self) -> None:
        self._buf = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> list[str]:
        """Add bytes; return the lines completed by them (without their line endings)."""
        text = self._buf + self._decoder.decode(data)
        held = ""
        if text.endswith("\r"):  # might be the first half of CRLF: wait for more
            text, held = text[:-1], "\r"
        parts = _NEWLINE.split(text)
        self._buf = parts.pop() + held
        return parts

    def flush(self) -> list[str]:
        """End of input: return the unterminated last line, if any."""
        text = self._buf + self._decoder.decode(b"", final=True)
        self._buf = ""
        if text.endswith("\r"):
            text = text[:-1]
        return [text] if text else []


async def aiter_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """Split a byte stream into text lines; the unterminated tail is yielded last."""
    splitter = LineSplitter()
    async for data in chunks:
        for line in splitter.feed(data):
            yield line
    for line in splitter.flush():
        yield line


@dataclass
class SSE:
    """One server-sent event (or a raw non-SSE JSON block when ``raw`` is True)."""

    event: str = "message"
    data: str = ""
    raw: bool = False


_FIELDS = ("data", "event", "id", "retry")


class SSEDecoder:
    """Line-at-a-time SSE parser. :meth:`line` returns an event when one is complete."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._raw: list[str] = []
        self._depth = 0

    def line(self, line: str) -> SSE | None:
        """Consume one line (without its ending)."""
        if self._raw:
            return self._raw_line(line)
        if line == "":
            if not self._data:
                self._event = ""
                return None
            sse = SSE(event=self._event or "message", data="\n".join(self._data))
            self._event, self._data = "", []
            return sse
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name in _FIELDS:
            pass  # id / retry: not needed for one-shot completions
        elif line.lstrip().startswith(("{", "[")):
            return self._raw_line(line)
        # any other unknown field is ignored, as the spec says
        return None

    def _raw_line(self, line: str) -> SSE | None:
        self._raw.append(line)
        self._depth += _brace_delta(line)
        if self._depth <= 0:
            text = "\n".join(self._raw)
            self._raw, self._depth = [], 0
            return SSE(event="raw", data=text, raw=True)
        return None

    def flush(self) -> Iterator[SSE]:
        """End of input: an event left without its blank line still counts, raw text too."""
        if self._data:
            yield SSE(event=self._event or "message", data="\n".join(self._data))
        if self._raw:
            yield SSE(event="raw", data="\n".join(self._raw), raw=True)
        self._event, self._data, self._raw, self._depth = "", [], [], 0


def _brace_delta(line: str) -> int:
    """Net count of JSON braces/brackets opened by a line, ignoring those inside strings."""
    depth = 0
    in_str = False
    escaped = False
    for ch in line:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSE]:
    """Turn text lines into SSE events."""
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.line(line)
        if event is not None:
            yield event
    for event in decoder.flush():
        yield event


def iter_sse(lines: Iterable[str]) -> Iterator[SSE]:
    """Synchronous twin of :func:`aiter_sse` (used by tests and the benchmarks)."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.line(line)
        if event is not None:
            yield event
    yield from decoder.flush()

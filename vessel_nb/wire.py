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

import re
from codecs import utf_8_decode as _utf8_decode
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

_NEWLINE = re.compile(r"\r\n|\r|\n")

MAX_LINE = 8 * 1024 * 1024
"""The longest line accepted (characters). A server that never sends a newline must not
make us hold its whole body in memory."""


class LineTooLong(ValueError):
    """A line grew past :data:`MAX_LINE`; the adapter reports it as a stream error."""


class LineSplitter:
    """Feed byte pieces, get complete lines; a CR at the end of a piece waits for a LF.

    Linear in its input: each piece is decoded and scanned once. The unfinished line is
    kept as a list of pieces and joined once, when its newline arrives (rescanning the
    held text on every piece made a long line quadratic).
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._held: list[str] = []  # pieces of the unfinished line
        self._held_len = 0
        self._cr = False  # the last piece ended with CR: maybe the first half of CRLF
        self._max = max_line
        self._bytes = b""  # the start of a UTF-8 character split by the piece's end

    def _decode(self, data: bytes, final: bool) -> str:
        # What codecs' incremental UTF-8 decoder does, without its Python layer (a cost per
        # piece, and a piece is one token): keep an unfinished character for the next piece.
        if self._bytes:
            data = self._bytes + data
        text, used = _utf8_decode(data, "replace", final)
        self._bytes = data[used:] if used < len(data) else b""
        return text

    def feed(self, data: bytes) -> list[str]:
        """Add bytes; return the lines completed by them (without their line endings)."""
        if data[-1:] == b"\n" and not (self._held or self._cr or self._bytes) and len(data) <= self._max:
            # The common piece (one token's): whole lines and nothing held, so no character
            # is cut at either end, and no line can be too long.
            text = data.decode("utf-8", "replace")
            if "\r" not in text:
                lines = text.split("\n")
                lines.pop()
                return lines
            return self._split(text, final=False)
        return self._split(self._decode(data, False), final=False)

    def flush(self) -> list[str]:
        """End of input: return the unterminated last line, if any."""
        lines = self._split(self._decode(b"", True), final=True)
        if self._held:
            lines.append("".join(self._held))
        self._held, self._held_len = [], 0
        return lines

    def _split(self, text: str, *, final: bool) -> list[str]:
        if self._cr:
            text = "\r" + text
            self._cr = False
        if not final and text.endswith("\r"):
            text = text[:-1]
            self._cr = True
        if "\r" in text:
            lines = _NEWLINE.split(text)
        elif "\n" in text:
            lines = text.split("\n")  # the common case, several times faster than the regex
        else:
            if text:
                self._hold(text)
            return []
        tail = lines.pop()
        if self._held:
            self._held.append(lines[0])
            lines[0] = "".join(self._held)
            self._held, self._held_len = [], 0
        if len(text) + len(lines[0]) > self._max:  # only then can a completed line be too long
            for line in lines:
                self._check(len(line))
        if tail:
            self._hold(tail)
        return lines

    def _hold(self, text: str) -> None:
        self._held.append(text)
        self._held_len += len(text)
        self._check(self._held_len)

    def _check(self, length: int) -> None:
        if length > self._max:
            raise LineTooLong(
                f"the server sent a line of more than {self._max:,} characters without a line break"
                " (not a stream this vessel's protocol can produce)"
            )


async def aiter_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """Split a byte stream into text lines; the unterminated tail is yielded last."""
    splitter = LineSplitter()
    async for data in chunks:
        for line in splitter.feed(data):
            yield line
    for line in splitter.flush():
        yield line


@dataclass(slots=True)
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
        if line[:6] == "data: ":  # the common lines, taken without the general parsing below
            self._data.append(line[6:])
            return None
        if line[:7] == "event: ":
            self._event = line[7:]
            return None
        if line == "":
            data = self._data
            if not data:
                self._event = ""
                return None
            sse = SSE(self._event or "message", data[0] if len(data) == 1 else "\n".join(data))
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

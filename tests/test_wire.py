"""The incremental decoders, fed bytes cut at every possible place."""

from __future__ import annotations

import asyncio
import random

import pytest

from vessel_nb import wire
from vessel_nb.wire import LineSplitter, LineTooLong, SSEDecoder, aiter_lines, iter_sse


def split_all_ways(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 4)
        out.append(data[i : i + n])
        i += n
    return out


def lines_of(pieces: list[bytes]) -> list[str]:
    s = LineSplitter()
    out = [line for p in pieces for line in s.feed(p)]
    return out + s.flush()


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("seed", range(20))
def test_lines_survive_any_split_and_any_line_ending(ending, seed):
    text = ending.join(["하늘은 왜 파란가요? 🌈🌊", "", 'data: {"t": "é"}', "last"]) + ending
    assert lines_of(split_all_ways(text.encode(), seed)) == ["하늘은 왜 파란가요? 🌈🌊", "", 'data: {"t": "é"}', "last"]


def test_every_single_byte_split_of_a_multibyte_character():
    data = "가🌈\r\n".encode()
    for cut in range(1, len(data)):
        assert lines_of([data[:cut], data[cut:]]) == ["가🌈"]


def test_unterminated_last_line_is_kept():
    assert lines_of([b"a\nb"]) == ["a", "b"]


def test_aiter_lines_matches_sync():
    async def go():
        async def gen():
            for p in split_all_ways(b"x\r\ny\n", 3):
                yield p

        return [line async for line in aiter_lines(gen())]

    assert asyncio.run(go()) == ["x", "y"]


def test_sse_fields_comments_multiline_data_and_unknown_fields():
    lines = [": keep-alive", "event: ping", 'data: {"type": "ping"}', "", "data: a", "data: b", "id: 7", "foo: bar", ""]
    events = list(iter_sse(lines))
    assert [(e.event, e.data) for e in events] == [("ping", '{"type": "ping"}'), ("message", "a\nb")]


def test_sse_gathers_raw_json_without_data_prefix():
    lines = ['data: {"a": 1}', "", "{", '  "error": {', '    "code": 503,', '    "message": "a } in text"', "  }", "}"]
    events = list(iter_sse(lines))
    assert events[0].data == '{"a": 1}'
    assert events[1].raw and '"code": 503' in events[1].data


def test_sse_event_without_final_blank_line_is_flushed():
    d = SSEDecoder()
    assert d.line("data: [DONE]") is None
    assert [e.data for e in d.flush()] == ["[DONE]"]


class _CountingSplit:
    """Stands in for the newline regex and counts the characters it is asked to scan."""

    def __init__(self, pattern):
        self.pattern, self.scanned = pattern, 0

    def split(self, text):
        self.scanned += len(text)
        return self.pattern.split(text)


def test_a_long_line_is_scanned_once_not_once_per_piece(monkeypatch):
    counter = _CountingSplit(wire._NEWLINE)
    monkeypatch.setattr(wire, "_NEWLINE", counter)
    s = LineSplitter()
    line = "x" * 1_000_000
    piece = 1000
    got = []
    for i in range(0, len(line), piece):
        got += s.feed(line[i : i + piece].encode())
    got += s.feed(b"\r\nnext\r\n")
    assert got == [line, "next"]
    # quadratic rescanning would have examined ~500 million characters here
    assert counter.scanned <= 2 * (len(line) + 8)


def test_line_endings_split_across_pieces_with_held_text():
    assert lines_of([b"ab", b"c\r", b"\nd", b"e\r", b"f", b"\n"]) == ["abc", "de", "f"]
    assert lines_of([b"ab\r", b"\r\n"]) == ["ab", ""]
    assert lines_of([b"tail\r"]) == ["tail"]
    assert lines_of([b"a\r\xe2"]) == ["a", "\ufffd"]


def test_a_line_past_the_cap_is_refused():
    s = LineSplitter(max_line=100)
    assert s.feed(b"x" * 60) == []
    with pytest.raises(LineTooLong, match="more than 100 characters"):
        s.feed(b"y" * 60)
    # a whole over-long line inside one piece is refused too, a line at the cap is not
    assert LineSplitter(max_line=100).feed(b"z" * 100 + b"\n") == ["z" * 100]
    with pytest.raises(LineTooLong):
        LineSplitter(max_line=100).feed(b"ok\n" + b"z" * 101 + b"\nok\n")


def test_the_default_cap_is_8_mb():
    s = LineSplitter()
    chunk = b"x" * (1 << 20)
    for _ in range(8):
        s.feed(chunk)
    with pytest.raises(LineTooLong):
        s.feed(b"x")


def test_an_endless_line_is_the_adapters_stream_error():
    import httpx

    from vessel_nb import OllamaAdapter
    from vessel_nb import errors as E

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):
            for _ in range(9):
                yield b"x" * (1 << 20)

    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=Endless())
    )
    adapter = OllamaAdapter(model="m", transport=transport)

    async def run():
        async for _ in adapter.stream([{"role": "user", "content": "x"}]):
            pass

    with pytest.raises(E.StreamError, match="without a line break") as err:
        asyncio.run(run())
    assert err.value.kind == "stream_error" and err.value.vessel == "ollama"

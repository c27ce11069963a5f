"""Hypothesis against every decoder in wire.py and every adapter's parser: random splits,
garbage, wrong shapes, deep nesting, long lines. A parser may refuse what it reads — as the
vessel's stream error — but never crash, hang or hand over a value of the wrong type.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vessel_nb import ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb import errors as E
from vessel_nb.types import Delta, Usage
from vessel_nb.wire import LineSplitter, SSEDecoder, aiter_lines, iter_sse

from ..transcripts import load

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the four adapters, each with a recorded stream as the template to mutate ---------------


def _events(name: str) -> list[tuple[str, str]]:
    """(event name, data) of each event of a recorded stream."""
    body = load(name).body.decode()
    if name.startswith("ollama-"):
        return [("message", line) for line in body.splitlines() if line.strip()]
    return [(e.event, e.data) for e in iter_sse(re.split(r"\r\n|\r|\n", body))]


TEMPLATES = {
    "ollama": ("ollama-ok-stream.txt", "Rayleigh scattering."),
    "openai": ("openai-ok-stream-2025.txt", "Hello there!"),
    "claude": ("anthropic-ok-stream.txt", "Hello there!"),
    "gemini": ("gemini-ok-stream.txt", None),
}
EVENTS = {vessel: _events(name) for vessel, (name, _) in TEMPLATES.items()}


def encode(vessel: str, events: list[tuple[str, str]]) -> bytes:
    """Frame events the way the vessel's provider does."""
    if vessel == "ollama":
        return "".join(data + "\n" for _, data in events).encode()
    nl = "\r\n" if vessel == "gemini" else "\n"
    out = []
    for event, data in events:
        head = f"event: {event}{nl}" if event != "message" else ""
        out.append(f"{head}data: {data}{nl}{nl}")
    return "".join(out).encode()


def make_adapter(vessel: str, transport: httpx.AsyncBaseTransport):
    cls = {"ollama": OllamaAdapter, "openai": OpenAIAdapter, "claude": ClaudeAdapter, "gemini": GeminiAdapter}[vessel]
    return cls("m", api_key="k-test", base_url="http://127.0.0.1:9", transport=transport)


class Pieces(httpx.AsyncByteStream):
    """A body cut at the given sizes (cycled)."""

    def __init__(self, body: bytes, sizes: list[int]) -> None:
        self.body, self.sizes = body, sizes or [len(body) or 1]

    async def __aiter__(self):
        i = n = 0
        while i < len(self.body):
            size = self.sizes[n % len(self.sizes)]
            yield self.body[i : i + size]
            i, n = i + size, n + 1


def run(vessel: str, body: bytes, sizes: list[int] | None = None) -> list[Delta] | E.VesselError:
    """Stream ``body`` through the vessel's adapter: its deltas, or the VesselError it raised."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Pieces(body, sizes or [])))
    adapter = make_adapter(vessel, transport)

    async def collect():
        try:
            return [d async for d in adapter.stream([{"role": "user", "content": "hi"}])]
        finally:
            await adapter.aclose()

    try:
        return asyncio.run(collect())
    except E.VesselError as exc:
        return exc


def check(result) -> None:
    """The contract: well-typed deltas, or the vessel's stream error."""
    if isinstance(result, E.VesselError):
        assert isinstance(result, E.StreamError) and result.kind == "stream_error", repr(result)
        assert isinstance(result.reason, str) and result.reason
        return
    for d in result:
        assert isinstance(d.text, str) and isinstance(d.thinking, str)
        assert d.stop_reason is None or isinstance(d.stop_reason, str)
        assert d.model is None or isinstance(d.model, str)
        assert d.usage is None or isinstance(d.usage, Usage)
        if d.usage is not None:
            assert all(v is None or isinstance(v, int) for v in (d.usage.tokens_in, d.usage.tokens_out))


VESSELS = sorted(TEMPLATES)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=8,
)


def mutate(value, data, depth: int = 0):
    """Replace one random part of a JSON value (perhaps the whole) by a random JSON value."""
    children = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    if children and depth < 8 and data.draw(st.booleans()):
        key, child = data.draw(st.sampled_from(children))
        copy = dict(value) if isinstance(value, dict) else list(value)
        copy[key] = mutate(child, data, depth + 1)
        return copy
    return data.draw(json_values)


@pytest.mark.parametrize("vessel", VESSELS)
@FUZZ
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6))
def test_random_splits_give_the_same_answer(vessel, sizes):
    events = EVENTS[vessel]
    whole = run(vessel, encode(vessel, events))
    split = run(vessel, encode(vessel, events), sizes)
    check(split)
    assert not isinstance(split, E.VesselError)
    assert "".join(d.text for d in split) == "".join(d.text for d in whole)
    if TEMPLATES[vessel][1]:
        assert "".join(d.text for d in split) == TEMPLATES[vessel][1]


@pytest.mark.parametrize("vessel", VESSELS)
@FUZZ
@given(data=st.data())
def test_wrong_shapes_are_stream_errors(vessel, data):
    events = list(EVENTS[vessel])
    i = data.draw(st.integers(0, len(events) - 1))
    event, raw = events[i]
    if raw.startswith("[DONE]"):
        return
    events[i] = (event, json.dumps(mutate(json.loads(raw), data)))
    check(run(vessel, encode(vessel, events), data.draw(st.lists(st.integers(1, 64), min_size=1, max_size=3))))


@pytest.mark.parametrize("vessel", VESSELS)
@FUZZ
@given(
    garbage=st.binary(min_size=1, max_size=40), where=st.floats(0, 1), sizes=st.lists(st.integers(1, 64), max_size=3)
)
def test_garbage_anywhere_is_a_stream_error_or_ignored(vessel, garbage, where, sizes):
    body = encode(vessel, EVENTS[vessel])
    at = int(where * len(body))
    check(run(vessel, body[:at] + garbage + body[at:], sizes))


@pytest.mark.parametrize("vessel", VESSELS)
@pytest.mark.parametrize("depth", [100_000, 900])
def test_deep_nesting_is_a_stream_error(vessel, depth):
    # 100,000 levels is past what json can read; 900 levels is read, in the wrong place
    deep = "[" * depth + "]" * depth
    events = list(EVENTS[vessel])
    events.insert(1, events[1][:1] + (deep,))
    result = run(vessel, encode(vessel, events))
    assert isinstance(result, E.StreamError) and result.kind == "stream_error"
    assert "nested too deeply" in result.reason or "unexpected data" in result.reason


SHAPES = {
    # a list where an object belongs, a string for choices, a number for text, null everywhere
    "ollama": ['["done", true]', '{"message": "hi", "done": false}', '{"message": {"content": 5}}'],
    "openai": ['{"choices": "abc"}', '{"choices": [5]}', '{"choices": [{"delta": []}]}', '{"usage": "many"}'],
    "claude": [
        '["message_start"]',
        '{"type": "content_block_delta", "delta": "x"}',
        '{"type": "message_start", "message": []}',
    ],
    "gemini": ['{"candidates": {"a": 1}}', '{"candidates": [{"content": {"parts": "x"}}]}', '"text"'],
}


@pytest.mark.parametrize(("vessel", "data"), [(v, d) for v, ds in SHAPES.items() for d in ds])
def test_named_wrong_shapes_say_what_was_wrong(vessel, data):
    events = list(EVENTS[vessel])
    events.insert(1, ("message", data))  # Anthropic's type then comes from the data
    result = run(vessel, encode(vessel, events))
    assert isinstance(result, E.StreamError), result
    assert "unexpected data in the stream" in result.reason and data[:20] in result.reason


@pytest.mark.parametrize("vessel", VESSELS)
def test_null_content_reads_as_empty(vessel):
    nulls = {
        "ollama": '{"message": {"role": "assistant", "content": null}, "done": false}',
        "openai": '{"choices": [{"delta": {"content": null, "reasoning": null}, "finish_reason": null}]}',
        "claude": '{"type": "content_block_delta", "delta": {"type": "text_delta", "text": null}}',
        "gemini": '{"candidates": [{"content": {"parts": [{"text": null}]}}]}',
    }[vessel]
    events = list(EVENTS[vessel])
    events.insert(1, ("content_block_delta" if vessel == "claude" else "message", nulls))
    result = run(vessel, encode(vessel, events))
    check(result)
    assert not isinstance(result, E.VesselError)


@pytest.mark.parametrize("vessel", VESSELS)
def test_a_two_megabyte_line_is_read_whole(vessel):
    big = "x" * 2_000_000
    pieces = {
        "ollama": {"model": "m", "message": {"role": "assistant", "content": big}, "done": False},
        "openai": {"choices": [{"index": 0, "delta": {"content": big}}]},
        "claude": {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": big}},
        "gemini": {"candidates": [{"content": {"parts": [{"text": big}], "role": "model"}}]},
    }[vessel]
    events = list(EVENTS[vessel])
    events.insert(1, ("content_block_delta" if vessel == "claude" else "message", json.dumps(pieces)))
    result = run(vessel, encode(vessel, events), [65536])
    check(result)
    assert big in "".join(d.text for d in result)


@pytest.mark.parametrize("vessel", VESSELS)
def test_a_line_past_the_cap_is_a_stream_error(vessel):
    from vessel_nb.wire import MAX_LINE

    body = encode(vessel, EVENTS[vessel][:1]) + b"x" * (MAX_LINE + 1)
    result = run(vessel, body, [1 << 20])
    assert isinstance(result, E.StreamError) and "without a line break" in result.reason


@pytest.mark.parametrize("vessel", VESSELS)
@FUZZ
@given(status=st.integers(400, 599), data=st.data())
def test_error_bodies_of_any_shape_are_vessel_errors(vessel, status, data):
    body = data.draw(st.one_of(json_values.map(json.dumps), st.just("[" * 50_000), st.text(max_size=50)))
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body.encode()))
    adapter = make_adapter(vessel, transport)

    async def go():
        try:
            return [d async for d in adapter.stream([{"role": "user", "content": "hi"}])]
        finally:
            await adapter.aclose()

    with pytest.raises(E.VesselError) as caught:
        asyncio.run(go())
    assert caught.value.status == status and isinstance(caught.value.reason, str)


def test_ollama_generate_shape_is_read_completely_with_its_reasoning():
    lines = [
        {"model": "m", "response": "", "thinking": "Let me think", "done": False},
        {"model": "m", "response": "", "thinking": " carefully.", "done": False},
        {"model": "m", "response": "Blue", "done": False},
        {"model": "m", "response": " light.", "done": False},
        {"model": "m", "response": "", "done": True, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 4},
    ]
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    for sizes in ([1], [7], [len(body)]):
        result = run("ollama", body, sizes)
        check(result)
        assert "".join(d.text for d in result) == "Blue light."
        assert "".join(d.thinking for d in result) == "Let me think carefully."
        assert result[-1].done and result[-1].usage == Usage(9, 4) and result[-1].stop_reason == "stop"


# --- wire.py's decoders on their own ------------------------------------------------------


def _lines_at_once(data: bytes) -> list[str]:
    s = LineSplitter()
    return s.feed(data) + s.flush()


@FUZZ
@given(
    data=st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", "é".encode(), "😀".encode(), b"\xff", b"data: x"])).map(
        b"".join
    ),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_line_splitter_gives_the_same_lines_however_the_bytes_are_cut(data, sizes):
    s = LineSplitter()
    got: list[str] = []
    i = n = 0
    while i < len(data):
        got += s.feed(data[i : i + sizes[n % len(sizes)]])
        i, n = i + sizes[n % len(sizes)], n + 1
    got += s.flush()
    assert got == _lines_at_once(data)
    text = data.decode("utf-8", "replace")
    expected = re.split(r"\r\n|\r|\n", text)
    if expected and expected[-1] == "":
        expected.pop()
    assert got == expected


@FUZZ
@given(data=st.binary(max_size=300), sizes=st.lists(st.integers(1, 50), min_size=1, max_size=4))
def test_aiter_lines_never_fails_on_any_bytes(data, sizes):
    async def go():
        return [line async for line in aiter_lines(Pieces(data, sizes))]

    lines = asyncio.run(go())
    assert all(isinstance(x, str) and "\n" not in x and "\r" not in x for x in lines)
    assert lines == _lines_at_once(data)


sse_lines = st.lists(
    st.one_of(
        st.just(""),
        st.just(":keep-alive"),
        st.builds(lambda v: f"data: {v}", st.text(max_size=10)),
        st.builds(lambda v: f"event: {v}", st.text(max_size=6)),
        st.sampled_from(["{", "}", "[", "]", '{"error": {', '"a": "}"', "id: 3", "retry: 10", "junk"]),
        st.text(max_size=12),
    ),
    max_size=30,
)


@FUZZ
@given(lines=sse_lines)
def test_sse_decoder_never_fails_and_keeps_every_data_line(lines):
    lines = [x.replace("\r", "").replace("\n", "") for x in lines]
    events = list(iter_sse(lines))
    assert all(isinstance(e.data, str) and isinstance(e.event, str) for e in events)
    # no data line is lost: each appears in some event (raw blocks keep whole lines)
    joined = "\n".join(e.data for e in events)
    for line in lines:
        if line.startswith("data:") and not any(line in e.data for e in events if e.raw):
            assert line[5:].removeprefix(" ") in joined


@FUZZ
@given(events=st.lists(st.tuples(st.sampled_from(["message", "ping", "delta"]), st.text(max_size=20)), max_size=8))
def test_sse_round_trip(events):
    events = [(name, data.replace("\r", "").replace("\n", "")) for name, data in events]
    lines: list[str] = []
    for name, data in events:
        lines += ([f"event: {name}"] if name != "message" else []) + [f"data: {data}", ""]
    decoder = SSEDecoder()
    got = [e for line in lines if (e := decoder.line(line)) is not None]
    got += list(decoder.flush())
    assert [(e.event, e.data) for e in got] == events

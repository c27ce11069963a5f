"""The per-line path of a stream: each adapter's reader takes the common token line at once
and agrees with its general, checking path; the stream loop joins the text of one network
read into one Delta after the first token, without moving anything else."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from vessel_nb import ClaudeAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb import errors as E
from vessel_nb.types import Delta

NDJSON = "application/x-ndjson"


class Reads(httpx.AsyncByteStream):
    """A body delivered as the given pieces, one read each; with ``wait``, each read waits
    for the network first (suspends), as a token sent later does; without, they are
    buffered already (h11 hands over one HTTP chunk per read even then)."""

    def __init__(self, *pieces: bytes, wait: bool = False) -> None:
        self.pieces, self.wait = pieces, wait

    async def __aiter__(self):
        for piece in self.pieces:
            if self.wait:
                await asyncio.sleep(0)
            yield piece


def _adapter(cls, *pieces: bytes, ctype: str = NDJSON, wait: bool = False, **kw):
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-type": ctype}, stream=Reads(*pieces, wait=wait))
    )
    return cls(model="m", transport=transport, **kw)


def _deltas(adapter) -> tuple[list[Delta], BaseException | None]:
    async def run():
        got: list[Delta] = []
        try:
            async for d in adapter.stream([{"role": "user", "content": "x"}]):
                got.append(d)
        except E.VesselError as exc:
            return got, exc
        return got, None

    return asyncio.run(run())


def _token(text: str, *, thinking: str | None = None, model: str = "m") -> bytes:
    msg = (
        {"role": "assistant", "content": text}
        if thinking is None
        else {"role": "assistant", "content": "", "thinking": thinking}
    )
    return json.dumps({"model": model, "created_at": "t", "message": msg, "done": False}).encode() + b"\n"


DONE = b'{"model":"m","created_at":"t","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":5}\n'


def test_the_tokens_of_one_read_are_one_delta_after_the_first():
    body = b"".join(_token(f" w{i}") for i in range(5)) + DONE
    got, err = _deltas(_adapter(OllamaAdapter, body))
    assert err is None
    assert [d.text for d in got] == [" w0", " w1 w2 w3 w4", ""]  # the first token is not held back
    assert got[1].model == "m" and got[1].usage is None and not got[1].done
    end = got[-1]
    assert end.done and end.stop_reason == "stop" and (end.usage.tokens_in, end.usage.tokens_out) == (3, 5)


def test_tokens_already_buffered_are_joined_across_reads():
    got, err = _deltas(_adapter(OllamaAdapter, *[_token(f" w{i}") for i in range(4)], DONE))
    assert err is None
    assert [d.text for d in got] == [" w0", " w1 w2 w3", ""]


def test_text_is_never_held_while_the_next_read_waits_for_the_network():
    got, err = _deltas(_adapter(OllamaAdapter, *[_token(f" w{i}") for i in range(4)], DONE, wait=True))
    assert err is None
    assert [d.text for d in got] == [" w0", " w1", " w2", " w3", ""]


def test_held_text_goes_out_before_the_wait_for_the_next_read():
    async def run():
        gate = asyncio.Event()
        seen: list[str] = []

        class Gated(httpx.AsyncByteStream):
            async def __aiter__(self):
                yield _token("a") + _token("b") + _token("c")
                await gate.wait()  # the vessel pauses: "bc" must reach the caller meanwhile
                yield DONE

        transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-type": NDJSON}, stream=Gated()))
        a = OllamaAdapter(model="m", transport=transport)
        async with asyncio.timeout(10):  # held back, the text would never come: fail, not hang
            async for d in a.stream([{"role": "user", "content": "x"}]):
                seen.append(d.text)
                if d.text == "bc":
                    gate.set()
        return seen

    assert asyncio.run(run()) == ["a", "bc", ""]


def test_reasoning_text_and_model_changes_are_never_joined_together():
    body = (
        _token("", thinking="a")
        + _token("", thinking="b")
        + _token("", thinking="c")
        + _token("x")
        + _token("y")
        + _token("z", model="other")
        + DONE
    )
    got, err = _deltas(_adapter(OllamaAdapter, body))
    assert err is None
    assert [(d.thinking, d.text, d.model) for d in got] == [
        ("a", "", "m"),
        ("bc", "", "m"),
        ("", "xy", "m"),
        ("", "z", "other"),
        ("", "", "m"),
    ]


def test_text_read_before_an_in_band_error_is_passed_on_before_the_error():
    body = b"".join(_token(c) for c in "abcd") + b'{"error":"the runner crashed"}\n'
    got, err = _deltas(_adapter(OllamaAdapter, body))
    assert "".join(d.text for d in got) == "abcd"
    assert isinstance(err, E.StreamError) and "the runner crashed" in str(err)


def test_usage_and_stop_reason_deltas_are_passed_on_alone_and_in_order():
    def chunk(delta: dict, finish=None, usage=None) -> bytes:
        ev = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        ev["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
        if usage is not None:
            ev["usage"] = usage
        return b"data: " + json.dumps(ev).encode() + b"\n\n"

    body = (
        chunk({"role": "assistant", "content": ""})
        + chunk({"content": "a"})
        + chunk({"content": "b"})
        + chunk({"content": "c"})
        + chunk({}, finish="stop")
        + chunk(None, usage={"prompt_tokens": 2, "completion_tokens": 3})
        + b"data: [DONE]\n\n"
    )
    got, err = _deltas(_adapter(OpenAIAdapter, body, ctype="text/event-stream", api_key="k", api="chat"))
    assert err is None
    assert [(d.text, d.stop_reason, d.usage and d.usage.tokens_out, d.done) for d in got] == [
        ("", None, None, False),
        ("a", None, None, False),
        ("bc", None, None, False),
        ("", "stop", None, False),
        ("", None, 3, False),
        ("", None, None, True),
    ]


# --- the fast path of each reader agrees with its general path -------------------------------
OLLAMA_LINES = [
    _token(" word"),
    _token(""),
    _token("", thinking="hmm"),
    b'{"model":"","created_at":"t","message":{"role":"assistant","content":"x"},"done":false}',
    b'{"created_at":"t","message":{"role":"assistant"},"done":false}',
]


def _as_delta(reader, got):
    """A reader's bare text is short for Delta(text=it, model=reader.model)."""
    if isinstance(got, str):
        assert got, "a bare text is never empty"
        return Delta(text=got, model=reader.model)
    return got


@pytest.mark.parametrize("line", OLLAMA_LINES)
def test_ollama_token_lines_read_the_same_on_both_paths(line):
    reader = OllamaAdapter(model="m").reader()
    text = line.decode().strip()
    first, again = reader.line(text), reader.line(text)  # the second may be a bare text
    assert _as_delta(reader, first) == _as_delta(reader, again) == reader._read(json.loads(text))


def test_a_run_of_token_lines_is_bare_text_until_something_changes():
    reader = OllamaAdapter(model="m").reader()
    lines = [_token("a"), _token("b"), _token(""), _token("c"), _token("d", model="o"), _token("e", model="o")]
    lines += [_token("", thinking="t", model="o"), _token("f", model="o")]
    got = [reader.line(line.decode().strip()) for line in lines]
    assert got[1] == "b" and got[3] == "c" and got[5] == "e" and got[7] == "f"  # the fast path was taken
    assert isinstance(got[0], Delta) and isinstance(got[4], Delta)  # a new model is a Delta
    models = ["m", "m", "m", "m", "o", "o", "o", "o"]
    assert [Delta(text=g, model=m) if isinstance(g, str) else g for g, m in zip(got, models, strict=True)] == [
        reader._read(json.loads(line)) for line in lines
    ]


@pytest.mark.parametrize(
    "event",
    [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
        },
        {
            "id": "c",
            "model": "gpt",
            "service_tier": "default",
            "system_fingerprint": "fp",
            "usage": None,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        },
        {"model": "", "choices": [{"delta": {}}]},
        {"choices": [{"delta": {"content": None}}]},
    ],
)
def test_openai_chat_chunks_read_the_same_on_both_paths(event):
    from vessel_nb.wire import SSE

    reader = OpenAIAdapter(model="m", api_key="k", api="chat").reader()
    data = json.dumps(event)
    first, again = reader.event(SSE(data=data)), reader.event(SSE(data=data))  # the second may be a bare text
    assert _as_delta(reader, first) == _as_delta(reader, again) == reader._read(json.loads(data))


def test_anthropic_text_deltas_read_the_same_on_both_paths():
    from vessel_nb.wire import SSE

    reader = ClaudeAdapter(model="m", api_key="k").reader()
    for text in (" hi", ""):
        data = json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
        sse = SSE(event="content_block_delta", data=data)
        got = _as_delta(reader, reader.event(sse))
        assert got == reader._read(sse, json.loads(data)) == Delta(text=text)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (
            b'{"model":"m","created_at":"t","message":{"role":"assistant","content":5},"done":false}',
            "message.content is a number",
        ),
        (
            b'{"model":7,"created_at":"t","message":{"role":"assistant","content":"x"},"done":false}',
            "model is a number",
        ),
        (b'{"model":"m","created_at":"t","message":["x"],"done":false}', "message is an array"),
    ],
)
def test_a_token_line_of_the_wrong_shape_still_gets_the_checking_path(line, why):
    got, err = _deltas(_adapter(OllamaAdapter, line + b"\n" + DONE))
    assert isinstance(err, E.StreamError) and why in str(err)


def test_a_caller_that_stops_while_the_next_read_waits_closes_the_stream_cleanly():
    closed = []

    async def run():
        gate = asyncio.Event()

        class Gated(httpx.AsyncByteStream):
            async def __aiter__(self):
                try:
                    yield _token("a") + _token("b") + _token("c")
                    await gate.wait()  # never set: the caller stops while this read waits
                    yield DONE
                finally:
                    closed.append("body")

            async def aclose(self):
                closed.append("response")

        transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-type": NDJSON}, stream=Gated()))
        a = OllamaAdapter(model="m", transport=transport)
        seen = []
        async with asyncio.timeout(10):
            stream = a.stream([{"role": "user", "content": "x"}])
            async for d in stream:
                seen.append(d.text)
                if d.text == "bc":
                    break
            await stream.aclose()
        return seen

    assert asyncio.run(run()) == ["a", "bc"]
    assert closed == ["body", "response"]


def test_a_compressed_body_is_decoded_before_it_is_read():
    import gzip

    body = gzip.compress(b"".join(_token(f" w{i}") for i in range(3)) + DONE)
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]  # split anywhere, as a socket may
    transport = httpx.MockTransport(
        lambda r: httpx.Response(
            200, headers={"content-type": NDJSON, "content-encoding": "gzip"}, stream=Reads(*pieces)
        )
    )
    got, err = _deltas(OllamaAdapter(model="m", transport=transport))
    assert err is None
    assert "".join(d.text for d in got) == " w0 w1 w2" and got[-1].done


def test_a_body_the_transport_has_read_already_is_still_read():
    body = b"".join(_token(f" w{i}") for i in range(3)) + DONE
    transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-type": NDJSON}, content=body))
    got, err = _deltas(OllamaAdapter(model="m", transport=transport))
    assert err is None
    assert [d.text for d in got] == [" w0", " w1 w2", ""]


GEMINI_EVENTS = [
    {
        "candidates": [{"content": {"parts": [{"text": "Ray"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 15, "candidatesTokenCount": 2, "totalTokenCount": 17},
        "modelVersion": "gemini-2.5-flash-lite",
        "responseId": "r",
    },
    {"candidates": [{"content": {"parts": [{"text": "leigh"}], "role": "model"}}], "modelVersion": "g"},
    {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": "x", "thought": True}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": "end"}], "role": "model"}, "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [{"text": "a"}, {"text": "b"}], "role": "model"}}]},
]


@pytest.mark.parametrize("event", GEMINI_EVENTS)
def test_gemini_events_read_the_same_on_both_paths(event):
    from vessel_nb import GeminiAdapter
    from vessel_nb.wire import SSE

    reader = GeminiAdapter(model="m", api_key="k").reader()
    data = json.dumps(event)
    first, again = reader.event(SSE(data=data)), reader.event(SSE(data=data))  # the second may be a bare text
    assert _as_delta(reader, first) == _as_delta(reader, again) == reader._read(json.loads(data))


def test_responses_text_deltas_read_the_same_as_a_delta():
    from vessel_nb.adapters import openai_responses
    from vessel_nb.wire import SSE

    reader = openai_responses.Reader(OpenAIAdapter(model="m", api_key="k", api="responses"))
    for text in ("Paris", ""):
        data = json.dumps({"type": "response.output_text.delta", "delta": text, "item_id": "i", "output_index": 1})
        assert _as_delta(reader, reader.event(SSE(event="response.output_text.delta", data=data))) == Delta(text=text)

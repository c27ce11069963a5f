"""Reasoning before the answer is not the answer: a vessel that streamed only reasoning and
then failed (an error event, an in-band error in a 200 stream, a cut connection) has shown
no answer, so a routed call falls back, and says the reasoning was discarded.

Each provider's stream is replayed through httpx.MockTransport, in its own wire format."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb import errors as E

KEY = "sk-test-SECRET-0123456789"
THOUGHT = "Let me think about the sky. "


def _sse(*events: tuple[str | None, object], crlf: bool = False) -> bytes:
    end = "\r\n" if crlf else "\n"
    out = []
    for name, data in events:
        head = f"event: {name}{end}" if name else ""
        out.append(f"{head}data: {json.dumps(data)}{end}{end}")
    return "".join(out).encode()


def _ndjson(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


# Reasoning only, as each provider streams it.
REASONING = {
    "ollama": _ndjson(
        {"model": "qwen3", "message": {"role": "assistant", "content": "", "thinking": THOUGHT}, "done": False}
    ),
    "claude": _sse(
        ("message_start", {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 9}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": THOUGHT}},
        ),
    ),
    "openai": _sse((None, {"model": "o-x", "choices": [{"index": 0, "delta": {"reasoning_content": THOUGHT}}]})),
    "gemini": _sse(
        (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": THOUGHT, "thought": True}]}}]}),
        crlf=True,
    ),
}
# Then the provider's own way of failing inside a 200 stream.
ERROR_EVENT = {
    "ollama": _ndjson({"error": "an error was encountered while running the model"}),
    "claude": _sse(("error", {"type": "error", "error": {"type": "api_error", "message": "Internal error"}})),
    "openai": _sse((None, {"error": {"message": "The server had an error", "type": "server_error"}})),
    "gemini": b'{\n  "error": {\n    "code": 500,\n    "message": "Internal error",\n    "status": "INTERNAL"\n  }\n}\r\n',
}
ANSWER = {  # a whole answer after the reasoning (the success case)
    "ollama": _ndjson(
        {"model": "qwen3", "message": {"role": "assistant", "content": "Blue."}, "done": False},
        {"model": "qwen3", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
    ),
    "claude": _sse(
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Blue."}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ),
    "openai": _sse((None, {"choices": [{"index": 0, "delta": {"content": "Blue."}, "finish_reason": "stop"}]}))
    + b"data: [DONE]\n\n",
    "gemini": _sse(
        (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "Blue."}]}, "finishReason": "STOP"}]}),
        crlf=True,
    ),
}
CONTENT_TYPE = {"ollama": "application/x-ndjson"}


class _CutAfter(httpx.AsyncByteStream):
    """A body that sends some bytes, then the connection drops."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):
        yield self.body
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _transport(vessel: str, body: bytes | httpx.AsyncByteStream) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": CONTENT_TYPE.get(vessel, "text/event-stream")}
        if isinstance(body, bytes):
            return httpx.Response(200, headers=headers, content=body)
        return httpx.Response(200, headers=headers, stream=body)

    return httpx.MockTransport(handler)


def _adapter(vessel: str, transport: httpx.MockTransport):
    if vessel == "ollama":
        return OllamaAdapter(model="qwen3", transport=transport)
    if vessel == "claude":
        return ClaudeAdapter(model="claude-x", api_key=KEY, transport=transport)
    if vessel == "openai":
        return OpenAIAdapter(model="o-x", api_key=KEY, transport=transport, api="chat")
    return GeminiAdapter(model="gemini-x", api_key=KEY, transport=transport)


def _backup() -> OpenAIAdapter:
    body = _sse((None, {"choices": [{"index": 0, "delta": {"content": "From the backup."}}]})) + b"data: [DONE]\n\n"
    return OpenAIAdapter(
        model="backup-model", base_url="http://127.0.0.1:9/v1", api="chat", transport=_transport("backup", body)
    )


def _orch(vessel: str, body) -> AIOrchestrator:
    return AIOrchestrator(
        vessels={vessel: _adapter(vessel, _transport(vessel, body)), "backup": _backup()},
        priority=[vessel, "backup"],
        log_path=False,
    )


def _chunks(orch: AIOrchestrator, **kw) -> list:
    async def go():
        return [c async for c in orch.stream("Why is the sky blue?", think=True, **kw)]

    return asyncio.run(go())


FAILURES = {
    "error event": lambda v: REASONING[v] + ERROR_EVENT[v],
    "cut connection": lambda v: _CutAfter(REASONING[v]),
    "no answer": lambda v: REASONING[v] + ANSWER[v].replace(b"Blue.", b""),
}


@pytest.mark.parametrize("how", sorted(FAILURES))
@pytest.mark.parametrize("vessel", ["ollama", "claude", "openai", "gemini"])
def test_reasoning_then_failure_falls_back_and_says_the_reasoning_was_discarded(vessel, how):
    orch = _orch(vessel, FAILURES[how](vessel))
    chunks = _chunks(orch)

    thought = "".join(c.thinking for c in chunks if c.vessel == vessel)
    assert thought == THOUGHT  # the reasoning was streamed to the consumer...
    fallback = [c for c in chunks if c.event == "fallback"]
    assert len(fallback) == 1 and fallback[0].vessel == vessel
    assert "reasoning shown was discarded" in fallback[0].detail  # ...so the consumer is told to clear it
    assert chunks.index(fallback[0]) > max(i for i, c in enumerate(chunks) if c.thinking)
    reply = chunks[-1].reply
    assert reply.vessel == "backup" and reply.text == "From the backup."
    assert not reply.thinking  # the answering vessel's reasoning only

    first, second = orch.log.rows
    assert first["outcome"] == "error" and "reasoning shown was discarded" in first["error"]
    assert first["response"] is None
    assert first["ttft_s"] is None and first["first_thinking_s"] is not None
    assert second["outcome"] == "ok" and second["fallback_from"] == vessel


@pytest.mark.parametrize("vessel", ["ollama", "claude", "openai", "gemini"])
def test_explicit_vessel_that_only_reasoned_fails_without_switching(vessel):
    orch = _orch(vessel, REASONING[vessel] + ERROR_EVENT[vessel])
    with pytest.raises(E.AllVesselsFailed) as info:
        _chunks(orch, vessel=vessel)
    assert not isinstance(info.value, E.StreamInterrupted)
    assert "reasoning shown was discarded" in str(info.value)
    assert [r["vessel"] for r in orch.log.rows] == [vessel]


@pytest.mark.parametrize("vessel", ["ollama", "claude", "openai", "gemini"])
def test_ttft_is_the_first_answer_token_and_reasoning_has_its_own_time(vessel):
    orch = _orch(vessel, REASONING[vessel] + ANSWER[vessel])
    chunks = _chunks(orch)
    reply = chunks[-1].reply
    assert reply.vessel == vessel and reply.text == "Blue." and reply.thinking == THOUGHT
    assert reply.first_thinking_s is not None and reply.ttft_s is not None
    assert reply.first_thinking_s <= reply.ttft_s
    row = orch.log.rows[-1]
    assert row["first_thinking_s"] == reply.first_thinking_s and row["ttft_s"] == reply.ttft_s


def test_a_failure_after_answer_text_is_still_an_interruption():
    body = REASONING["ollama"] + ANSWER["ollama"].split(b"\n")[0] + b"\n" + ERROR_EVENT["ollama"]
    orch = _orch("ollama", body)
    with pytest.raises(E.StreamInterrupted) as info:
        _chunks(orch)
    assert info.value.partial_text == "Blue."
    assert orch.log.rows[-1]["outcome"] == "interrupted"


def test_attempt_timestamps_are_utc_with_milliseconds_across_a_second(monkeypatch):
    from vessel_nb import fallback

    now = iter([1761499281.196, 1761499281.9995, 1761499282.0004, 1761499281.5])
    monkeypatch.setattr(fallback.time, "time", lambda: next(now))
    assert [fallback._utc_now() for _ in range(4)] == [
        "2025-10-26T17:21:21.196Z",
        "2025-10-26T17:21:21.999Z",
        "2025-10-26T17:21:22.000Z",
        "2025-10-26T17:21:21.500Z",  # the clock went back: that second is formatted again
    ]

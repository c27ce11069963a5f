"""Every transcript in tests/protocols, replayed through httpx.MockTransport in random
pieces, must give the right text, usage or error; requests must match the recorded bytes."""

from __future__ import annotations

import asyncio
import json

import pytest

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb import errors as E

from .transcripts import all_names, load, replay

KEY = "sk-test-SECRET-0123456789"


def adapter_for(name: str, transport):
    if name.startswith("ollama-openai"):
        return OpenAIAdapter(
            model="llama3.2", base_url="http://127.0.0.1:11434/v1", api_key="ollama", transport=transport
        )
    if name.startswith("ollama"):
        return OllamaAdapter(model="llama3.2", transport=transport)
    if name.startswith("anthropic"):
        return ClaudeAdapter(model="claude-3-opus-latest", api_key=KEY, transport=transport)
    if name.startswith("openai"):
        return OpenAIAdapter(model="gpt-4o-2024-08-06", api_key=KEY, transport=transport)
    if name.startswith("gemini"):
        return GeminiAdapter(model="gemini-2.5-flash-lite", api_key=KEY, transport=transport)
    raise AssertionError(name)


OK = {
    "anthropic-ok-stream.txt": ("Hello there!", 11, 6),
    "gemini-ok-stream.txt": (
        "Rayleigh scattering: air molecules scatter short (blue) wavelengths of sunlight far more than long (red) ones.",
        15,
        24,
    ),
    "ollama-ok-stream.txt": ("Rayleigh scattering.", 26, 4),
    "ollama-openai-ok-stream.txt": ("Rayleigh scattering.", 26, 4),
    "openai-ok-stream-2025.txt": ("Hello there!", 19, 3),
}
BEFORE = {
    "anthropic-auth-401.txt": E.AuthError,
    "anthropic-error-before-stream-429.txt": E.RateLimited,
    "anthropic-error-before-stream.txt": E.ServerError,
    "anthropic-model-not-found.txt": E.ModelNotFound,
    "gemini-auth-400.txt": E.AuthError,
    "gemini-error-before-stream.txt": E.RateLimited,
    "gemini-model-not-found.txt": E.ModelNotFound,
    "ollama-error-before-stream.txt": E.ServerError,
    "ollama-model-not-found.txt": E.ModelNotFound,
    "ollama-openai-model-not-found.txt": E.ModelNotFound,
    "openai-auth-401.txt": E.AuthError,
    "openai-error-before-stream.txt": E.RateLimited,
    "openai-model-not-found.txt": E.ModelNotFound,
}
MID = {
    "anthropic-error-mid-stream.txt": ("Hello", "Overloaded"),
    "gemini-error-mid-stream.txt": ("Rayleigh", "The model is overloaded"),
    "ollama-error-mid-stream.txt": (" Yes.Ican", "an error was encountered while running the model"),
    "ollama-error-mid-stream-generate.txt": (None, "an error was encountered while running the model"),
    "ollama-openai-error-mid-stream.txt": (" Yes.", "[DONE]"),
    "openai-error-mid-stream.txt": ("I'm unable", "The server had an error"),
}
STREAMS = sorted(set(OK) | set(BEFORE) | set(MID) | {"openai-ok-stream.txt"})


def test_every_transcript_is_covered():
    assert set(all_names()) - set(STREAMS) == {"ollama-health.txt"}  # a GET /, covered in test_probes below


def ask(name: str, seed: int):
    orch = AIOrchestrator({"v": adapter_for(name, replay(load(name), seed))}, log_path=False)
    try:
        return orch.ask("Why is the sky blue?"), orch
    except Exception as exc:  # noqa: BLE001 — the tests look at it
        return exc, orch


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(OK))
def test_ok_streams(name, seed):
    reply, orch = ask(name, seed)
    text, tin, tout = OK[name]
    assert reply.text == text
    assert (reply.usage.tokens_in, reply.usage.tokens_out) == (tin, tout)
    assert reply.ttft_s is not None and reply.ttft_s <= reply.latency_s
    assert orch.log.rows[0]["outcome"] == "ok"


@pytest.mark.parametrize("seed", range(3))
def test_openai_recorded_stream_with_usage_chunk(seed):
    reply, _ = ask("openai-ok-stream.txt", seed)
    assert reply.text.startswith("I'm unable to provide real-time weather updates.")
    assert reply.usage.tokens_out is not None and reply.stop_reason == "stop"


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("name", sorted(BEFORE))
def test_errors_before_the_stream(name, seed):
    exc, orch = ask(name, seed)
    assert isinstance(exc, E.AllVesselsFailed)
    err = exc.failures["v"]
    assert type(err) is BEFORE[name]
    assert KEY not in str(exc)
    row = orch.log.rows[0]
    assert row["outcome"] == "error" and row["error_kind"] == err.kind


def test_retry_after_comes_from_header_or_body():
    exc, _ = ask("anthropic-error-before-stream-429.txt", 0)
    assert exc.failures["v"].retry_after == 17
    exc, _ = ask("gemini-error-before-stream.txt", 0)
    assert exc.failures["v"].retry_after == 38


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", sorted(MID))
def test_errors_inside_a_200_stream(name, seed):
    exc, orch = ask(name, seed)
    partial, words = MID[name]
    if partial is None:  # /api/generate transcript: text in "response" lines
        assert isinstance(exc, E.StreamInterrupted) and exc.partial_text
    else:
        assert isinstance(exc, E.StreamInterrupted), exc
        assert exc.partial_text == partial
    assert words in str(exc)
    assert orch.log.rows[-1]["outcome"] == "interrupted"


REQUESTS = {
    "ollama-ok-stream.txt": dict(system="You are a terse assistant."),
    "anthropic-ok-stream.txt": dict(system="You are a terse assistant.", max_tokens=1024),
    "gemini-ok-stream.txt": dict(system="You are a terse assistant.", max_tokens=256),
    "openai-ok-stream.txt": {},
    "ollama-openai-ok-stream.txt": dict(system="You are a terse assistant."),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_bytes_match_the_transcript(name):
    t = load(name)
    seen = []
    adapter = adapter_for(name, replay(t, 0, seen))
    if isinstance(adapter, OllamaAdapter):
        adapter.keep_alive = "5m"
    prompt = json.loads(t.request_body)
    user = (prompt.get("messages") or [{}])[-1].get("content") or prompt["contents"][-1]["parts"][0]["text"]

    async def go():
        async for _ in adapter.stream([{"role": "user", "content": user}], **REQUESTS[name]):
            pass

    asyncio.run(go())
    req = seen[0]
    assert req.content == t.request_body
    method, target, _ = t.request_line.split(" ")
    assert req.method == method and req.url.raw_path.decode() == target
    for header in ("x-api-key", "anthropic-version", "x-goog-api-key", "Authorization"):
        if header in t.request_headers:
            assert header.lower() in {k.lower() for k in req.headers}
    assert KEY not in str(req.url)  # Gemini's key travels in a header, never the URL


def test_probes_use_free_endpoints_and_read_ollama_tags():
    import httpx

    seen = []

    def handler(request):
        seen.append(request)
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": "llama3.2:latest"}]})
        return httpx.Response(200, text="Ollama is running")

    ok = OllamaAdapter(model="llama3.2", transport=httpx.MockTransport(handler))
    missing = OllamaAdapter(model="qwen2.5:32b", transport=httpx.MockTransport(handler))
    assert asyncio.run(ok.health()).ok is True
    assert asyncio.run(ok.health_check()) is True  # the lesson's bool form
    assert asyncio.run(missing.health_check()) is False
    h = asyncio.run(missing.health())
    assert h.ok is False and "ollama pull qwen2.5:32b" in h.detail
    assert all(r.method == "GET" for r in seen)


def _serve(body: bytes, ctype: str, max_size: int, seed: int):
    import httpx

    from .transcripts import RandomChunks

    return httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-type": ctype}, stream=RandomChunks(body, seed, max_size))
    )


KOREAN = ["하늘이 ", "파란 ", "이유는 🌈 ", "레일리 산란", " 🌊✨"]


@pytest.mark.parametrize("seed", range(6))
def test_multibyte_text_split_inside_characters_in_every_framing(seed):
    ollama = (
        b"".join(
            json.dumps(
                {"model": "m", "created_at": "t", "message": {"role": "assistant", "content": p}, "done": False},
                ensure_ascii=False,
            ).encode()
            + b"\n"
            for p in KOREAN
        )
        + b'{"model":"m","created_at":"t","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n'
    )
    openai = (
        b"".join(
            b"data: "
            + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}, ensure_ascii=False).encode()
            + b"\r\n\r\n"
            for p in KOREAN
        )
        + b": keep-alive comment\r\n\r\ndata: [DONE]\r\n\r\n"
    )
    gemini = (
        b"".join(
            b"data: "
            + json.dumps(
                {"candidates": [{"content": {"parts": [{"text": p}], "role": "model"}, "index": 0}]}, ensure_ascii=False
            ).encode()
            + b"\r\n\r\n"
            for p in KOREAN
        )
        + b'data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}]}\r\n\r\n'
    )
    claude = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\n'
        + b"".join(
            b"event: content_block_delta\ndata: "
            + json.dumps(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
                ensure_ascii=False,
            ).encode()
            + b'       \n\nevent: ping\ndata: {"type": "ping"}\n\n'
            for p in KOREAN
        )
        + b'event: brand_new_event\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    cases = [
        (OllamaAdapter(model="m", transport=_serve(ollama, "application/x-ndjson", 2, seed))),
        (OpenAIAdapter(model="m", api_key=KEY, transport=_serve(openai, "text/event-stream", 3, seed))),
        (GeminiAdapter(model="m", api_key=KEY, transport=_serve(gemini, "text/event-stream", 1, seed))),
        (ClaudeAdapter(model="m", api_key=KEY, transport=_serve(claude, "text/event-stream; charset=utf-8", 2, seed))),
    ]
    for adapter in cases:
        reply = AIOrchestrator({"v": adapter}, log_path=False).ask("왜?")
        assert reply.text == "".join(KOREAN), type(adapter).__name__


@pytest.mark.parametrize(
    "adapter_cls, body, ctype",
    [
        (OpenAIAdapter, b"data: [DONE]\n\n", "text/event-stream"),
        (
            OllamaAdapter,
            b'{"model":"m","created_at":"t","message":{"role":"assistant","content":""},"done":true}\n',
            "application/x-ndjson",
        ),
        (OpenAIAdapter, b"", "text/event-stream"),
        (GeminiAdapter, b'data: {"promptFeedback": {"blockReason": "SAFETY"}}\r\n\r\n', "text/event-stream"),
    ],
)
def test_empty_blocked_or_bodyless_streams_are_failures_not_answers(adapter_cls, body, ctype):
    adapter = adapter_cls(model="m", api_key=KEY, transport=_serve(body, ctype, 4, 0))
    orch = AIOrchestrator({"v": adapter}, log_path=False)
    with pytest.raises(E.AllVesselsFailed) as info:
        orch.ask("hi")
    assert type(info.value.failures["v"]) is E.StreamError
    assert orch.log.rows[0]["outcome"] == "error"

"""Every transcript in tests/protocols, replayed through httpx.MockTransport in random
pieces, must give the right text, usage or error; requests must match the recorded bytes."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from vessel_nb import errors as E

from .transcripts import RandomChunks, all_names, load, replay

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
    if name.startswith("openai-responses"):  # api="auto" on OpenAI's own host: the Responses API
        return OpenAIAdapter(model="gpt-5-codex", api_key=KEY, transport=transport)
    if name.startswith("openai"):
        return OpenAIAdapter(model="gpt-4o-2024-08-06", api_key=KEY, transport=transport, api="chat")
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
    "openai-responses-ok-stream.txt": ("Paris.", 13, 59),
    "openai-responses-reasoning-stream.txt": ("Hello! How can I assist you today?", 75, 186),
    "openai-responses-incomplete.txt": ("2, 3, 5", 15, 16),
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
    "openai-responses-quota-429.txt": E.BillingError,
    "openai-responses-bad-request-400.txt": E.BadRequest,
    "openai-responses-failed.txt": E.ServerError,  # response.failed {code: server_error}, in a 200 stream
}
MID = {
    "anthropic-error-mid-stream.txt": ("Hello", "Overloaded"),
    "gemini-error-mid-stream.txt": ("Rayleigh", "The model is overloaded"),
    "ollama-error-mid-stream.txt": (" Yes.Ican", "an error was encountered while running the model"),
    "ollama-error-mid-stream-generate.txt": (None, "an error was encountered while running the model"),
    "ollama-openai-error-mid-stream.txt": (" Yes.", "[DONE]"),
    "openai-error-mid-stream.txt": ("I'm unable", "The server had an error"),
    "openai-responses-error-mid-stream.txt": ("Rayleigh scattering", "Rate limit reached"),
}
STREAMS = sorted(set(OK) | set(BEFORE) | set(MID) | {"openai-ok-stream.txt"})


def test_every_transcript_is_covered():
    # ollama-health: a GET /, covered in test_probes below; the Chat Completions refusal of a
    # Codex model: test_a_refused_codex_model_switches_to_the_responses_api below
    assert set(all_names()) - set(STREAMS) == {"ollama-health.txt", "openai-responses-chat-refused.txt"}


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


@pytest.mark.parametrize(("delay", "seconds"), [("0.250s", 0.25), ("1.5s", 1.5), ("2.000000001s", 2.000000001)])
def test_a_fractional_retry_delay_reaches_the_error(delay, seconds):
    name = "gemini-error-before-stream.txt"
    recorded = load(name)
    body = recorded.body.replace(b'"retryDelay": "38s"', f'"retryDelay": "{delay}"'.encode())
    assert body != recorded.body
    orch = AIOrchestrator({"v": adapter_for(name, replay(dataclasses.replace(recorded, body=body), 1))}, log_path=False)
    with pytest.raises(E.AllVesselsFailed) as info:
        orch.ask("Why is the sky blue?")
    assert info.value.failures["v"].retry_after == pytest.approx(seconds, abs=1e-12)


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


RESPONSES_SUMMARY = (
    '**Responding to a greeting**\n\nThe user just said, "Hello!" So, it seems I need to engage. '
    "I'll greet them back and offer help since they're looking to chat."
)


@pytest.mark.parametrize("seed", range(3))
def test_responses_api_reasoning_usage_and_served_model(seed):
    reply, orch = ask("openai-responses-reasoning-stream.txt", seed)
    assert reply.thinking.startswith(RESPONSES_SUMMARY)
    assert reply.thinking.endswith("Let's see where it goes from there!")
    assert reply.stop_reason == "completed" and reply.model == "gpt-5-codex"
    if hasattr(reply.usage, "tokens_reasoning"):  # Usage fields of issue 9 item 3
        assert (reply.usage.tokens_reasoning, reply.usage.tokens_cached) == (128, 64)
    assert orch.log.rows[0]["outcome"] == "ok"


@pytest.mark.parametrize("seed", range(3))
def test_responses_api_incomplete_is_an_answer_with_its_stop_reason(seed):
    reply, orch = ask("openai-responses-incomplete.txt", seed)
    assert reply.stop_reason == "max_output_tokens"
    assert orch.log.rows[0]["outcome"] == "ok"


def test_a_mid_stream_error_event_keeps_the_class_of_its_code():
    exc, _ = ask("openai-responses-error-mid-stream.txt", 0)
    assert type(exc.error) is E.RateLimited


@pytest.mark.parametrize("seed", range(3))
def test_a_refused_codex_model_switches_to_the_responses_api(seed, caplog):
    import httpx

    refused, ok = load("openai-responses-chat-refused.txt"), load("openai-responses-ok-stream.txt")
    seen: list = []

    def handler(request):
        seen.append(request)
        t = refused if request.url.path.endswith("/chat/completions") else ok
        return httpx.Response(t.status, headers=t.headers, stream=RandomChunks(t.body, seed, 9))

    # A gateway that is not OpenAI's host: api="auto" starts with Chat Completions.
    adapter = OpenAIAdapter(
        model="gpt-5-codex", api_key=KEY, base_url="https://gateway.example/v1", transport=httpx.MockTransport(handler)
    )
    assert adapter.api_for() == "chat"
    orch = AIOrchestrator({"v": adapter}, log_path=False)
    with caplog.at_level("WARNING", logger="vessel_nb"):
        reply = orch.ask("Why is the sky blue?")
        again = orch.ask("And the sunset?")
    assert reply.text == again.text == "Paris."
    assert [r.url.path for r in seen] == ["/v1/chat/completions", "/v1/responses", "/v1/responses"]  # once
    assert adapter.api_for("gpt-5-codex") == "responses" and adapter.api_for("gpt-4o") == "chat"
    assert "responses for gpt-5-codex" in adapter.describe()["api"]
    assert sum("switching this model to the Responses API" in r.getMessage() for r in caplog.records) == 1
    assert [r["outcome"] for r in orch.log.rows] == ["ok", "ok"]


def test_api_choice_is_checked_and_explicit_choices_are_kept():
    with pytest.raises(E.ConfigError, match="chat, responses"):
        OpenAIAdapter(api="completions")
    assert OpenAIAdapter(api_key=KEY).api_for() == "responses"  # auto on OpenAI's own host
    assert OpenAIAdapter(base_url="http://127.0.0.1:8080/v1").api_for() == "chat"  # auto elsewhere
    assert OpenAIAdapter(base_url="http://127.0.0.1:8080/v1", api="responses").api_for() == "responses"
    assert OpenAIAdapter(api_key=KEY, api="chat").describe()["api"] == "chat"


REQUESTS = {
    "ollama-ok-stream.txt": dict(system="You are a terse assistant."),
    "anthropic-ok-stream.txt": dict(system="You are a terse assistant.", max_tokens=1024),
    "gemini-ok-stream.txt": dict(system="You are a terse assistant.", max_tokens=256),
    "openai-ok-stream.txt": {},
    "ollama-openai-ok-stream.txt": dict(system="You are a terse assistant."),
    "openai-responses-ok-stream.txt": {},
    "openai-responses-reasoning-stream.txt": dict(system="You are a terse assistant.", max_tokens=2048, think=True),
    "openai-responses-incomplete.txt": dict(max_tokens=16),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_bytes_match_the_transcript(name):
    t = load(name)
    seen = []
    adapter = adapter_for(name, replay(t, 0, seen))
    if isinstance(adapter, OllamaAdapter):
        adapter.keep_alive = "5m"
    prompt = json.loads(t.request_body)
    turns = prompt.get("messages") or prompt.get("input") or [{}]
    user = turns[-1].get("content") or prompt["contents"][-1]["parts"][0]["text"]

    async def go():
        for _ in range(2):  # the second request is built from the first's template (adapters/prepared.py)
            async for _ in adapter.stream([{"role": "user", "content": user}], **REQUESTS[name]):
                pass

    asyncio.run(go())
    assert len(seen) == 2 and seen[1].headers.raw == seen[0].headers.raw
    method, target, _ = t.request_line.split(" ")
    for req in seen:
        assert req.content == t.request_body
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
    responses = (
        b"".join(
            b"event: response.output_text.delta\ndata: "
            + json.dumps(
                {"type": "response.output_text.delta", "delta": p, "sequence_number": i}, ensure_ascii=False
            ).encode()
            + b"\n\nevent: response.brand_new_event\ndata: {}\n\n"
            for i, p in enumerate(KOREAN)
        )
        + b'event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed"}}\n\n'
    )
    cases = [
        (OllamaAdapter(model="m", transport=_serve(ollama, "application/x-ndjson", 2, seed))),
        (OpenAIAdapter(model="m", api_key=KEY, api="chat", transport=_serve(openai, "text/event-stream", 3, seed))),
        (
            OpenAIAdapter(
                model="m", api_key=KEY, transport=_serve(responses, "text/event-stream; charset=utf-8", 2, seed)
            )
        ),
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

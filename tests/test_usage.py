"""Usage as the providers count it: output tokens include reasoning for every provider,
cached input tokens are counted, tokens/s is one formula, and the model is the one the
provider says it served. Streams are replayed through httpx.MockTransport."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from vessel_nb import AIOrchestrator, Attempt, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter, Reply, Usage
from vessel_nb.calllog import CallLog

from .transcripts import load, replay

KEY = "sk-test-SECRET-0123456789"


def _sse(*events: tuple[str | None, object], end: str = "\n") -> bytes:
    return "".join(
        (f"event: {name}{end}" if name else "") + f"data: {json.dumps(data)}{end}{end}" for name, data in events
    ).encode()


STREAMS = {
    "openai": _sse(
        (None, {"model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "delta": {"content": "Hi."}}]}),
        (None, {"model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        (
            None,
            {
                "model": "gpt-4o-2024-08-06",
                "choices": [],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 50,
                    "total_tokens": 150,
                    "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 30, "audio_tokens": 0},
                },
            },
        ),
    )
    + b"data: [DONE]\n\n",
    "claude": _sse(
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "model": "claude-sonnet-4-5-20250929",
                    "usage": {
                        "input_tokens": 10,
                        "cache_creation_input_tokens": 5,
                        "cache_read_input_tokens": 80,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi."}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ),
    "gemini": _sse(
        (
            None,
            {
                "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi."}]}, "finishReason": "STOP"}],
                "usageMetadata": {
                    "promptTokenCount": 100,
                    "candidatesTokenCount": 20,
                    "thoughtsTokenCount": 60,
                    "cachedContentTokenCount": 64,
                    "totalTokenCount": 180,
                },
                "modelVersion": "gemini-2.5-flash-001",
            },
        ),
        end="\r\n",
    ),
    "ollama": b"".join(
        json.dumps(o).encode() + b"\n"
        for o in (
            {"model": "llama3.2", "message": {"role": "assistant", "content": "Hi."}, "done": False},
            {
                "model": "llama3.2",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 26,
                "eval_count": 12,
            },
        )
    ),
}
# (tokens_in, tokens_out, tokens_reasoning, tokens_cached, model served, model requested)
EXPECTED = {
    "openai": (100, 50, 30, 64, "gpt-4o-2024-08-06", "gpt-4o"),
    # Anthropic's input_tokens leaves out cache reads and writes: all input is 10 + 5 + 80
    "claude": (95, 40, None, 80, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    # Gemini reports its thoughts apart: the output is 20 + 60
    "gemini": (100, 80, 60, 64, "gemini-2.5-flash-001", "gemini-2.5-flash"),
    "ollama": (26, 12, None, None, "llama3.2", "llama3.2"),
}


def _adapter(vessel: str):
    body = STREAMS[vessel]
    kind = "application/x-ndjson" if vessel == "ollama" else "text/event-stream"
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body, headers={"content-type": kind}))
    model = EXPECTED[vessel][5]
    if vessel == "openai":
        return OpenAIAdapter(model=model, api_key=KEY, api="chat", transport=transport)
    if vessel == "claude":
        return ClaudeAdapter(model=model, api_key=KEY, transport=transport)
    if vessel == "gemini":
        return GeminiAdapter(model=model, api_key=KEY, transport=transport)
    return OllamaAdapter(model=model, transport=transport)


@pytest.mark.parametrize("vessel", sorted(STREAMS))
def test_usage_counts_reasoning_and_cached_tokens_and_the_served_model(vessel):
    orch = AIOrchestrator({vessel: _adapter(vessel)}, log_path=False)
    reply = orch.ask("hi")
    tin, tout, reasoning, cached, served, requested = EXPECTED[vessel]
    assert reply.usage == Usage(tin, tout, reasoning, cached)
    assert (reply.model, reply.model_requested) == (served, requested)
    row = orch.log.rows[-1]
    assert (row["tokens_in"], row["tokens_out"], row["tokens_reasoning"], row["tokens_cached"]) == (
        tin,
        tout,
        reasoning,
        cached,
    )
    assert (row["model"], row["model_requested"]) == (served, requested)


def test_the_responses_api_reports_reasoning_and_cached_tokens():
    t = load("openai-responses-reasoning-stream.txt")
    orch = AIOrchestrator(
        {"v": OpenAIAdapter(model="gpt-5-codex", api_key=KEY, transport=replay(t, 0))}, log_path=False
    )
    reply = orch.ask("hi")
    assert reply.usage == Usage(75, 186, 128, 64)


def test_usage_merge_keeps_what_a_later_report_leaves_out():
    first = Usage(tokens_in=95, tokens_cached=80)
    assert first.merge(Usage(tokens_out=40)) == Usage(95, 40, None, 80)
    assert first.merge(Usage(tokens_in=96)) == Usage(96, None, None, 80)


def test_tokens_per_second_spans_reasoning_and_answer_alike():
    # 80 output tokens (reasoning included) generated from the first reasoning token at 1 s
    # to the end at 5 s: 20 tok/s — not 40, as counting from the first answer token would say.
    att = Attempt(call_id="c", attempt=1, vessel="v", model="m", latency_s=5.0, ttft_s=3.0, first_thinking_s=1.0)
    reply = Reply("x", "v", "m", ttft_s=3.0, first_thinking_s=1.0, usage=Usage(10, 80), attempts=[att])
    assert reply.tokens_per_s == pytest.approx(20.0)
    plain = Reply("x", "v", "m", ttft_s=1.0, usage=Usage(10, 80), attempts=[att])
    assert plain.tokens_per_s == pytest.approx(20.0)
    assert Reply("x", "v", "m", ttft_s=1.0, usage=Usage(10, None), attempts=[att]).tokens_per_s is None


def test_a_log_file_from_before_the_new_columns_still_opens(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = ["call_id", "attempt", "vessel", "model", "outcome", "ttft_s", "latency_s", "tokens_in", "tokens_out"]
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE attempts ({', '.join(old)})")
    conn.execute(
        f"INSERT INTO attempts VALUES ({', '.join('?' * len(old))})", ("c0", 1, "v", "m", "ok", 0.1, 0.5, 3, 4)
    )
    conn.commit()
    conn.close()

    log = CallLog(path)
    log.append(
        Attempt(
            call_id="c1",
            attempt=1,
            vessel="v",
            model="m-2025",
            model_requested="m",
            tokens_out=80,
            tokens_reasoning=60,
            tokens_cached=64,
            first_thinking_s=0.2,
            started_at="2026-01-01T00:00:00.000Z",
        )
    )
    log.close()
    df = CallLog(path).load_all()
    new = df[df["call_id"] == "c1"].iloc[0]
    assert (new["tokens_reasoning"], new["tokens_cached"], new["model_requested"]) == (60, 64, "m")
    assert new["first_thinking_s"] == pytest.approx(0.2)
    assert df[df["call_id"] == "c0"].iloc[0]["tokens_out"] == 4

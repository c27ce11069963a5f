"""Parser throughput through each adapter's whole stack over ``httpx.MockTransport`` (no
sockets): what the per-chunk path costs by itself (``python -m bench --parse``)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx

from vessel_nb import ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter


def _ollama_body(n: int) -> bytes:
    line = b'{"model":"m","created_at":"2025-10-26T17:21:21.196249Z","message":{"role":"assistant","content":" word"},"done":false}\n'
    done = b'{"model":"m","created_at":"2025-10-26T17:21:21.2Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":1}\n'
    return line * n + done


def _openai_body(n: int) -> bytes:
    chunk = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]}\n\n'
    return (
        chunk * n
        + b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )


def _anthropic_body(n: int) -> bytes:
    start = b'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word"}}\n\n'
    return start + delta * n + b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def _gemini_body(n: int) -> bytes:
    ev = b'data: {"candidates": [{"content": {"parts": [{"text": " word"}],"role": "model"},"index": 0}]}\r\n\r\n'
    return (
        ev * n
        + b'data: {"candidates": [{"content": {"parts": [{"text": "."}],"role": "model"},"finishReason": "STOP","index": 0}]}\r\n\r\n'
    )


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, body: bytes, size: int = 4096) -> None:
        self.body, self.size = body, size

    async def __aiter__(self):
        for i in range(0, len(self.body), self.size):
            yield self.body[i : i + self.size]


def _bare(body: bytes) -> int:
    """The least a correct client does with the same body: split lines, ``json.loads`` each
    JSON payload (the reference the adapters' figures are divided by)."""
    n = 0
    for line in body.decode().splitlines():
        if line.startswith("data: "):
            line = line[6:]
        if line.startswith("{"):
            json.loads(line)
            n += 1
    return n


def parse_throughput(tokens: int = 20000, rounds: int = 3) -> list[tuple[str, float, float, float]]:
    """MB/s and tokens/s through the whole adapter stack (MockTransport, no sockets), and
    the ratio to bare ``json.loads`` of the same lines timed in the same rounds (medians;
    the ratio is what to compare on a shared machine)."""
    cases = [
        ("ollama", OllamaAdapter, _ollama_body, {}, "application/x-ndjson"),
        # api="chat": on OpenAI's own host "auto" would speak the Responses API to this body
        ("openai", OpenAIAdapter, _openai_body, {"api_key": "k", "api": "chat"}, "text/event-stream"),
        ("claude", ClaudeAdapter, _anthropic_body, {"api_key": "k"}, "text/event-stream"),
        ("gemini", GeminiAdapter, _gemini_body, {"api_key": "k"}, "text/event-stream"),
    ]
    out = []
    for name, cls, body_fn, kw, ctype in cases:
        body = body_fn(tokens)
        transport = httpx.MockTransport(
            lambda r, b=body, c=ctype: httpx.Response(200, headers={"content-type": c}, stream=_Chunks(b))
        )
        adapter = cls(model="m", transport=transport, **kw)

        async def run(a=adapter):
            n = 0
            async for d in a.stream([{"role": "user", "content": "x"}]):
                n += bool(d.text)
            return n

        took, bare = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            asyncio.run(run())
            took.append(time.perf_counter() - start)
            start = time.perf_counter()
            _bare(body)
            bare.append(time.perf_counter() - start)
        t, b = statistics.median(took), statistics.median(bare)
        out.append((name, len(body) / t / 1e6, tokens / t, b / t))
    return out


def markdown(rows: list[tuple[str, float, float, float]]) -> str:
    """The parser throughput as a Markdown table."""
    lines = [
        "| adapter | MB/s | tokens/s | vs bare json.loads |",
        "|---|---|---|---|",
        *(f"| {name} | {mbs:.1f} | {tps:,.0f} | {ratio:.2f}× |" for name, mbs, tps, ratio in rows),
    ]
    return "\n".join(lines)

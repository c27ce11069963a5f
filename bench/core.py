"""Parser throughput through each adapter's whole stack over ``httpx.MockTransport`` (no
sockets): what the per-chunk path costs by itself (``python -m bench --parse``)."""

from __future__ import annotations

import asyncio
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


def parse_throughput(tokens: int = 20000) -> list[tuple[str, float, float]]:
    """MB/s and tokens/s through the whole adapter stack (MockTransport, no sockets)."""
    cases = [
        ("ollama", OllamaAdapter, _ollama_body, {}, "application/x-ndjson"),
        ("openai", OpenAIAdapter, _openai_body, {"api_key": "k"}, "text/event-stream"),
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

        start = time.perf_counter()
        asyncio.run(run())
        took = time.perf_counter() - start
        out.append((name, len(body) / took / 1e6, tokens / took))
    return out

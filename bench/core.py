"""Core benchmarks: stream parsing throughput, per-call overhead, the cost of a known-down
vessel, the time to recover, and import cost. Run with ``make bench``."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import httpx

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter


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


def call_overhead(fleet, calls: int = 50) -> dict[str, float]:
    """Median wall time of one ask() on a practice vessel at pace 0, vs a bare httpx call."""
    orch = fleet.orchestrator(log_path=False)
    orch.ask("warm up", vessel="ollama")
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        orch.ask("hi", vessel="ollama")
        times.append(time.perf_counter() - t)
    bare = []
    with httpx.Client() as client:
        for _ in range(calls):
            t = time.perf_counter()
            with client.stream(
                "POST",
                fleet["ollama"].base_url + "/api/chat",
                json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
            ) as r:
                for _ in r.iter_raw():
                    pass
            bare.append(time.perf_counter() - t)
    orch.close()
    return {"ask_ms": statistics.median(times) * 1000, "bare_httpx_ms": statistics.median(bare) * 1000}


def down_vessel_cost(fleet, calls: int = 50) -> dict[str, float]:
    """What a stopped local Ollama adds to each call that falls back to the next vessel."""
    orch = fleet.orchestrator(log_path=False)
    orch.priority = ["ollama", "claude"]
    orch.ask("warm up")
    fleet["ollama"].stop()
    try:
        for _ in range(calls):
            orch.ask("hi")
        failed = [r["latency_s"] for r in orch.log.rows if r["vessel"] == "ollama" and r["outcome"] == "error"]
    finally:
        fleet["ollama"].start()
    t = time.perf_counter()
    reply = orch.ask("hi")
    recovered = time.perf_counter() - t
    orch.close()
    return {
        "down_attempt_median_ms": statistics.median(failed) * 1000,
        "down_attempt_max_ms": max(failed) * 1000,
        "first_call_after_restart_local": float(reply.vessel == "ollama"),
        "first_call_after_restart_ms": recovered * 1000,
    }


def import_cost() -> dict[str, float]:
    """Wall time of ``import vessel_nb`` in a fresh interpreter (median of 5)."""
    runs = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import vessel_nb; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(float(out.stdout))
    return {"import_vessel_nb_ms": statistics.median(runs) * 1000}


def memory(fleet, calls: int = 300) -> dict[str, float]:
    """Memory: peak Python allocation while one 20,000-token answer streams through ask(), and
    how much the process grows over many calls (a leak would show as growth per call)."""
    import gc
    import resource
    import tracemalloc

    body = _ollama_body(20000)
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=_Chunks(body))
    )
    orch = AIOrchestrator({"ollama": OllamaAdapter(model="m", transport=transport)}, log_path=False, keep_text=False)
    orch.ask("warm up")
    gc.collect()
    tracemalloc.start()
    reply = orch.ask("a long answer")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    orch.close()

    orch = fleet.orchestrator(log_path=False, keep_text=False)
    for _ in range(50):
        orch.ask("warm up", vessel="ollama")
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(calls):
        orch.ask("hi", vessel="ollama")
    gc.collect()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    orch.close()
    return {
        "answer_chars": len(reply.text),
        "peak_alloc_20k_tokens_mb": peak / 1e6,
        "max_rss_growth_kb_per_call": (after - before) / calls,
    }

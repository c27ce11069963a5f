"""The contenders: one streamed chat call each, timed the same way.

Every contender is an object with ``async call(n)`` returning ``(ttft_s, tokens)`` for an
answer of ``n`` tokens (``ttft_s`` None where the face shows no first token) and ``close()``.
All run in the benchmark's own event loop, a foreign loop for vessel_nb, as in a notebook.
A peer whose package is not installed is reported as missing, not skipped silently.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

#: the same pool for raw httpx and SDKs as vessel_nb's adapters use (adapters/base.py)
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=60)


def _sdk_http(sdk: Any) -> Any:
    """The SDK's own async HTTP client class, with the same pool limits (recent openai and
    anthropic releases build on ``httpx2`` and refuse an ``httpx`` client)."""
    import importlib

    flavour = importlib.import_module(sdk.DefaultAsyncHttpxClient.__mro__[1].__module__.split(".")[0])
    limits = flavour.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=60)
    return sdk.DefaultAsyncHttpxClient(limits=limits)


class _Tally:
    """Answer tokens seen and the time to the first, for one call: the same bookkeeping (and
    the same cost per token) for every contender."""

    __slots__ = ("start", "ttft", "tokens")

    def __init__(self) -> None:
        self.start, self.ttft, self.tokens = time.perf_counter(), None, 0

    def token(self) -> None:
        self.tokens += 1
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.start

    def result(self) -> tuple[float | None, int]:
        return self.ttft, self.tokens


def _prompt(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"n={n}"}]


#: raw httpx's time limits: like vessel_nb's adapters (adapters/httpio.py ``http_timeout``) and the
#: ollama client, no timer per read (httpx re-arms one for every read of the socket); one limit for
#: the whole call instead (``Raw.texts``), as vessel_nb keeps one timer per attempt
RAW_TIMEOUT = httpx.Timeout(30, read=None)
RAW_CALL_LIMIT = 300.0


class Raw:
    """Raw httpx: stream the body, split lines, json.loads each, read to the end (pool reuse)."""

    def __init__(self, base: str, protocol: str = "ollama", timeout: Any = RAW_TIMEOUT) -> None:
        self.client = httpx.AsyncClient(limits=LIMITS, timeout=timeout)
        self.protocol = protocol
        self.url = (
            base + {"ollama": "/api/chat", "openai": "/v1/chat/completions", "anthropic": "/v1/messages"}[protocol]
        )

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        async for _text in self.texts(n):
            tally.token()
        return tally.result()

    async def texts(self, n: int):
        """The answer's text pieces, as they arrive."""
        body = {"model": "bench", "messages": _prompt(n), "stream": True, "max_tokens": n}
        async with asyncio.timeout(RAW_CALL_LIMIT), self.client.stream("POST", self.url, json=body) as r:
            async for line in r.aiter_lines():
                if self.protocol == "ollama":
                    text = json.loads(line)["message"]["content"] if line else ""
                elif line.startswith("data: {"):
                    ev = json.loads(line[6:])
                    if self.protocol == "openai":
                        text = ev["choices"][0]["delta"].get("content") if ev.get("choices") else None
                    else:
                        text = ev.get("delta", {}).get("text") if ev.get("type") == "content_block_delta" else None
                else:
                    text = None
                if text:
                    yield text

    async def close(self) -> None:
        await self.client.aclose()


class RawViaLoop:
    """Raw httpx run on vessel_nb's background loop and handed to the caller's loop by the
    same bridge ``orch.stream`` uses — no routing, adapter, log or privacy check. The floor
    of the design: what crossing threads costs on this machine, measured in the same rounds."""

    def __init__(self, base: str, protocol: str = "ollama") -> None:
        self.raw = Raw(base, protocol)  # used only on the background loop

    async def call(self, n: int) -> tuple[float | None, int]:
        from vessel_nb import loop as bg

        tally = _Tally()
        async for _text in bg.bridge(lambda: self.raw.texts(n)):
            tally.token()
        return tally.result()

    async def close(self) -> None:
        from vessel_nb import loop as bg

        await asyncio.wrap_future(bg.submit(self.raw.close()))


def orchestrator(base: str, *, log_path: Any = False):
    """vessel_nb over the bench server: one vessel per protocol."""
    from vessel_nb import AIOrchestrator, ClaudeAdapter, OllamaAdapter, OpenAIAdapter

    vessels = {
        "ollama": OllamaAdapter(model="bench", base_url=base),
        "openai": OpenAIAdapter(model="bench", base_url=base + "/v1", api_key="bench"),
        "claude": ClaudeAdapter(model="bench", base_url=base, api_key="bench"),
    }
    return AIOrchestrator(vessels, log_path=log_path)


class VesselStream:
    """``async for chunk in orch.stream(...)`` from the caller's own event loop."""

    def __init__(self, orch: Any, vessel: str) -> None:
        self.orch, self.vessel = orch, vessel

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        async for chunk in self.orch.stream(f"n={n}", vessel=self.vessel):
            if chunk.content:
                tally.token()
        return tally.result()

    async def close(self) -> None:
        pass


class VesselStreamSync(VesselStream):
    """``with orch.stream_sync(...) as chunks`` (blocks the benchmark's loop, as a cell does)."""

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        with self.orch.stream_sync(f"n={n}", vessel=self.vessel) as chunks:
            for chunk in chunks:
                if chunk.content:
                    tally.token()
        return tally.result()


class VesselAsk(VesselStream):
    """``orch.ask(...)``: the whole answer, consumed on the background loop."""

    async def call(self, n: int) -> tuple[float | None, int]:
        reply = self.orch.ask(f"n={n}", vessel=self.vessel)
        return None, reply.usage.tokens_out or 0


class OpenAISDK:
    """The official openai client, streaming chat completions."""

    def __init__(self, base: str) -> None:
        import openai

        self.client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="bench", http_client=_sdk_http(openai))

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        stream = await self.client.chat.completions.create(model="bench", messages=_prompt(n), stream=True)
        async for ev in stream:
            if ev.choices and ev.choices[0].delta.content:
                tally.token()
        return tally.result()

    async def close(self) -> None:
        await self.client.close()


class AnthropicSDK:
    """The official anthropic client, streaming messages."""

    def __init__(self, base: str) -> None:
        import anthropic

        self.client = anthropic.AsyncAnthropic(base_url=base, api_key="bench", http_client=_sdk_http(anthropic))

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        stream = await self.client.messages.create(model="bench", max_tokens=n, messages=_prompt(n), stream=True)
        async for ev in stream:
            if ev.type == "content_block_delta" and getattr(ev.delta, "text", ""):
                tally.token()
        return tally.result()

    async def close(self) -> None:
        await self.client.close()


class OllamaSDK:
    """The official ollama client, streaming chat."""

    def __init__(self, base: str) -> None:
        import ollama

        self.client = ollama.AsyncClient(host=base, limits=LIMITS)

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        async for part in await self.client.chat(model="bench", messages=_prompt(n), stream=True):
            if part.message.content:
                tally.token()
        return tally.result()

    async def close(self) -> None:
        await self.client._client.aclose()


class LiteLLM:
    """LiteLLM's ``acompletion`` (OpenAI-compatible provider), streaming."""

    def __init__(self, base: str) -> None:
        import litellm

        litellm.telemetry = False
        self.acompletion = litellm.acompletion
        self.base = base + "/v1"

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        stream = await self.acompletion(
            model="openai/bench", api_base=self.base, api_key="bench", messages=_prompt(n), stream=True
        )
        async for ev in stream:
            if ev.choices and ev.choices[0].delta.content:
                tally.token()
        return tally.result()

    async def close(self) -> None:
        pass


class PydanticAI:
    """pydantic-ai's Agent over an OpenAI-compatible model (``model`` may be a FallbackModel)."""

    def __init__(self, model: Any) -> None:
        from pydantic_ai import Agent

        self.agent = Agent(model)

    async def call(self, n: int) -> tuple[float | None, int]:
        tally = _Tally()
        async with self.agent.run_stream(f"n={n}") as result:
            async for text in result.stream_text(delta=True, debounce_by=None):
                if text:
                    tally.token()
        return tally.result()

    async def close(self) -> None:
        await close_pydantic_clients()


def pydantic_openai_model(base_url: str, *, max_retries: int | None = None, timeout: float | None = None) -> Any:
    """An OpenAIChatModel on ``base_url`` (the openai client's defaults unless given)."""
    import openai
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    kw: dict[str, Any] = {}
    if max_retries is not None:
        kw["max_retries"] = max_retries
    if timeout is not None:
        kw["timeout"] = timeout
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", **kw)
    _OPEN_CLIENTS.append(client)
    return OpenAIChatModel("bench", provider=OpenAIProvider(openai_client=client))


_OPEN_CLIENTS: list[Any] = []


async def close_pydantic_clients() -> None:
    """Close the openai clients made for pydantic-ai models (on the loop that used them)."""
    while _OPEN_CLIENTS:
        await _OPEN_CLIENTS.pop().close()


def available(make: Callable[[], Any]) -> tuple[Any | None, str]:
    """Build a contender, or say why it cannot run here (a package not installed)."""
    try:
        return make(), ""
    except ImportError as exc:
        return None, f"not installed ({exc.name})"

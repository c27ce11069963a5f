"""OpenAI Chat Completions (and OpenAI-compatible servers: llama.cpp, vLLM, LM Studio,
Ollama's ``/v1``): ``POST {base_url}/chat/completions``, SSE ``data:`` frames.

Complete only at ``data: [DONE]``; a ``data:`` payload may be ``{"error": ...}``; the usage
chunk has ``"choices": []``. base_url includes ``/v1``, as in the official SDK.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import ClassVar
from urllib.parse import urlsplit

from .. import translate
from ..types import Delta, Usage
from ..wire import aiter_sse
from .base import BaseAdapter


class OpenAIAdapter(BaseAdapter):
    """OpenAI (``https://api.openai.com/v1``) or any OpenAI-compatible server."""

    provider = "openai"
    key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    url_env = "OPENAI_BASE_URL"
    default_url = "https://api.openai.com/v1"
    default_thinking = True

    def __init__(self, model: str = "gpt-5", api_key: str | None = None, base_url: str | None = None, **kw) -> None:
        super().__init__(model, api_key=api_key, base_url=base_url, **kw)

    @classmethod
    def _example_model(cls) -> str:
        return "gpt-5"

    @property
    def is_openai(self) -> bool:
        """Talking to OpenAI itself, not a compatible server."""
        return (urlsplit(self.base_url).hostname or "").endswith("openai.com")

    @property
    def key_required(self) -> bool:  # type: ignore[override]
        # Local compatible servers (llama.cpp, LM Studio) usually need no key.
        return self.is_openai

    @property
    def local(self) -> bool:
        return bool(self._local_override)

    def terminator(self) -> str:
        return "data: [DONE] line"

    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_request(self, messages, images, opts):
        msgs: list[dict] = [{"role": m["role"], "content": m.get("content", "")} for m in messages]
        if images:
            last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
            parts = [{"type": "text", "text": msgs[last_user]["content"]}]
            parts += [{"type": "image_url", "image_url": {"url": img.data_url}} for img in images]
            msgs[last_user]["content"] = parts
        body: dict = {"model": opts.model, "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
        if opts.temperature is not None:
            body["temperature"] = opts.temperature
        if opts.max_tokens is not None:
            # OpenAI's reasoning models only take max_completion_tokens; compatible servers
            # mostly only know max_tokens.
            body["max_completion_tokens" if self.is_openai else "max_tokens"] = opts.max_tokens
        if opts.think:
            body["reasoning_effort"] = "high"
        body.update(opts.extra)
        return "POST", "/chat/completions", body, {"Accept": "text/event-stream", **self._headers()}

    async def parse(self, lines: AsyncIterator[str]) -> AsyncIterator[Delta]:
        async for sse in aiter_sse(lines):
            if sse.raw:
                raise translate.from_event(self, sse.data)
            if sse.data.startswith("[DONE]"):
                yield Delta(done=True)
                continue  # the caller stops here; what follows is only read to end the body
            try:
                data = json.loads(sse.data)
            except ValueError:
                raise translate.stream_error(self, f"malformed event data: {sse.data[:80]!r}") from None
            if isinstance(data, dict) and data.get("error"):
                raise translate.from_event(self, data)
            choices = data.get("choices") or []
            u = data.get("usage")
            choice = choices[0] if choices else {}
            delta = choice.get("delta") or {}
            yield Delta(
                text=delta.get("content") or "",
                thinking=delta.get("reasoning") or delta.get("reasoning_content") or "",
                stop_reason=choice.get("finish_reason"),
                usage=Usage(u.get("prompt_tokens"), u.get("completion_tokens")) if isinstance(u, dict) else None,
                model=data.get("model") or None,
            )

    def probe_request(self):
        return "GET", f"/models/{self.model}", self._headers()

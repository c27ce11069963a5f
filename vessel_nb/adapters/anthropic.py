"""Anthropic's Messages API: ``POST /v1/messages`` with ``stream: true``, SSE events.

The stream is complete only at ``event: message_stop``; ``event: error`` can arrive after a
200; ``ping`` and unknown events are ignored, as the docs ask.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import ClassVar

from ..types import Delta, Usage
from ..wire import aiter_sse
from . import translate
from .base import BaseAdapter

API_VERSION = "2023-06-01"


class ClaudeAdapter(BaseAdapter):
    """Anthropic Claude (``https://api.anthropic.com``)."""

    provider = "claude"
    key_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    url_env = "ANTHROPIC_BASE_URL"
    default_url = "https://api.anthropic.com"
    default_thinking = True
    #: Anthropic requires max_tokens on every request
    default_max_tokens = 4096
    thinking_budget = 2048

    def __init__(
        self, model: str = "claude-sonnet-4-5", api_key: str | None = None, base_url: str | None = None, **kw
    ) -> None:
        super().__init__(model, api_key=api_key, base_url=base_url, **kw)

    @classmethod
    def _example_model(cls) -> str:
        return "claude-sonnet-4-5"

    def terminator(self) -> str:
        return "message_stop event"

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._key() or "", "anthropic-version": API_VERSION, "accept": "text/event-stream"}

    def build_request(self, messages, images, opts):
        system = "\n\n".join(m.get("content", "") for m in messages if m["role"] == "system")
        msgs: list[dict] = [
            {"role": m["role"], "content": m.get("content", "")} for m in messages if m["role"] != "system"
        ]
        if images:
            last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
            blocks = [
                {"type": "image", "source": {"type": "base64", "media_type": img.mime, "data": img.b64}}
                for img in images
            ]
            msgs[last_user]["content"] = [*blocks, {"type": "text", "text": msgs[last_user]["content"]}]
        max_tokens = opts.max_tokens or self.default_max_tokens
        body: dict = {"model": opts.model, "max_tokens": max_tokens}
        if system:
            body["system"] = system
        body["messages"] = msgs
        body["stream"] = True
        if opts.think:
            budget = min(self.thinking_budget, max(1024, max_tokens - 1))
            body["max_tokens"] = max(max_tokens, budget + 1)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif opts.temperature is not None:  # the API rejects temperature together with thinking
            body["temperature"] = opts.temperature
        body.update(opts.extra)
        return "POST", "/v1/messages", body, self._headers()

    async def parse(self, lines: AsyncIterator[str]) -> AsyncIterator[Delta]:
        tokens_in = None
        async for sse in aiter_sse(lines):
            if sse.raw:
                raise translate.stream_error(self, f"unexpected data in the stream: {self.excerpt(sse.data)}")
            try:
                data = json.loads(sse.data) if sse.data else {}
            except ValueError:
                raise translate.stream_error(self, f"malformed event data: {self.excerpt(sse.data)}") from None
            kind = sse.event if sse.event != "message" else data.get("type", "")
            if kind == "error":
                raise translate.from_event(self, data)
            if kind == "message_start":
                message = data.get("message") or {}
                tokens_in = (message.get("usage") or {}).get("input_tokens")
                yield Delta(model=message.get("model"))
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta":
                    yield Delta(text=delta.get("text", ""))
                elif delta.get("type") == "thinking_delta":
                    yield Delta(thinking=delta.get("thinking", ""))
            elif kind == "message_delta":
                u = data.get("usage") or {}
                yield Delta(
                    usage=Usage(u.get("input_tokens", tokens_in), u.get("output_tokens")),
                    stop_reason=(data.get("delta") or {}).get("stop_reason"),
                )
            elif kind == "message_stop":
                yield Delta(done=True)
            # ping, content_block_start/stop and event types added later: nothing to do

    def probe_request(self):
        return "GET", f"/v1/models/{self.model}", self._headers()

"""Anthropic's Messages API: ``POST /v1/messages`` with ``stream: true``, SSE events.

The stream is complete only at ``event: message_stop``; ``event: error`` can arrive after a
200; ``ping`` and unknown events are ignored, as the docs ask.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..types import Delta, Usage
from ..wire import SSE
from . import shape, translate
from .base import BaseAdapter, usage
from .reader import SSEReader

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

    def reader(self) -> _Reader:  # noqa: D102
        return _Reader(self)

    def probe_request(self):
        return "GET", f"/v1/models/{self.model}", self._headers()


class _Reader(SSEReader):
    """Messages API events until ``message_stop``."""

    __slots__ = ("counts",)

    def __init__(self, adapter: BaseAdapter) -> None:
        super().__init__(adapter)
        self.counts: dict = {}  # message_start's usage, updated by message_delta's (cumulative)

    def event(self, sse: SSE) -> Delta | str | None:
        if sse.raw:
            raise translate.stream_error(
                self.adapter, f"unexpected data in the stream: {self.adapter.excerpt(sse.data)}"
            )
        data = shape.load(self.adapter, sse.data) if sse.data else {}
        if sse.event == "content_block_delta" and data.__class__ is dict:  # a token: read at once
            delta = data.get("delta")
            if delta.__class__ is dict and delta.get("type") == "text_delta":
                text = delta.get("text")
                if text.__class__ is str:
                    return text or Delta()  # the text alone stands for Delta(text=text): model stays None
        try:
            return self._read(sse, data)
        except shape.ERRORS as exc:
            raise shape.error(self.adapter, exc, sse.data) from None

    def _read(self, sse: SSE, data: Any) -> Delta | None:
        data = shape.obj(data, "the event")
        kind = sse.event if sse.event != "message" else shape.text(data.get("type"), "type")
        if kind == "error":
            raise translate.from_event(self.adapter, data)
        if kind == "message_start":
            message = shape.obj(data.get("message"), "message")
            self.counts = _counts(self.counts, shape.obj(message.get("usage"), "message.usage"))
            return Delta(model=shape.opt_text(message.get("model"), "message.model"), usage=_usage(self.counts))
        if kind == "content_block_delta":
            delta = shape.obj(data.get("delta"), "delta")
            if delta.get("type") == "text_delta":
                return Delta(text=shape.text(delta.get("text"), "delta.text"))
            if delta.get("type") == "thinking_delta":
                return Delta(thinking=shape.text(delta.get("thinking"), "delta.thinking"))
        elif kind == "message_delta":
            self.counts = _counts(self.counts, shape.obj(data.get("usage"), "usage"))
            return Delta(
                usage=_usage(self.counts),
                stop_reason=shape.opt_text(shape.obj(data.get("delta"), "delta").get("stop_reason"), "stop_reason"),
            )
        elif kind == "message_stop":
            return Delta(done=True)
        # ping, content_block_start/stop and event types added later: nothing to do
        return None


def _counts(seen: dict, new: dict) -> dict:
    return {**seen, **{k: v for k, v in new.items() if v is not None}}


def _usage(u: dict) -> Usage:
    # input_tokens leaves out what was read from or written to the prompt cache: add them, so
    # tokens_in means all input tokens, as for the other providers.
    parts = [u.get(k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
    known = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
    return usage(sum(known) if known else None, u.get("output_tokens"), cached=u.get("cache_read_input_tokens"))

"""OpenAI's Responses API (``POST {base_url}/responses``), which the Codex models
(``gpt-5-codex``, ``gpt-5.1-codex``, …) are served by and nothing else.

Request: messages become ``input`` items, the system prompt becomes ``instructions``,
images become ``input_image`` parts, ``max_tokens`` becomes ``max_output_tokens``, thinking
becomes ``reasoning: {"effort", "summary": "auto"}`` so a summary of the reasoning streams.
``store`` is false unless asked for: a conversation is not kept on OpenAI's servers.

Stream: SSE frames ``event: <type>\\ndata: {json}\\n\\n`` whose JSON repeats the ``type``
and carries a ``sequence_number``. Read here: ``response.output_text.delta`` (answer),
``response.reasoning_summary_text.delta`` (thinking; ``reasoning_text`` too, as open-weight
servers send), ``response.created`` (served model), ``response.completed`` and
``response.incomplete`` (the end: usage, stop reason — ``max_output_tokens`` is an answer cut
short, not an error), ``response.failed`` and ``error`` (classified like HTTP errors by
:func:`vessel_nb.adapters.translate.from_event`). Every other event is ignored. There is no
``data: [DONE]``; a compatible server that adds one after the end is fine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..types import Delta, Usage
from ..wire import SSE
from . import shape, translate
from .reader import SSEReader

if TYPE_CHECKING:
    from ..images import Image
    from ..types import Message
    from .base import CallOptions

PATH = "/responses"
TERMINATOR = "response.completed event"
# The Chat Completions refusal of a Responses-only model (seen as 400 and as 404):
# "This model is only supported in v1/responses and not in v1/chat/completions." and
# "This model is not supported in the v1/chat/completions endpoint. Use the v1/responses
# endpoint instead."
REFUSAL_MARK = "v1/responses"


def build_request(
    messages: list[Message], images: list[Image], opts: CallOptions, *, store: bool
) -> tuple[str, str, dict, dict]:
    """(method, path, body, extra headers) of a streamed Responses call."""
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    items: list[dict[str, Any]] = [{"role": m["role"], "content": m.get("content") or ""} for m in turns]
    if images:
        last_user = max(i for i, m in enumerate(items) if m["role"] == "user")
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": items[last_user]["content"]}]
        parts += [{"type": "input_image", "image_url": img.data_url, "detail": "auto"} for img in images]
        items[last_user]["content"] = parts
    body: dict[str, Any] = {"model": opts.model, "input": items, "stream": True, "store": store}
    if system:
        body["instructions"] = system
    if opts.temperature is not None:
        body["temperature"] = opts.temperature
    if opts.max_tokens is not None:
        body["max_output_tokens"] = opts.max_tokens
    if opts.think:
        body["reasoning"] = {"effort": "high", "summary": "auto"}
    body.update(opts.extra)
    return "POST", PATH, body, {"Accept": "text/event-stream"}


def is_refusal(err: Exception) -> bool:
    """A Chat Completions error that says the model is served by the Responses API only."""
    status = getattr(err, "status", None)
    return status in (400, 404) and REFUSAL_MARK in str(getattr(err, "message", ""))


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    out = (u.get("output_tokens_details") or {}) if isinstance(u.get("output_tokens_details"), dict) else {}
    inp = (u.get("input_tokens_details") or {}) if isinstance(u.get("input_tokens_details"), dict) else {}
    usage = Usage(_int(u.get("input_tokens")), _int(u.get("output_tokens")))
    # output_tokens already includes the reasoning tokens, as Usage.tokens_out wants.
    extra = {"tokens_reasoning": _int(out.get("reasoning_tokens")), "tokens_cached": _int(inp.get("cached_tokens"))}
    for name, value in extra.items():
        if hasattr(usage, name):
            setattr(usage, name, value)
    return usage


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _end(response: Any) -> Delta:
    """The last Delta, from the response object of ``response.completed`` / ``.incomplete``."""
    response = response if isinstance(response, dict) else {}
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    status = response.get("status")
    return Delta(
        done=True,
        stop_reason=reason or (status if isinstance(status, str) else None) or "completed",
        usage=_usage(response.get("usage")),
        model=response.get("model") if isinstance(response.get("model"), str) else None,
    )


class Reader(SSEReader):
    """Responses SSE events -> Deltas; errors are raised already classified."""

    __slots__ = ()

    def event(self, sse: SSE) -> Delta | str | None:
        adapter = self.adapter
        if sse.raw:  # a bare JSON error body in the stream
            raise translate.from_event(adapter, sse.data)
        if sse.data.startswith("[DONE]"):
            return None
        data = shape.load(adapter, sse.data)
        if not isinstance(data, dict):
            raise translate.stream_error(adapter, f"unexpected event data: {adapter.excerpt(sse.data)}")
        kind = data.get("type") or sse.event
        if kind == "response.output_text.delta":
            return _text(data.get("delta")) or Delta()  # the text alone stands for Delta(text=...)
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return Delta(thinking=_text(data.get("delta")))
        if kind == "response.reasoning_summary_part.added" and _int(data.get("summary_index")):
            return Delta(thinking="\n\n")  # a new paragraph of the summary
        if kind == "response.created":
            response = data.get("response") if isinstance(data.get("response"), dict) else {}
            model = response.get("model")
            return Delta(model=model if isinstance(model, str) else None)
        if kind in ("response.completed", "response.incomplete"):
            return _end(data.get("response"))
        if kind == "response.failed":
            response = data.get("response") if isinstance(data.get("response"), dict) else {}
            error = response.get("error")
            raise translate.from_event(adapter, {"error": error if isinstance(error, dict) else {}})
        if kind == "error":
            raise translate.from_event(adapter, data)
        if isinstance(data.get("error"), dict) and not kind:
            raise translate.from_event(adapter, data)  # a Chat-style in-band error from a proxy
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

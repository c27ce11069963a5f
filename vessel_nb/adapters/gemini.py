"""Google Gemini: ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``.

Events end in CRLF CRLF; the stream has no ``[DONE]``: it is complete when an event carries
``finishReason``. A mid-stream error arrives as raw pretty-printed JSON without ``data:``
(see :mod:`vessel_nb.wire`). The key goes in the ``x-goog-api-key`` header, never the URL.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ..types import Delta, Usage
from ..wire import SSE
from . import shape, translate
from .base import BaseAdapter, usage
from .reader import SSEReader


class GeminiAdapter(BaseAdapter):
    """Google Gemini API (``https://generativelanguage.googleapis.com``)."""

    provider = "gemini"
    key_env: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    url_env = "GEMINI_BASE_URL"
    default_url = "https://generativelanguage.googleapis.com"
    default_thinking = True

    def __init__(
        self, model: str = "gemini-2.5-flash", api_key: str | None = None, base_url: str | None = None, **kw
    ) -> None:
        super().__init__(model, api_key=api_key, base_url=base_url, **kw)

    @classmethod
    def _example_model(cls) -> str:
        return "gemini-2.5-flash"

    def terminator(self) -> str:
        return "finishReason"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key() or ""}

    def build_request(self, messages, images, opts):
        system = "\n\n".join(m.get("content", "") for m in messages if m["role"] == "system")
        contents = [
            {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m.get("content", "")}]}
            for m in messages
            if m["role"] != "system"
        ]
        if images:
            last_user = max(i for i, c in enumerate(contents) if c["role"] == "user")
            contents[last_user]["parts"] += [{"inlineData": {"mimeType": img.mime, "data": img.b64}} for img in images]
        body: dict = {}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        body["contents"] = contents
        config: dict = {}
        if opts.temperature is not None:
            config["temperature"] = opts.temperature
        if opts.max_tokens is not None:
            config["maxOutputTokens"] = opts.max_tokens
        if opts.think:
            config["thinkingConfig"] = {"includeThoughts": True}
        if config:
            body["generationConfig"] = config
        body.update(opts.extra)
        path = f"/v1beta/models/{quote(opts.model, safe='')}:streamGenerateContent?alt=sse"
        return "POST", path, body, self._headers()

    def reader(self) -> _Reader:  # noqa: D102
        return _Reader(self)

    def probe_request(self):
        return "GET", f"/v1beta/models/{quote(self.model, safe='')}", self._headers()


# A text event is {"candidates": [{"content": {"parts": [{"text"}], "role"}, "index"}],
# "usageMetadata", "modelVersion", "responseId"}: with no other keys it is read at once;
# anything else (a finishReason, a thought, safety ratings, an error) takes the checking path.
_EVENT_KEYS = frozenset(("candidates", "usageMetadata", "modelVersion", "responseId", "createTime"))
_CANDIDATE_KEYS = frozenset(("content", "index"))
_CONTENT_KEYS = frozenset(("parts", "role"))


class _Reader(SSEReader):
    """streamGenerateContent events until one carries a finishReason."""

    __slots__ = ()

    def event(self, sse: SSE) -> Delta | str | None:
        data = shape.load(self.adapter, sse.data)
        if data.__class__ is dict and data.keys() <= _EVENT_KEYS:
            candidates = data.get("candidates")
            if candidates.__class__ is list and len(candidates) == 1:
                cand = candidates[0]
                content = cand.get("content") if cand.__class__ is dict and cand.keys() <= _CANDIDATE_KEYS else None
                if content.__class__ is dict and content.keys() <= _CONTENT_KEYS:
                    parts = content.get("parts")
                    part = parts[0] if parts.__class__ is list and len(parts) == 1 else None
                    if part.__class__ is dict and part.keys() == {"text"}:
                        text, model, u = part["text"], data.get("modelVersion"), data.get("usageMetadata")
                        if text.__class__ is str and (model is None or model.__class__ is str):
                            model = model or None
                            if u is None and text and model == self.model:
                                return text  # Delta(text=text, model=self.model), without building it
                            if u is None or u.__class__ is dict:
                                self.model = model
                                return Delta(text=text, usage=_usage(u) if u else None, model=model)
        try:
            return self._read(data)
        except shape.ERRORS as exc:
            raise shape.error(self.adapter, exc, sse.data) from None

    def _read(self, data: Any) -> Delta:
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        data = shape.obj(data, "the event")
        if data.get("error"):
            raise translate.from_event(self.adapter, data)
        candidates = shape.items(data.get("candidates"), "candidates")
        feedback = shape.obj(data.get("promptFeedback"), "promptFeedback")
        if not candidates and feedback.get("blockReason"):
            raise translate.stream_error(self.adapter, f"the prompt was blocked ({feedback['blockReason']})")
        cand = shape.first(candidates, "candidates")
        text = thinking = ""
        for part in shape.items(shape.obj(cand.get("content"), "content").get("parts"), "parts"):
            part = shape.obj(part, "a part")
            if part.get("thought"):
                thinking += shape.text(part.get("text"), "part.text")
            else:
                text += shape.text(part.get("text"), "part.text")
        u = shape.obj(data.get("usageMetadata"), "usageMetadata")
        finish = shape.opt_text(cand.get("finishReason"), "finishReason")
        return Delta(
            text=text,
            thinking=thinking,
            done=bool(finish),
            stop_reason=finish,
            usage=_usage(u) if u else None,
            model=shape.opt_text(data.get("modelVersion"), "modelVersion"),
        )


def _usage(u: dict) -> Usage:
    # Gemini counts its thoughts apart from the candidates: tokens_out is both, as elsewhere.
    # promptTokenCount already includes cachedContentTokenCount.
    out = [u.get(k) for k in ("candidatesTokenCount", "thoughtsTokenCount")]
    known = [n for n in out if isinstance(n, int) and not isinstance(n, bool)]
    return usage(
        u.get("promptTokenCount"),
        sum(known) if known else None,
        reasoning=u.get("thoughtsTokenCount"),
        cached=u.get("cachedContentTokenCount"),
    )

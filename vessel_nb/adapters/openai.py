"""OpenAI Chat Completions (and OpenAI-compatible servers: llama.cpp, vLLM, LM Studio,
Ollama's ``/v1``): ``POST {base_url}/chat/completions``, SSE ``data:`` frames; or OpenAI's
Responses API (:mod:`.openai_responses`), the only way to reach the Codex models.

Chat Completions is complete only at ``data: [DONE]``; a ``data:`` payload may be
``{"error": ...}``; the usage chunk has ``"choices": []``. base_url includes ``/v1``, as in
the official SDK.

``api="auto"`` (the default) uses Responses on OpenAI's own host and Chat Completions
elsewhere, since compatible servers mostly speak only that. When Chat Completions refuses a
model as "only supported in v1/responses", the adapter switches to Responses for that model
(once: the switch is remembered, logged as a warning on the ``vessel_nb`` logger and shown
by ``describe()``/``%ask vessels``) and sends the same call again, before any text has
arrived, so the person sees an answer instead of an error.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .. import errors as E
from ..types import CallOptions, Delta, Message, Usage
from ..wire import SSE
from . import openai_responses as responses
from . import shape, translate
from .base import BaseAdapter, field, usage
from .reader import Reader, SSEReader

APIS = ("auto", "chat", "responses")
"""what ``OpenAIAdapter(api=...)`` accepts"""
_log = logging.getLogger("vessel_nb")


class OpenAIAdapter(BaseAdapter):
    """OpenAI (``https://api.openai.com/v1``) or any OpenAI-compatible server."""

    provider = "openai"
    key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    url_env = "OPENAI_BASE_URL"
    default_url = "https://api.openai.com/v1"
    default_thinking = True

    def __init__(
        self,
        model: str = "gpt-5",
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        api: str = "auto",
        store: bool = False,
        **kw,
    ) -> None:
        if api not in APIS:
            raise E.ConfigError(f"OpenAIAdapter api={api!r} is not known; use one of {', '.join(APIS)}")
        super().__init__(model, api_key=api_key, base_url=base_url, **kw)
        self.api = api
        """"chat", "responses", or "auto" (Responses on OpenAI's own host, Chat Completions elsewhere)"""
        self.store = bool(store)
        """Responses API: let OpenAI keep the conversation (off by default)"""
        self._wire = "chat"  # which API this object speaks; a per-call copy speaks Responses
        self.switched: dict[str, str] = {}
        """models moved to the Responses API after Chat Completions refused them -> the refusal"""

    def api_for(self, model: str | None = None) -> str:
        """The API a call with ``model`` goes to: "chat" or "responses"."""
        if self.api != "auto":
            return self.api
        if (model or self.model) in self.switched:
            return "responses"
        return "responses" if self.is_openai else "chat"

    def describe(self) -> dict[str, Any]:  # noqa: D102
        info = super().describe()
        api = self.api_for() if self.api == "auto" else self.api
        info["api"] = f"{api} (auto)" if self.api == "auto" else api
        if self.switched:
            info["api"] += "; responses for " + ", ".join(sorted(self.switched))
        return info

    def _speaking(self, api: str) -> OpenAIAdapter:
        if api == self._wire:
            return self
        # A shallow copy shares the connection pool and key; only what it speaks differs,
        # so concurrent calls on different APIs cannot confuse each other's parser.
        view = copy.copy(self)
        view._wire = api
        return view

    async def _host_call(self, messages: Sequence[Message], opts: CallOptions) -> AsyncIterator[Delta]:
        model = opts.model or self.model
        api = self.api_for(model)
        started = False
        try:
            async for delta in BaseAdapter._host_call(self._speaking(api), messages, opts):
                started = True
                yield delta
            return
        except E.VesselError as err:
            if started or api != "chat" or self.api != "auto" or not responses.is_refusal(err):
                raise
            self.switched[model] = err.message
            _log.warning(
                "%s: Chat Completions refused %r (%s); switching this model to the Responses API",
                self.name,
                model,
                err.message,
            )
        async for delta in BaseAdapter._host_call(self._speaking("responses"), messages, opts):
            yield delta

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
        return responses.TERMINATOR if self._wire == "responses" else "data: [DONE] line"

    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_request(self, messages, images, opts):
        if self._wire == "responses":
            method, path, body, headers = responses.build_request(messages, images, opts, store=self.store)
            return method, path, body, {**headers, **self._headers()}
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

    def reader(self) -> Reader:  # noqa: D102
        return responses.Reader(self) if self._wire == "responses" else _ChatReader(self)

    def probe_request(self):
        return "GET", f"/models/{self.model}", self._headers()

    def probe_fallback(self, response: httpx.Response):
        # vLLM's and llama.cpp's servers route only the list, GET /models: its 404 for
        # /models/{id} says nothing about the model, so the list is asked instead. (OpenAI's
        # 404 means an unknown model; the list then says it is not served, which is right.)
        if response.status_code != 404 or self._asked_list(response):
            return None
        return "GET", "/models", self._headers()

    def probe_result(self, response: httpx.Response) -> str:  # noqa: D102
        if not self._asked_list(response):
            return "ok"
        where, path = self.host_label, urlsplit(self.base_url).path.rstrip("/")
        asked = f"GET {path}/models"
        if response.status_code == 404:
            raise E.VesselUnavailable(
                f"{where} answered 404 to GET {path}/models/{self.model} and to {asked}"
                f" ({self.excerpt(response.text)}): no OpenAI-compatible API there",
                vessel=self.name,
                hint="base_url should be the server's OpenAI-compatible address, ending in /v1",
            )
        if response.status_code >= 300:
            raise translate.from_status(self, response.status_code, response.headers, response.content[:65536])
        try:
            ids = [m["id"] for m in response.json()["data"]]
        except (ValueError, TypeError, KeyError, IndexError):
            raise translate.stream_error(
                self,
                f"{asked} at {where} answered {response.status_code} without a model list: "
                f"{self.excerpt(response.text)}",
            ) from None
        if self.model in ids:
            return f"{self.model} found in the list of {asked}"
        shown = ", ".join(self.excerpt(str(i), 60) for i in ids[:5]) or "nothing"
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        raise E.ModelNotFound(
            f"model {self.model!r} is not served at {where}: {asked} lists {shown}{more}",
            vessel=self.name,
            status=404,
            hint="name the model as the server lists it",
        )

    def _asked_list(self, response: httpx.Response) -> bool:
        """``response`` answers the list (GET /models), not the one-model probe."""
        return response.request.url.path.rstrip("/") == httpx.URL(self.base_url + "/models").path.rstrip("/")


# A text chunk is {"id", "object", "created", "model", "choices": [{"index", "delta":
# {"content"}, "finish_reason": null}]} (with a few more keys from OpenAI itself): when it
# has no other keys it is read at once; anything else takes the general, checking path.
_CHUNK_KEYS = frozenset(
    ("id", "object", "created", "model", "choices", "system_fingerprint", "service_tier", "obfuscation", "usage")
)
_CHOICE_KEYS = frozenset(("index", "delta", "finish_reason", "logprobs"))
_DELTA_KEYS = frozenset(("role", "content", "refusal"))


class _ChatReader(SSEReader):
    """Chat Completions: ``data:`` events until ``data: [DONE]``."""

    __slots__ = ()

    def event(self, sse: SSE) -> Delta | str | None:
        adapter = self.adapter
        if sse.raw:
            raise translate.from_event(adapter, sse.data)
        if sse.data.startswith("[DONE]"):
            return Delta(done=True)  # the caller stops here; what follows is only read to end the body
        data = shape.load(adapter, sse.data)
        if data.__class__ is dict and data.keys() <= _CHUNK_KEYS and data.get("usage") is None:
            choices = data.get("choices")
            if choices.__class__ is list and len(choices) == 1:
                choice = choices[0]
                if choice.__class__ is dict and choice.keys() <= _CHOICE_KEYS and choice.get("finish_reason") is None:
                    delta, model = choice.get("delta"), data.get("model")
                    if (
                        delta.__class__ is dict
                        and delta.keys() <= _DELTA_KEYS
                        and (model is None or model.__class__ is str)
                    ):
                        text, model = delta.get("content"), model or None
                        if text is None or text.__class__ is str:
                            if text and model == self.model:
                                return text  # Delta(text=text, model=self.model), without building it
                            self.model = model
                            return Delta(text=text or "", model=model)
        try:
            return self._read(data)
        except shape.ERRORS as exc:
            raise shape.error(adapter, exc, sse.data) from None

    def _read(self, data: Any) -> Delta:
        if isinstance(data, dict) and data.get("error"):
            raise translate.from_event(self.adapter, data)
        data = shape.obj(data, "the event")
        choice = shape.first(data.get("choices"), "choices")
        delta = shape.obj(choice.get("delta"), "choices[0].delta")
        u = shape.obj(data.get("usage"), "usage")
        return Delta(
            text=shape.text(delta.get("content"), "delta.content"),
            thinking=shape.text(delta.get("reasoning"), "delta.reasoning")
            or shape.text(delta.get("reasoning_content"), "delta.reasoning_content"),
            stop_reason=shape.opt_text(choice.get("finish_reason"), "finish_reason"),
            usage=_chat_usage(u) if u else None,
            model=shape.opt_text(data.get("model"), "model"),
        )


def _chat_usage(u: dict) -> Usage:
    # completion_tokens already counts the reasoning tokens; prompt_tokens the cached ones.
    return usage(
        u.get("prompt_tokens"),
        u.get("completion_tokens"),
        reasoning=field(u.get("completion_tokens_details"), "reasoning_tokens"),
        cached=field(u.get("prompt_tokens_details"), "cached_tokens"),
    )

"""Ollama's native API: ``POST /api/chat``, NDJSON, one JSON object per line.

A 200 does not mean success: an ``{"error": ...}`` line can end the stream (docs/api/errors).
The stream is complete only when an object with ``"done": true`` arrives.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx

from .. import address, checks
from .. import errors as E
from ..types import Delta, Timeouts
from . import shape, tls, translate
from .base import BaseAdapter, usage
from .reader import Reader

SIDE_REQUEST_LIMIT = 5.0
"""seconds, in all, for a request beside the calls (a model's capabilities)"""


def pulled_names(data: Any) -> list[str]:
    """The model names of an ``/api/tags`` answer; ValueError when it is not one."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ValueError("not an Ollama /api/tags answer")
    return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str) and m["name"]]


class OllamaAdapter(BaseAdapter):
    """A model served by Ollama (local by default: ``http://127.0.0.1:11434``)."""

    provider = "ollama"
    url_env = "OLLAMA_HOST"
    default_url = "http://127.0.0.1:11434"
    key_required = False
    # A cold load of a large model can take minutes before the first byte: do not mistake
    # a loading model for a dead one. A dead server is found at once (connection refused).
    default_timeouts: ClassVar[Timeouts] = Timeouts(connect=3.0, first_token=300.0, idle=120.0, total=1800.0)
    # ...and a server that has stopped answering altogether is found by its free probe.
    liveness_every: ClassVar[float | None] = 5.0

    def __init__(
        self,
        model: str = "llama3.2",
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        keep_alive: str | int | None = None,
        **kw,
    ) -> None:
        super().__init__(model, api_key=api_key, base_url=base_url, **kw)
        checks.typed(keep_alive, (str, int, type(None)), "OllamaAdapter: keep_alive", 'a duration like "5m" or seconds')
        self.keep_alive = keep_alive
        self._capabilities: dict[str, list[str]] = {}

    @classmethod
    def _example_model(cls) -> str:
        return "llama3.2"

    def _normalize_url(self, url: str) -> str:
        # OLLAMA_HOST is often "0.0.0.0:11434" (the bind address) or has no scheme/port.
        return address.parse(url, who=self.name, example="127.0.0.1:11434", default_port=11434, field=self._url_field)

    @property
    def local(self) -> bool:
        """A loopback Ollama is local; one on another host only if declared local=True."""
        return self.is_loopback if self._local_override is None else self._local_override

    def unreachable_hint(self) -> str:
        return "is `ollama serve` running?" if self.is_loopback else f"is Ollama running on {self.host_label}?"

    def model_not_found_hint(self) -> str:
        return f"run `ollama pull {self.model}`"

    def terminator(self) -> str:
        return '"done": true object'

    def _headers(self) -> dict[str, str]:
        key = self._key()  # only for ollama.com or an authenticating proxy
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_request(self, messages, images, opts):
        msgs = [{"role": m["role"], "content": m.get("content", "")} for m in messages]
        if images:
            last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
            msgs[last_user]["images"] = [img.b64 for img in images]  # bare base64, no data: prefix
        body: dict = {"model": opts.model, "messages": msgs, "stream": True}
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        if opts.think:
            body["think"] = True
        options = {}
        if opts.temperature is not None:
            options["temperature"] = opts.temperature
        if opts.max_tokens is not None:
            options["num_predict"] = opts.max_tokens
        if options:
            body["options"] = options
        body.update(opts.extra)
        return "POST", "/api/chat", body, {"Accept": "application/x-ndjson", **self._headers()}

    def reader(self) -> _Reader:  # noqa: D102
        return _Reader(self)

    def probe_request(self):
        return "GET", "/api/tags", self._headers()

    def probe_result(self, response: httpx.Response) -> str:
        try:
            names = set(pulled_names(response.json()))
        except ValueError:  # something else holds the port (another web server, a proxy page)
            raise translate.stream_error(
                self,
                f"{self.host_label} answered /api/tags, but not with Ollama's list of models: "
                f"{self.excerpt(response.text)}",
            ) from None
        if self.model not in names and f"{self.model}:latest" not in names:
            raise E.ModelNotFound(
                f"model {self.model!r} is not pulled", vessel=self.name, hint=self.model_not_found_hint()
            )
        return "ok"

    def _known(self, capability: str) -> bool | None:
        configured = self._vision if capability == "vision" else self._thinking
        if configured is not None:
            return configured
        caps = self._capabilities.get(self.model)
        return None if caps is None else capability in caps

    async def supports(self, capability: str) -> bool:
        """Ask the server (``/api/show``) what the model can do; configured values win."""
        configured = self._vision if capability == "vision" else self._thinking if capability == "thinking" else None
        if configured is not None:
            return configured
        caps = self._capabilities.get(self.model)
        # a pool asks its hosts in the order a call would use them, until one knows the model
        for host in self._hostpool.order(advance=False) if self._hostpool else [self.base_url]:
            if caps is not None:
                break
            try:
                # a whole-request limit: httpx's own is per read, which a drip-feeding server never hits
                async with asyncio.timeout(SIDE_REQUEST_LIMIT):
                    response = await self._client().post(
                        host + "/api/show", json={"model": self.model}, headers=self._headers()
                    )
                found = response.json().get("capabilities") if response.status_code == 200 else None
            except (TimeoutError, httpx.HTTPError, ValueError, AttributeError):
                continue  # unknown now; do not cache, the server may come up
            if isinstance(found, list):
                caps = self._capabilities[self.model] = [c for c in found if isinstance(c, str)]
        return caps is not None and capability in caps

    async def pulled_models(self, timeout: float) -> list[str] | None:
        """The models this Ollama has pulled (``/api/tags``), or None when no Ollama answers
        within ``timeout`` seconds in all (a drip-feeding server included)."""
        try:
            async with asyncio.timeout(timeout):
                # a connection of its own, through the same loopback check as calls
                trust_env = not (self.local or self.is_loopback)
                async with httpx.AsyncClient(
                    transport=self._make_transport(),
                    trust_env=trust_env,
                    verify=tls.context(trust_env),
                    follow_redirects=False,
                ) as client:
                    response = await client.get(self.base_url + "/api/tags", headers=self._headers())
            response.raise_for_status()
            return pulled_names(response.json())
        except (TimeoutError, httpx.HTTPError, ValueError):
            return None


# A token line is {"model", "created_at", "message": {"role", "content"[, "thinking"]}, "done": false}:
# those exact keys are read at once; anything else takes the general, checking path.
_TOKEN_KEYS = frozenset(("model", "created_at", "message", "done"))
_MESSAGE_KEYS = frozenset(("role", "content", "thinking"))


class _Reader(Reader):
    """Ollama's NDJSON: one object per line."""

    __slots__ = ()

    def line(self, line: str) -> Delta | str | None:
        if not line or line.isspace():
            return None
        obj = shape.load(self.adapter, line, "line in the stream")
        if obj.__class__ is dict and obj.get("done") is False and obj.keys() <= _TOKEN_KEYS:
            msg = obj.get("message")
            if msg.__class__ is dict and msg.keys() <= _MESSAGE_KEYS:
                text, thinking, model = msg.get("content", ""), msg.get("thinking", ""), obj.get("model")
                if text.__class__ is str and thinking.__class__ is str and (model is None or model.__class__ is str):
                    model = model or None
                    if text and not thinking and model == self.model:
                        return text  # Delta(text=text, model=self.model), without building it
                    self.model = model
                    return Delta(text=text, thinking=thinking, model=model)
        try:
            return self._read(obj)
        except shape.ERRORS as exc:
            raise shape.error(self.adapter, exc, line) from None

    def _read(self, obj: Any) -> Delta:
        obj = shape.obj(obj, "the line")
        if obj.get("error"):
            raise translate.stream_error(self.adapter, f"error during the answer: {translate.error_message(obj)}")
        msg = shape.obj(obj.get("message"), "message")
        done = bool(obj.get("done"))
        return Delta(
            # /api/generate puts the text in "response" and reasoning in a top-level
            # "thinking" (as some proxies and older servers stream): read both framings
            text=shape.text(msg.get("content"), "message.content") or shape.text(obj.get("response"), "response"),
            thinking=shape.text(msg.get("thinking"), "message.thinking") or shape.text(obj.get("thinking"), "thinking"),
            done=done,
            stop_reason=shape.opt_text(obj.get("done_reason"), "done_reason"),
            usage=usage(obj.get("prompt_eval_count"), obj.get("eval_count")) if done else None,
            model=shape.opt_text(obj.get("model"), "model"),
        )

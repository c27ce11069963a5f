"""What every adapter shares: configuration, the HTTP client, time limits, error
translation and the end-of-stream rule. A provider module only says how to build its
request, how to read its stream, and which free endpoint tells whether it is up."""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .. import address, checks, locality, redaction, translate
from .. import errors as E
from ..images import Image, load_image
from ..types import Delta, Health, Message, Timeouts, Usage
from ..wire import aiter_lines
from .clock import AttemptClock

# Error bodies are small; a misbehaving server must not make us read megabytes.
_MAX_ERROR_BODY = 64 * 1024
# After the end-of-stream marker, how long to wait for the body to end (see _drain).
_DRAIN_SECONDS = 2.0


@dataclass
class CallOptions:
    """Per-call options every adapter understands."""

    model: str
    """model to use for this call"""
    temperature: float | None = None
    max_tokens: int | None = None
    think: bool = False
    """ask for visible reasoning where the provider supports it"""
    extra: dict[str, Any] = field(default_factory=dict)
    """provider-specific body fields, merged in last"""


class BaseAdapter:
    """Base of the four adapters. Subclasses set the class attributes and three methods."""

    provider: ClassVar[str] = ""
    #: environment variables holding the key, in order of preference
    key_env: ClassVar[tuple[str, ...]] = ()
    #: environment variable holding the address
    url_env: ClassVar[str] = ""
    default_url: ClassVar[str] = ""
    default_timeouts: ClassVar[Timeouts] = Timeouts()
    #: whether a call can go out without a key (local servers)
    key_required: ClassVar[bool] = True
    #: while waiting for a first token, probe liveness this often (seconds; None = never)
    liveness_every: ClassVar[float | None] = None
    #: default capabilities; Ollama asks its server instead
    default_vision: ClassVar[bool] = True
    default_thinking: ClassVar[bool] = False

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        local: bool | None = None,
        name: str | None = None,
        timeouts: Timeouts | None = None,
        vision: bool | None = None,
        thinking: bool | None = None,
        max_tokens: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise E.ConfigError(f"{type(self).__name__} needs a model name, e.g. model={self._example_model()!r}")
        who = type(self).__name__
        checks.typed(name, (str, type(None)), f"{who}: name", "a vessel name (text)")
        checks.typed(api_key, (str, type(None)), f"{who}: api_key", "text (or None to read it from the environment)")
        checks.typed(base_url, (str, type(None)), f"{who}: base_url", f"text like {self.default_url!r}")
        for flag, value in (("local", local), ("vision", vision), ("thinking", thinking)):
            checks.typed(value, (bool, type(None)), f"{who}: {flag}", "True, False or None")
        checks.typed(timeouts, (Timeouts, type(None)), f"{who}: timeouts", "a vessel_nb.Timeouts(...)")
        checks.typed(max_tokens, (int, type(None)), f"{who}: max_tokens", "a positive whole number")
        if max_tokens is not None and max_tokens < 1:
            raise E.ConfigError(f"{who}: max_tokens must be a positive whole number, not {max_tokens}")
        checks.typed(
            transport, (httpx.AsyncBaseTransport, type(None)), f"{who}: transport", "an httpx.AsyncBaseTransport"
        )
        if api_key is not None:
            checks.text(api_key, f"{who}: api_key")
        self.model = checks.text(model.strip(), f"{who}: model")
        self.name = name or self.provider
        from_env = os.environ.get(self.url_env or "-", "") if base_url is None else ""
        self._url_field = self.url_env if from_env else "base_url"  # named in address errors
        self.base_url = self._normalize_url(base_url or from_env or self.default_url)
        # The key is kept out of every public attribute, repr and message (see redact()).
        self.__key = (
            api_key if api_key is not None else next((os.environ[v] for v in self.key_env if os.environ.get(v)), None)
        )
        self._local_override = local
        self.timeouts = timeouts or self.default_timeouts
        self._vision = vision
        self._thinking = thinking
        self.max_tokens = max_tokens
        self._transport = transport
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    # --- configuration -------------------------------------------------------------
    @classmethod
    def _example_model(cls) -> str:
        return "model-name"

    def _normalize_url(self, url: str) -> str:
        return address.parse(url, who=self.name, example=self.default_url, field=self._url_field)

    @property
    def host_label(self) -> str:
        """host:port, for messages."""
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    @property
    def is_loopback(self) -> bool:
        """The address is meant to be on this machine: a loopback IP, or ``localhost`` (whose
        addresses are checked at every connection, see :mod:`vessel_nb.locality`)."""
        return locality.claims_loopback(urlsplit(self.base_url).hostname or "")

    @property
    def local(self) -> bool:
        """Private calls may go here. Default: only a loopback Ollama (see OllamaAdapter)."""
        return bool(self._local_override)

    @property
    def has_key(self) -> bool:
        """A key is configured (its value is never shown)."""
        return bool(self.__key)

    def _key(self) -> str | None:
        return self.__key

    def redact(self, text: str) -> str:
        """Remove the key (in every form it takes) from any text that might be shown or stored."""
        return redaction.redact(text, (self.__key, urlsplit(self.base_url).password))

    def excerpt(self, data: str, limit: int = 80) -> str:
        """A short quoted piece of server data for a message: redacted first, then cut."""
        return redaction.excerpt(data, (self.__key, urlsplit(self.base_url).password), limit)

    def missing_key(self) -> E.MissingKey | None:
        """The error to report when a key is needed and absent (no request is sent)."""
        if self.key_required and not self.__key:
            env = " or ".join(self.key_env) or "an API key"
            return E.MissingKey(
                f"{env} is not set",
                vessel=self.name,
                hint="set it in the environment (or pass api_key=) — never type it into a cell",
            )
        return None

    def unreachable_hint(self) -> str:
        """What to do when the address does not answer."""
        return f"check {self.url_env or 'base_url'} ({self.base_url}) and your network"

    def model_not_found_hint(self) -> str:
        """What to do when the provider does not know the model."""
        return "check the model name and that your key has access to it"

    async def supports(self, capability: str) -> bool:
        """Whether this vessel can do 'vision' or 'thinking' (configured, or by default)."""
        if capability == "vision":
            return self.default_vision if self._vision is None else self._vision
        if capability == "thinking":
            return self.default_thinking if self._thinking is None else self._thinking
        return False

    def _known(self, capability: str) -> bool | None:
        """A capability as far as it is known without asking the server (None: not yet known)."""
        configured = self._vision if capability == "vision" else self._thinking
        if configured is not None:
            return configured
        return self.default_vision if capability == "vision" else self.default_thinking

    def describe(self) -> dict[str, Any]:
        """Configuration without secrets, for tables and widget state."""
        return {
            "name": self.name,
            "provider": self.provider,
            "model": self.model,
            "base_url": redaction.safe_url(self.base_url),
            "local": self.local,
            "vision": self._known("vision"),
            "thinking": self._known("thinking"),
            "key": "set" if self.__key else ("not needed" if not self.key_required else "missing"),
        }

    def __repr__(self) -> str:
        key = "set" if self.__key else "none"
        url = redaction.safe_url(self.base_url)
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, base_url={url!r}, local={self.local}, key={key})"

    # --- what a provider module supplies ----------------------------------------------
    def build_request(
        self, messages: list[Message], images: list[Image], opts: CallOptions
    ) -> tuple[str, str, dict, dict]:
        """Return (method, path, json body, headers) for a streaming chat call."""
        raise NotImplementedError

    def parse(self, lines: AsyncIterator[str]) -> AsyncIterator[Delta]:
        """Turn the response's text lines into deltas; raise StreamError for in-band errors."""
        raise NotImplementedError

    def probe_request(self) -> tuple[str, str, dict]:
        """(method, path, headers) of a free request that shows the vessel is up."""
        raise NotImplementedError

    def probe_result(self, response: httpx.Response) -> str:
        """Detail for a successful probe; raise a VesselError when the answer means 'not usable'."""
        return "ok"

    def terminator(self) -> str:
        """Name of the provider's end-of-stream marker, for messages."""
        return "end-of-stream marker"

    # --- shared machinery ---------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        # httpx clients belong to the loop that made them; keep one per loop so the pool is
        # reused across calls (no new TLS handshake per call).
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            t = self.timeouts
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=60)
            transport = self._transport
            if transport is None and self.local and self.is_loopback:
                transport = locality.loopback_transport(limits)  # connect only to checked loopback addresses
            client = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(connect=t.connect, read=None, write=t.connect * 4, pool=t.connect),
                limits=limits,
                # a proxy from the environment must never carry a local (private) call off the machine
                trust_env=not (self.local or self.is_loopback),
                follow_redirects=False,
            )
            self._clients[loop] = client
        return client

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        system: str | None = None,
        images: Sequence[Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        think: bool = False,
        model: str | None = None,
        timeouts: Timeouts | None = None,
        extra: dict[str, Any] | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream one chat completion as :class:`Delta` objects, within the time limits."""
        if (err := self.missing_key()) is not None:
            raise err
        msgs = [dict(m) for m in messages]
        if system:
            msgs = [{"role": "system", "content": system}, *[m for m in msgs if m.get("role") != "system"]]
        imgs = [load_image(i) for i in images or ()]
        opts = CallOptions(
            model=model or self.model,
            temperature=temperature,
            max_tokens=max_tokens if max_tokens is not None else self.max_tokens,
            think=think,
            extra=dict(extra or {}),
        )
        method, path, body, headers = self.build_request(msgs, imgs, opts)
        t = timeouts or self.timeouts
        loop = asyncio.get_running_loop()
        clock = AttemptClock(loop, t, self.liveness_every)
        client = self._client()
        request = client.build_request(method, self.base_url + path, json=body, headers=headers)
        response: httpx.Response | None = None
        deltas: AsyncIterator[Delta] | None = None
        watchdog = asyncio.ensure_future(self._watch(clock)) if clock.liveness else None
        try:
            try:
                async with clock.limit() as cm:
                    clock.scope = cm
                    response = await client.send(request, stream=True)
                    if response.status_code >= 300:
                        raise translate.from_status(
                            self, response.status_code, response.headers, await _read_limited(response)
                        )
            except TimeoutError:
                raise clock.timeout_error(self) from None
            except httpx.HTTPError as exc:
                raise translate.from_transport(self, exc) from None
            # aiter_bytes (not aiter_raw): undoes any Content-Encoding a proxy added
            deltas = self.parse(aiter_lines(response.aiter_bytes()))
            saw_done = False
            while not saw_done:
                try:
                    async with clock.limit() as cm:
                        clock.scope = cm
                        delta = await anext(deltas)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise clock.timeout_error(self) from None
                except httpx.HTTPError as exc:
                    raise translate.from_transport(self, exc) from None
                if (delta.text or delta.thinking) and not clock.got_text:
                    clock.got_text = True
                    if watchdog is not None:
                        watchdog.cancel()
                saw_done = delta.done
                yield delta
            if not saw_done:
                raise translate.stream_error(
                    self, f"the stream ended without its {self.terminator()} (truncated answer)"
                )
            await _drain(deltas)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if deltas is not None:
                await deltas.aclose()
            if response is not None:
                await response.aclose()

    async def _watch(self, clock: AttemptClock) -> None:
        """While waiting for the first token, check now and then that the server is alive.

        A cold model load in Ollama can take minutes before the first byte, so the first-token
        limit must be generous; but a server that has stopped answering altogether should not
        keep a notebook waiting that long. A loading server still answers its free probe.
        """
        while not clock.got_text:
            await asyncio.sleep(clock.liveness)
            method, path, headers = self.probe_request()
            try:
                async with asyncio.timeout(min(clock.liveness, 3.0)):
                    await self._client().request(method, self.base_url + path, headers=headers)
            except (TimeoutError, httpx.HTTPError):
                if not clock.got_text:
                    clock.dead()
                return

    async def health(self, timeout: float = 3.0) -> Health:
        """Probe a free endpoint: ok, latency and a detail a person can read."""
        checked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if (err := self.missing_key()) is not None:
            return Health(self.name, False, None, err.reason, "down", checked_at=checked)
        method, path, headers = self.probe_request()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                response = await self._client().request(method, self.base_url + path, headers=headers)
                if response.status_code >= 300:
                    raise translate.from_status(
                        self, response.status_code, response.headers, response.content[:_MAX_ERROR_BODY]
                    )
                detail = self.probe_result(response)
        except TimeoutError:
            return Health(self.name, False, None, f"no answer within {timeout:g}s", "down", checked_at=checked)
        except httpx.HTTPError as exc:
            err = translate.from_transport(self, exc)
            return Health(self.name, False, None, err.reason, "down", checked_at=checked)
        except E.VesselError as err:
            return Health(self.name, False, time.perf_counter() - start, err.reason, "down", checked_at=checked)
        return Health(self.name, True, time.perf_counter() - start, detail, "up", checked_at=checked)

    async def health_check(self) -> bool:
        """True when the vessel answers its free health probe (as in the lesson)."""
        return bool(await self.health())

    async def aclose(self) -> None:
        """Close this loop's pooled connections."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


async def _drain(deltas: AsyncIterator[Delta]) -> None:
    """Read what follows the end-of-stream marker (normally just the end of the HTTP body).

    A response closed before its body is fully read cannot go back to the connection pool,
    so every call would pay a new TCP (and TLS) handshake. Whatever comes after the marker
    is ignored, and a server that keeps the body open gets a short grace period only.
    """
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in deltas:
                pass
    except (TimeoutError, httpx.HTTPError, E.VesselError):
        pass  # the answer is complete; this connection just won't be reused


async def _read_limited(response: httpx.Response) -> bytes:
    body = b""
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > _MAX_ERROR_BODY:
            break
    return body


def usage(tokens_in: Any = None, tokens_out: Any = None) -> Usage:
    """A Usage from whatever ints the provider sent."""
    return Usage(tokens_in if isinstance(tokens_in, int) else None, tokens_out if isinstance(tokens_out, int) else None)

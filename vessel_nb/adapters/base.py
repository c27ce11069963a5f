"""What an adapter is: its configuration (model, address, key, capabilities) and the
contract a provider module fills in — how to build its request, how to read its stream,
and which free endpoint tells whether it is up. The HTTP work they all share (client
pool, stream loop under the clock, drain) is in :mod:`.httpio`, the health probe in
:mod:`.probes`."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .. import address, checks, locality, redaction
from .. import errors as E
from ..images import Image
from ..types import CallOptions, Delta, Health, Message, Timeouts, Usage
from . import hosts as hostpool
from . import httpio, probes
from .reader import Reader


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
    #: most streams open at once to this vessel (per event loop); more calls wait their turn
    max_connections: ClassVar[int] = 20

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | list[str] | tuple[str, ...] | None = None,
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
        checks.typed(
            base_url,
            (str, list, tuple, type(None)),
            f"{who}: base_url",
            f"text like {self.default_url!r}, or a list of such addresses (a pool of hosts)",
        )
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
        if isinstance(base_url, (list, tuple)):  # a pool of hosts (an environment variable is one host)
            example = self._normalize_url(self.default_url)
            hosts = address.parse_pool(base_url, who=who, example=example, parse_one=self._normalize_url)
        else:
            hosts = (self._normalize_url(base_url or from_env or self.default_url),)
        self.base_url = hosts[0]
        """the address calls go to (a pool's first host; each call picks its own, see ``on_host``)"""
        self._hostpool = hostpool.HostPool(hosts) if len(hosts) > 1 else None
        self._is_view = False
        # The key is kept out of every public attribute, repr and message (see redact()).
        self.__key = (
            api_key if api_key is not None else next((os.environ[v] for v in self.key_env if os.environ.get(v)), None)
        )
        if self.__key or any(redaction.url_secret(h) for h in self.hosts):
            redaction.guard_http_logs(self)
        self._local_override = local
        self.timeouts = timeouts or self.default_timeouts
        self._vision = vision
        self._thinking = thinking
        self.max_tokens = max_tokens
        self._transport = transport
        self._pool = httpio.ClientPool()

    # --- configuration -------------------------------------------------------------
    @classmethod
    def _example_model(cls) -> str:
        return "model-name"

    def _normalize_url(self, url: str) -> str:
        return address.parse(url, who=self.name, example=self.default_url, field=self._url_field)

    @property
    def host_label(self) -> str:
        """host:port, for messages."""
        return hostpool.label(self.base_url)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every address of this vessel: a pool's hosts, or its one ``base_url`` (read anew,
        so locality follows an address changed after the adapter was made)."""
        return self._hostpool.hosts if self._hostpool is not None else (self.base_url,)

    @property
    def is_pool(self) -> bool:
        """This vessel spreads its calls over several hosts (``base_url=[...]``)."""
        return self._hostpool is not None and not self._is_view

    @property
    def answered_host(self) -> str:
        """A pool's ``host:port`` that answered last ("" before any did, or when not a pool)."""
        return self._hostpool.answered if self._hostpool is not None and not self._is_view else ""

    def on_host(self, host: str) -> BaseAdapter:
        """This vessel, talking to one host of its pool (itself when it has one host).

        A shallow copy: it shares the key, the connection pool, the pool's counters and
        what was learned about the model; only ``base_url`` differs. ``local`` and
        ``is_loopback`` stay the pool's, so a private call is judged by every host.
        """
        if host == self.base_url and not self.is_pool:
            return self
        if host not in self.hosts:
            raise ValueError(f"{host} is not a host of vessel {self.name}")
        view = copy.copy(self)
        view.base_url, view._is_view = host, True
        return view

    def host_views(self) -> list[BaseAdapter]:
        """The hosts a call tries, in turn: fewest calls in flight first (see :mod:`.hosts`)."""
        if self._hostpool is None:
            return [self]
        return [self.on_host(h) for h in self._hostpool.order()]

    @property
    def is_loopback(self) -> bool:
        """Every address is meant to be on this machine: a loopback IP, or ``localhost``
        (whose addresses are checked at every connection, see :mod:`vessel_nb.locality`).
        A pool with one host elsewhere is not: locality is the pool's, not one host's."""
        if self._hostpool is None:  # read several times per call: the one-host case without a generator
            return _url_claims_loopback(self.base_url)
        return all(_url_claims_loopback(h) for h in self._hostpool.hosts)

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
        return redaction.redact(text, self._secrets())

    def excerpt(self, data: str, limit: int = 80) -> str:
        """A short quoted piece of server data for a message: redacted first, then cut."""
        return redaction.excerpt(data, self._secrets(), limit)

    def _secrets(self) -> tuple[str | None, ...]:
        return (self.__key, *(redaction.url_secret(h) for h in self.hosts))

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
        return f"check {self._url_field} ({redaction.safe_url(self.base_url)}) and your network"

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
            "base_url": self._shown_url(),
            "local": self.local,
            "vision": self._known("vision"),
            "thinking": self._known("thinking"),
            "key": "set" if self.__key else ("not needed" if not self.key_required else "missing"),
        }

    def __repr__(self) -> str:
        key = "set" if self.__key else "none"
        url = self._shown_url()
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, base_url={url!r}, local={self.local}, key={key})"

    def _shown_url(self) -> str:
        """The address without secrets: a pool's hosts joined with ", "."""
        return ", ".join(redaction.safe_url(h) for h in (self.hosts if self.is_pool else (self.base_url,)))

    # --- what a provider module supplies ----------------------------------------------
    def build_request(
        self, messages: list[Message], images: list[Image], opts: CallOptions
    ) -> tuple[str, str, dict, dict]:
        """Return (method, path, json body, headers) for a streaming chat call.

        ``opts.model`` is always set here (the call's model or the adapter's)."""
        raise NotImplementedError

    def reader(self) -> Reader:
        """A new :class:`.reader.Reader` for one attempt's stream: it turns the response's
        text lines into deltas and raises StreamError for in-band errors."""
        raise NotImplementedError

    def probe_request(self) -> tuple[str, str, dict]:
        """(method, path, headers) of a free request that shows the vessel is up."""
        raise NotImplementedError

    def probe_result(self, response: httpx.Response) -> str:
        """Detail for a successful probe; raise a VesselError when the answer means 'not usable'."""
        return "ok"

    def probe_fallback(self, response: httpx.Response) -> tuple[str, str, dict] | None:
        """(method, path, headers) to ask once more when the probe got ``response`` (not 2xx),
        or None. The second answer goes to :meth:`probe_result` whatever its status."""
        return None

    def terminator(self) -> str:
        """Name of the provider's end-of-stream marker, for messages."""
        return "end-of-stream marker"

    # --- calls: the HTTP work lives in .httpio ------------------------------------------
    def stream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[Delta]:
        """Stream one chat completion as :class:`Delta` objects, within the time limits.

        For calling an adapter directly: ``options`` are those of :class:`CallOptions`
        (system, images, temperature, max_tokens, think, model, timeouts, extra), checked
        here. The orchestrator builds its CallOptions once and calls :meth:`stream_call`.
        """
        return self.stream_call(messages, CallOptions.build(**options))

    def stream_call(self, messages: Sequence[Message], opts: CallOptions) -> AsyncIterator[Delta]:
        """Stream one chat completion with options already built (the orchestrator's path).

        On a pool, moves from host to host until one streams (see :func:`.hosts.stream_over`);
        on one host of a pool (``on_host``), counts the call in flight there."""
        if (err := self.missing_key()) is not None:
            raise err
        if self._hostpool is None:
            return self._host_call(messages, opts)
        if not self._is_view:
            return hostpool.stream_over(self, messages, opts)
        return self._hostpool.counted(self.base_url, self._host_call(messages, opts))

    def _host_call(self, messages: Sequence[Message], opts: CallOptions) -> AsyncIterator[Delta]:
        """One chat completion from ``base_url`` (a provider may wrap it: see OpenAIAdapter)."""
        msgs = [dict(m) for m in messages]
        if opts.system:
            msgs = [{"role": "system", "content": opts.system}, *[m for m in msgs if m.get("role") != "system"]]
        resolved = opts.replace(
            model=opts.model or self.model,
            max_tokens=opts.max_tokens if opts.max_tokens is not None else self.max_tokens,
        )
        return httpio.stream_deltas(self, msgs, resolved)

    def _client(self) -> httpx.AsyncClient:
        """This event loop's pooled client (for the rare extra request, e.g. Ollama's /api/show)."""
        return self._pool.get(
            self.timeouts,
            self._make_transport,
            # a proxy from the environment must never carry a local (private) call off the machine
            trust_env=not (self.local or self.is_loopback),
        )

    def _make_transport(self) -> httpx.AsyncBaseTransport | None:
        if self._transport is None and self.local and self.is_loopback:
            return locality.loopback_transport(httpio.LIMITS)  # connect only to checked loopback addresses
        return self._transport

    async def health(self, timeout: float = 3.0) -> Health:
        """Probe a free endpoint: ok, latency and a detail a person can read (a pool: every
        host at once; up when any host is)."""
        if self.is_pool:
            return await hostpool.probe(self, timeout)
        return await probes.probe(self, timeout)

    async def health_check(self) -> bool:
        """True when the vessel answers its free health probe (as in the lesson)."""
        return bool(await self.health())

    async def aclose(self) -> None:
        """Close this loop's pooled connections."""
        await self._pool.aclose()


@functools.lru_cache(maxsize=256)  # read several times per call (adapter.local): parse each address once
def _url_claims_loopback(url: str) -> bool:
    return locality.claims_loopback(urlsplit(url).hostname or "")


def usage(tokens_in: Any = None, tokens_out: Any = None, *, reasoning: Any = None, cached: Any = None) -> Usage:
    """A Usage from whatever the provider sent (anything but a whole number counts as unknown)."""
    return Usage(_count(tokens_in), _count(tokens_out), _count(reasoning), _count(cached))


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` when obj is a dict, else None (provider objects may be missing or odd)."""
    return obj.get(key) if isinstance(obj, dict) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

"""Small typed records shared by the adapters, the orchestrator, the log and the UI."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .errors import ConfigError
from .images import Image, load_image

Role = Literal["system", "user", "assistant"]
Message = dict[str, Any]  # {"role": ..., "content": str, "images": [bytes | str, ...]?}

TASK_KEYS = ("private", "heartbeat", "needs_vision", "needs_thinking")


@dataclass(frozen=True)
class Timeouts:
    """Time limits for one attempt, in seconds (None = no limit for that phase)."""

    connect: float = 5.0
    """to open the TCP/TLS connection"""
    first_token: float | None = 60.0
    """from sending the request to the first byte of text (covers queueing and model loads)"""
    idle: float | None = 60.0
    """longest gap allowed between two chunks once the stream has started"""
    total: float | None = 600.0
    """the whole attempt"""

    def __post_init__(self) -> None:
        # 0 or NaN once meant "no limit" by accident: only None says that.
        from .checks import limit

        if limit(self.connect, "Timeouts.connect") is None:
            raise ConfigError("Timeouts.connect must be a positive number of seconds; a connection always has a limit")
        for name in ("first_token", "idle", "total"):
            limit(getattr(self, name), f"Timeouts.{name}")

    def replace(self, **changes: float | None) -> Timeouts:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CallOptions:
    """Everything one call carries besides its messages: built once by the orchestrator
    (or by :meth:`BaseAdapter.stream` for a direct call) and read, unchanged, by the adapter."""

    model: str | None = None
    """model to use; None means the adapter's own ``model``"""
    system: str | None = None
    """system prompt; replaces any system message in the conversation"""
    images: tuple[Image, ...] = ()
    """images for the last user message, already loaded"""
    temperature: float | None = None
    """sampling temperature, 0 to 2 (None: the provider's default)"""
    max_tokens: int | None = None
    """longest answer in tokens (None: the adapter's ``max_tokens``, else the provider's)"""
    think: bool = False
    """ask for visible reasoning where the provider supports it"""
    timeouts: Timeouts | None = None
    """time limits of each attempt (None: the adapter's own)"""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """provider-specific body fields, merged in last"""

    def __post_init__(self) -> None:
        # Frozen all the way down: nothing on the path can change what the caller asked for.
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def build(
        cls,
        *,
        model: str | None = None,
        system: str | None = None,
        images: Sequence[Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        think: bool | None = False,
        timeouts: Timeouts | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> CallOptions:
        """Check what a person passed and load the images: one clear error for bad input."""
        if (model is None and system is None and images is None and temperature is None and max_tokens is None) and (
            extra is None and (timeouts is None or isinstance(timeouts, Timeouts)) and cls is CallOptions
        ):
            return _plain(bool(think), timeouts)
        from . import checks

        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ConfigError(f"model must be a model name, not {model!r}")
        if system is not None:
            checks.text(checks.typed(system, str, "system", "text"), "system")
        if isinstance(images, (str, bytes)):
            raise ConfigError("images must be a list, e.g. images=['photo.png']")
        if temperature is not None:
            if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
                raise ConfigError(f"temperature must be a number between 0 and 2, not {temperature!r}")
            if not 0 <= float(temperature) <= 2:
                raise ConfigError(f"temperature must be between 0 and 2, not {temperature}")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ConfigError(f"max_tokens must be a positive whole number, not {max_tokens!r}")
        if timeouts is not None and not isinstance(timeouts, Timeouts):
            raise ConfigError(f"timeouts must be a vessel_nb.Timeouts(...), not {type(timeouts).__name__}")
        if extra is not None and not isinstance(extra, Mapping):
            raise ConfigError(f"extra must be a dict of request-body fields, not {type(extra).__name__}")
        return cls(
            model=model.strip() if model else None,
            system=system,
            images=tuple(load_image(i) for i in images or ()),
            temperature=temperature,
            max_tokens=max_tokens,
            think=bool(think),
            timeouts=timeouts,
            extra=extra or {},
        )

    def replace(self, **changes: Any) -> CallOptions:
        """A copy with some options changed (itself when nothing changes: it is frozen)."""
        if all(getattr(self, k, changes) == v for k, v in changes.items()):  # (an unknown name: replace's error)
            return self
        if changes.keys() <= _PLAIN_FIELDS:
            # What __post_init__ freezes (images, extra) is not among the changes and is frozen
            # already: a copy with these fields set, without dataclasses.replace's ~8 us per call.
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__, **changes)
            return new
        return dataclasses.replace(self, **changes)


_PLAIN: dict[tuple[bool, Timeouts | None], CallOptions] = {}
"""the shared CallOptions of calls that set no option but thinking and time limits"""


def _plain(think: bool, timeouts: Timeouts | None) -> CallOptions:
    # Most calls set nothing but (maybe) thinking and time limits: one frozen instance each,
    # shared (checking and freezing a new one cost ~10 us of every call).
    plain = _PLAIN.get((think, timeouts))
    if plain is None:
        if len(_PLAIN) >= 16:
            _PLAIN.clear()
        plain = _PLAIN[think, timeouts] = CallOptions(think=think, timeouts=timeouts)
    return plain


_PLAIN_FIELDS = frozenset(("model", "system", "temperature", "max_tokens", "think", "timeouts"))


@dataclass
class Usage:
    """Token counts as the provider reports them (None when it did not say), counted the same
    way for every provider."""

    tokens_in: int | None = None
    """input tokens, all of them: those read from the provider's cache included (Anthropic
    reports cache reads and writes apart; they are added in here)"""
    tokens_out: int | None = None
    """output tokens, reasoning included (Gemini reports its thoughts apart; they are added in)"""
    tokens_reasoning: int | None = None
    """of ``tokens_out``, the reasoning tokens, where the provider says (OpenAI, Gemini)"""
    tokens_cached: int | None = None
    """of ``tokens_in``, those read from the provider's prompt cache (Anthropic
    ``cache_read_input_tokens``, OpenAI ``cached_tokens``, Gemini ``cachedContentTokenCount``)"""

    def merge(self, newer: Usage) -> Usage:
        """These counts updated by a later report (the figures it leaves out are kept)."""
        # Field by field, not dataclasses.astuple: that deep-copies, and this runs per report.
        return Usage(
            self.tokens_in if newer.tokens_in is None else newer.tokens_in,
            self.tokens_out if newer.tokens_out is None else newer.tokens_out,
            self.tokens_reasoning if newer.tokens_reasoning is None else newer.tokens_reasoning,
            self.tokens_cached if newer.tokens_cached is None else newer.tokens_cached,
        )


def tokens_per_second(tokens_out: int | None, first_s: float | None, end_s: float | None) -> float | None:
    """Output tokens per second of generation, the one formula used everywhere.

    ``tokens_out`` counts reasoning tokens too, so the span starts at the first token of any
    kind (reasoning or answer) and ends when the attempt ended, both measured from its start.
    """
    if not tokens_out or first_s is None or end_s is None:
        return None
    span = end_s - first_s
    return tokens_out / span if span > 0 else None


@dataclass(slots=True)
class Delta:
    """One piece of a provider stream, as an adapter's parser yields it (one per token on a
    fast stream: slots make it cheaper to build and to read)."""

    text: str = ""
    """answer text"""
    thinking: str = ""
    """reasoning text, for models that stream it"""
    usage: Usage | None = None
    """usage figures, when this event carries them"""
    done: bool = False
    """the provider's own end-of-stream marker was seen"""
    stop_reason: str | None = None
    """why the provider stopped (stop, length, end_turn, STOP, ...)"""
    model: str | None = None
    """model name as the provider reports it"""


@dataclass
class Chunk:
    """What :meth:`AIOrchestrator.stream` yields."""

    content: str = ""
    """new answer text in this chunk (may be empty on event chunks)"""
    done: bool = False
    """True on the last chunk of the call; ``reply`` is set then"""
    vessel: str = ""
    """the vessel this chunk came from"""
    model: str = ""
    """the model on that vessel"""
    thinking: str = ""
    """new reasoning text, if the vessel streams it"""
    event: str | None = None
    """None for text; 'fallback' when the call moved on before any answer text (the consumer
    must clear any reasoning it showed); 'restart' when an opt-in restart discarded partial
    text (the consumer must clear what it showed); 'withheld' when private turns were left out"""
    detail: str = ""
    """for event chunks: what happened, in words"""
    host: str = ""
    """on a 'fallback' within a pool of hosts: the host that failed (the call goes on with
    another host of the same vessel, not the next vessel)"""
    reply: Reply | None = None
    """the finished reply, on the ``done`` chunk"""


@dataclass
class Attempt:
    """One try of one vessel within a call; also one row of the call log."""

    call_id: str
    """id shared by every attempt of one call"""
    attempt: int
    """1, 2, ... within the call"""
    vessel: str
    """vessel name"""
    model: str
    """model name"""
    outcome: str = "ok"
    """ok | unhealthy | error | interrupted | cancelled"""
    error: str = ""
    """why it failed, in words (empty when ok)"""
    error_kind: str = ""
    """short kind: unavailable, timeout, auth, rate_limited, ..."""
    fallback_from: str = ""
    """the vessel tried just before this one in the same call"""
    reason: str = ""
    """why this vessel was picked: explicit, priority, private, heartbeat, vision, thinking"""
    ttft_s: float | None = None
    """time to the first token of the answer (reasoning does not count)"""
    latency_s: float | None = None
    """time until this attempt ended"""
    tokens_in: int | None = None
    """input tokens, cached ones included (see :class:`Usage`)"""
    tokens_out: int | None = None
    """output tokens, reasoning included"""
    tokens_reasoning: int | None = None
    """of tokens_out, reasoning tokens (when the provider says)"""
    tokens_cached: int | None = None
    """of tokens_in, tokens read from the provider's prompt cache"""
    model_requested: str = ""
    """the model asked for (``model`` is the one the provider reports having served)"""
    first_thinking_s: float | None = None
    """time to the first reasoning token, for vessels that stream their reasoning"""
    private: bool = False
    """the call was private or heartbeat (must stay on this machine)"""
    local: bool = False
    """the vessel runs on this machine / a trusted local server"""
    host: str = ""
    """the ``host:port`` asked (one host of a pool, see :mod:`vessel_nb.adapters.hosts`);
    empty when nothing was sent (a skipped vessel) and in logs older than this column"""
    started_at: str = ""
    """ISO-8601 UTC timestamp"""
    compare_id: str = ""
    """shared by the calls of one side-by-side comparison"""
    run_id: str = ""
    """the key of the prompt-set run this call belongs to (``orch.map``; same prompts, vessels,
    models and options give the same key, which is how a run resumes)"""
    run_item: str = ""
    """which pair of that run: ``"<prompt id>@<vessel>"`` (``@auto`` when routed)"""
    cost_usd: float | None = None
    """what the attempt cost by the price table (0 on a local vessel; None when unknown)"""
    prompt: str | None = None
    """last user message (None when text logging is off)"""
    response: str | None = None
    """the text received (None when text logging is off)"""


@dataclass
class Reply:
    """A finished answer."""

    text: str
    """the complete answer"""
    vessel: str
    """vessel that answered"""
    model: str
    """model that answered, as the provider reports it (e.g. a dated snapshot name)"""
    call_id: str = ""
    model_requested: str = ""
    """the model that was asked for"""
    thinking: str = ""
    """reasoning text, when streamed"""
    reason: str = ""
    """why that vessel was a candidate: explicit, priority, private, heartbeat, vision, thinking
    (combined with '+'); see ``fell_back`` for whether earlier vessels failed first"""
    ttft_s: float | None = None
    """time to the first answer token of the answering attempt (reasoning does not count)"""
    first_thinking_s: float | None = None
    """time to the first reasoning token of the answering attempt (None: no reasoning streamed)"""
    latency_s: float | None = None
    """wall time of the whole call, fallbacks included"""
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    local: bool = False
    """answered on this machine"""
    attempts: list[Attempt] = field(default_factory=list)
    """every attempt of this call, in order"""
    withheld: int = 0
    """private messages left out of what was sent, because this vessel is not local"""

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens (reasoning included) per second of generation: see :func:`tokens_per_second`."""
        answering = self.attempts[-1] if self.attempts else None
        if answering is None:
            return None
        starts = [t for t in (self.first_thinking_s, self.ttft_s) if t is not None]
        return tokens_per_second(self.usage.tokens_out, min(starts, default=None), answering.latency_s)

    @property
    def private(self) -> bool:
        """The call was private or heartbeat, as the orchestrator judged it: a conversation
        that goes on must mark this exchange's turns private."""
        return any(a.private for a in self.attempts)

    @property
    def fell_back(self) -> bool:
        """Earlier vessels were skipped or failed before this one answered."""
        return any(a.outcome != "ok" for a in self.attempts)

    @property
    def fallback_chain(self) -> list[str]:
        """Readable trail of the vessels that did not answer, e.g. ['ollama: connection refused at ...']."""
        return [f"{a.vessel}: {a.error}" for a in self.attempts if a.outcome != "ok"]

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        trail = " → ".join([*self.fallback_chain, self.vessel]) if self.fallback_chain else self.vessel
        ttft = f"{self.ttft_s:.2f}s" if self.ttft_s is not None else "–"
        total = f"{self.latency_s:.2f}s" if self.latency_s is not None else "–"
        note = f" · {self.withheld} private message(s) withheld" if self.withheld else ""
        return f"{self.text}\n\n<sub>{trail} · {self.model} · first token {ttft} · total {total}{note}</sub>"


@dataclass
class Health:
    """Result of a health probe or the learned state of a vessel."""

    vessel: str
    ok: bool | None
    """True up, False down, None untested"""
    latency_s: float | None = None
    detail: str = ""
    """e.g. 'connection refused', 'model not pulled', 'ANTHROPIC_API_KEY is not set'"""
    state: str = "untested"
    """up | down | cooling | untested"""
    cooling_for_s: float | None = None
    """seconds until a cooling-down vessel is tried again"""
    checked_at: str = ""
    """ISO-8601 UTC of the probe or call this is learned from"""

    def __bool__(self) -> bool:
        return bool(self.ok)

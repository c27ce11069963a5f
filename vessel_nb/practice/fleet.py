"""PracticeFleet: the four practice servers together, and an orchestrator wired to them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..adapters.registry import PROVIDERS as _TABLE
from ..adapters.registry import provider as _provider
from .replies import ReplySource
from .server import PROVIDERS, PracticeServer

VESSELS = {p.practice: p.vessel for p in _TABLE}
"""provider -> vessel name used by :meth:`PracticeFleet.orchestrator`"""

MODELS = {p.practice: p.practice_model for p in _TABLE}
"""provider -> model each practice vessel asks for"""


def practice_key(provider: str) -> str:
    """The API key the fleet hands to a practice vessel (any key is accepted)."""
    return f"practice-key-{provider}"


class PracticeFleet:
    """Several practice servers started and stopped together.

    ``port_base``: fixed ports (ollama = base, anthropic = base+1, openai = base+2,
    gemini = base+3); None picks free ports. ``fleet["ollama"]`` (or the vessel name,
    ``fleet["claude"]``) is the :class:`PracticeServer`.
    """

    def __init__(
        self,
        providers: Iterable[str] = PROVIDERS,
        *,
        host: str = "127.0.0.1",
        port_base: int | None = None,
        pace: float = 0.02,
        reply: ReplySource = None,
    ) -> None:
        names = list(providers)
        unknown = [p for p in names if p not in PROVIDERS]
        if unknown or not names:
            raise ValueError(f"providers must be some of {', '.join(PROVIDERS)} (got {names})")
        self.servers: dict[str, PracticeServer] = {}
        for name in PROVIDERS:  # fixed order, so port_base offsets never depend on the subset
            if name in names:
                port = port_base + PROVIDERS.index(name) if port_base else 0
                self.servers[name] = PracticeServer(
                    name, host=host, port=port, pace=pace, reply=reply, vessel=VESSELS[name]
                )

    @property
    def names(self) -> list[str]:
        """Provider names in this fleet."""
        return list(self.servers)

    def __getitem__(self, name: str) -> PracticeServer:
        for provider, vessel in VESSELS.items():
            if name == vessel and provider in self.servers:
                name = provider
        return self.servers[name]

    def __iter__(self) -> Iterator[PracticeServer]:
        return iter(self.servers.values())

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={s.url if s.port else 'not started'}" for n, s in self.servers.items())
        return f"<PracticeFleet {parts}>"

    def start(self) -> PracticeFleet:
        """Start every server (all or none: a failure stops those already started)."""
        try:
            for srv in self.servers.values():
                srv.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server."""
        for srv in self.servers.values():
            srv.stop()

    def __enter__(self) -> PracticeFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point the default adapters at this fleet."""
        env: dict[str, str] = {}
        for name, srv in self.servers.items():
            row = _provider(name)
            env[row.url_env] = srv.base_url
            if row.key_env:
                env[row.key_env[0]] = practice_key(name)
        return env

    def adapters(self) -> dict[str, Any]:
        """One adapter per server, keyed by vessel name (ollama, claude, openai, gemini)."""
        vessels: dict[str, Any] = {}
        for name, srv in self.servers.items():
            row = _provider(name)
            key = practice_key(name) if row.key_env else None
            vessels[row.vessel] = row.adapter(model=row.practice_model, base_url=srv.base_url, api_key=key)
        return vessels

    def orchestrator(self, **kwargs: Any) -> Any:
        """A ``vessel_nb.AIOrchestrator`` over this fleet (priority ollama, claude, openai,
        gemini); keyword arguments go to AIOrchestrator and may replace vessels/priority."""
        from vessel_nb import AIOrchestrator

        vessels = kwargs.pop("vessels", None) or self.adapters()
        priority = kwargs.pop("priority", None) or [v for v in VESSELS.values() if v in vessels]
        return AIOrchestrator(vessels=vessels, priority=priority, **kwargs)

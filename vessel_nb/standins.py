"""Practice mode anywhere: practice servers stand in for the vessels this machine cannot reach.

Three ways in, one behaviour: ``vessel_nb.practice_mode()`` from Python, ``%ask practice``
in a notebook, and ``VESSEL_NB_PRACTICE`` in the environment (read when the default
orchestrator is first built). Each vessel of the default orchestrator is checked — an
Ollama is probed (``/api/tags``, half a second at most), a cloud vessel needs its key — and
those that are not really available get a practice server of their own on 127.0.0.1,
started inside this kernel and named after the vessel ("This is the practice claude
vessel"). The real ones stay as they are. The orchestrator over both is registered with
:func:`vessel_nb.use`, so ``%%ask`` and the panels use it, and one sentence says which
vessels are real and which are practice.

``VESSEL_NB_PRACTICE``: ``auto`` stands in only where needed (what Binder sets); ``1``
(or true/yes/on) makes every vessel a practice one without probing anything, as the lessons
do, so a run is the same on every machine. Practice servers are canned replies, not models.

Nothing here is imported by ``import vessel_nb``; tornado (the practice servers) only when
practice mode starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .adapters.base import BaseAdapter
    from .orchestrator import AIOrchestrator
    from .practice import PracticeServer

PRACTICE_ENV = "VESSEL_NB_PRACTICE"
"""``1``: every vessel is a practice one; ``auto``: practice only for those not available"""

PACE_ENV = "VESSEL_NB_PRACTICE_PACE"
"""seconds per word of the practice replies (default 0.02: streaming stays visible)"""


def env_mode() -> str | None:
    """What ``VESSEL_NB_PRACTICE`` asks for: 'all', 'auto', or None (not set / off)."""
    value = os.environ.get(PRACTICE_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on", "all"):
        return "all"
    if value == "auto":
        return "auto"
    return None


@dataclass
class PracticeMode:
    """Which vessels practice servers stand in for, and the orchestrator over them all."""

    orch: AIOrchestrator
    """the orchestrator %%ask and the panels now use"""
    real: list[str] = field(default_factory=list)
    """vessels that reach a real model"""
    practice: list[str] = field(default_factory=list)
    """vessels answered by a practice server"""
    notes: dict[str, str] = field(default_factory=dict)
    """vessel -> why it is practice"""
    servers: dict[str, PracticeServer] = field(default_factory=dict)
    """vessel -> its practice server (``servers["claude"].set_fault("down")``)"""
    before: AIOrchestrator | None = None
    """the orchestrator used before practice mode (``off()`` goes back to it)"""

    @property
    def sentence(self) -> str:
        """What practice mode says when it starts: which vessels are practice, why, and
        which are real."""
        if not self.practice:
            return f"every vessel is real ({', '.join(self.real)}): no practice server was needed"
        lines = [
            f"practice mode: practice servers on 127.0.0.1 answer for {', '.join(self.practice)} "
            "(canned replies, not a real model)"
        ]
        lines += [f"  {n}: {self.notes[n]}" for n in self.practice if n in self.notes]
        lines.append(f"real vessels: {', '.join(self.real) or 'none'} · %ask practice off goes back")
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop the practice servers (the orchestrator is closed too)."""
        self.orch.close()
        for srv in self.servers.values():
            srv.stop()

    def __repr__(self) -> str:
        return f"PracticeMode(real={self.real}, practice={self.practice})"


_current: PracticeMode | None = None


def current() -> PracticeMode | None:
    """Practice mode as started by :func:`practice_mode` (None when it is off)."""
    return _current


def is_practice(adapter: Any) -> bool:
    """True for an adapter that talks to a practice server (marked when it was made)."""
    return bool(getattr(adapter, "practice", False))


def _why_not_real(adapter: BaseAdapter) -> str:
    """Why ``adapter`` cannot reach a real model here, or '' when it can (as far as a
    quick, free check can tell: a probe for a local server, the key for a cloud one)."""
    from .classroom import ollama_models

    if adapter.provider == "ollama":
        pulled = ollama_models(adapter.base_url)
        if pulled is None:
            return f"no Ollama answers at {adapter.host_label}"
        if adapter.model not in pulled and f"{adapter.model}:latest" not in pulled:
            return f"Ollama has not pulled {adapter.model} (`ollama pull {adapter.model}`)"
        return ""
    if adapter.key_required and not adapter.has_key:
        return f"{' or '.join(adapter.key_env)} is not set"
    if adapter.is_loopback or adapter.local:
        from .classroom import PROBE_TIMEOUT
        from .loop import run_sync

        health = run_sync(adapter.health(PROBE_TIMEOUT), timeout=PROBE_TIMEOUT + 5)
        if health.ok is False:
            return f"nothing answers at {adapter.host_label}"
    return ""


def _stand_in(name: str, adapter: BaseAdapter, pace: float) -> tuple[PracticeServer, BaseAdapter]:
    """A practice server named after vessel ``name``, and an adapter like ``adapter`` for it."""
    from .adapters.registry import PROVIDERS, provider
    from .practice import PracticeServer
    from .practice.fleet import practice_key

    try:
        row = provider(adapter.provider)
    except KeyError:
        raise ConfigError(
            f"practice mode cannot stand in for {name!r}: no practice server speaks {adapter.provider!r} "
            f"(practice servers speak {', '.join(p.vessel for p in PROVIDERS)})"
        ) from None
    server_kind = row.practice
    models = [adapter.model] if server_kind == "ollama" else None
    srv = PracticeServer(server_kind, pace=pace, models=models, vessel=name).start()
    # The provider's own adapter class, not a subclass: its constructor is the one known here.
    cls = row.adapter
    key = practice_key(server_kind) if cls.key_required else None
    twin = cls(
        model=adapter.model,
        base_url=srv.base_url,
        api_key=key,
        local=adapter.local,  # a cloud vessel's stand-in stays "cloud": private calls never go to it
        # only what the person configured; unset, each adapter decides as it always does
        vision=adapter._vision,
        thinking=adapter._thinking,
        max_tokens=adapter.max_tokens,
    )
    twin.practice = True
    twin.practice_server = srv  # so "connection refused" can say that practice mode was turned off
    return srv, twin


def start(orch: AIOrchestrator | None = None, *, everything: bool = False, pace: float | None = None) -> PracticeMode:
    """Stand practice servers in for the vessels of ``orch`` (default: the current default
    orchestrator) that are not really available — for all of them when ``everything`` —
    and register the result with :func:`vessel_nb.use`. Practice mode started earlier is
    stopped first."""
    global _current
    from . import session
    from .orchestrator import AIOrchestrator

    if _current is not None:
        orch = orch or _current.before
        stop()
    before = orch or session.configured()
    if pace is None:
        pace = float(os.environ.get(PACE_ENV) or 0.02)
    vessels: dict[str, Any] = {}
    mode = PracticeMode(orch=before, before=before)
    try:
        for name in before.priority:
            adapter = before.vessels[name]
            if is_practice(adapter):  # a lesson's practice vessel: it stays as it is
                vessels[name] = adapter
                mode.practice.append(name)
                continue
            why = "every vessel asked for" if everything else _why_not_real(adapter)
            if not why:
                vessels[name] = adapter
                mode.real.append(name)
                continue
            srv, vessels[name] = _stand_in(name, adapter, pace)
            mode.servers[name] = srv
            mode.practice.append(name)
            mode.notes[name] = why
        mode.orch = AIOrchestrator(
            vessels=vessels,
            priority=before.priority,
            log_path=before.log.path or False,
            keep_text=before.log.keep_text,
            on_interrupt=before.on_interrupt,
            timeouts=before.timeouts,
        )
    except BaseException:
        for srv in mode.servers.values():
            srv.stop()
        raise
    session.use(mode.orch)
    _current = mode
    return mode


def stop() -> AIOrchestrator | None:
    """Leave practice mode: stop its servers and go back to the orchestrator used before.
    Returns that orchestrator (None when practice mode was not on)."""
    global _current
    from . import session

    mode, _current = _current, None
    if mode is None:
        return None
    mode.stop()
    if mode.before is not None:
        session.use(mode.before)
    return mode.before


def practice_mode(on: bool = True, *, everything: bool = False, pace: float | None = None) -> PracticeMode | None:
    """Practice mode for ``%%ask`` and the panels: practice servers on 127.0.0.1 stand in
    for the vessels that are not really available here (every vessel with
    ``everything=True``), and a sentence says which are real and which are practice.

    ``practice_mode(False)`` stops the servers and goes back to the vessels as they were.
    ``pace`` is seconds per word of the practice replies (default ``$VESSEL_NB_PRACTICE_PACE``
    or 0.02). Returns the :class:`PracticeMode` (None when turned off).
    """
    if not on:
        if stop() is not None:
            print("practice mode is off: the practice servers are stopped; %%ask uses the vessels as configured")
        return None
    mode = start(everything=everything, pace=pace)
    print(mode.sentence)
    return mode


__all__ = ["PACE_ENV", "PRACTICE_ENV", "PracticeMode", "current", "env_mode", "is_practice", "practice_mode"]

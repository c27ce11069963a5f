"""Which situation a lesson runs in, and the orchestrator for it.

Every lesson notebook starts with::

    import vessel_nb.classroom as classroom
    orch, room = classroom.setup(["ollama", "claude"])

``setup`` looks for a real Ollama (a quick probe of ``$OLLAMA_HOST`` or 127.0.0.1:11434)
and for API keys (environment variables only), starts practice servers for whatever is
missing, registers the orchestrator with :func:`vessel_nb.use` (so ``%%ask`` and the
panels use it) and says in one plain sentence which situation this is: real vessels, a
mix, or practice mode. ``VESSEL_NB_PRACTICE=1`` forces practice mode without probing
anything, so tests behave the same on a machine that has Ollama or keys.

Keys are read from the environment, or typed into a hidden :func:`ask_key` prompt that puts
them in this kernel's environment only — never in a cell, never in the notebook file.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import standins
from .adapters import OllamaAdapter
from .adapters.registry import PROVIDERS, provider
from .errors import ConfigError
from .standins import PACE_ENV, PRACTICE_ENV

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator
    from .practice import PracticeFleet

PROBE_TIMEOUT = 0.5
"""seconds to wait for Ollama's /api/tags: a running local server answers in milliseconds"""

PRACTICE_SENTENCE = "practice mode: practice servers on 127.0.0.1 stand in — canned replies, not a real model"

VESSELS = tuple(p.vessel for p in PROVIDERS)
"""vessel names a lesson can ask for, in the default priority order"""
_KEYED = tuple(p.vessel for p in PROVIDERS if p.key_env)


@dataclass
class Classroom:
    """The situation one lesson runs in (what :func:`setup` found and started)."""

    orch: AIOrchestrator
    """the orchestrator the lesson uses (also registered with vessel_nb.use)"""
    mode: str
    """'real', 'mix' or 'practice'"""
    real: list[str] = field(default_factory=list)
    """vessels that reach a real model"""
    practice: list[str] = field(default_factory=list)
    """vessels answered by practice servers"""
    notes: dict[str, str] = field(default_factory=dict)
    """vessel -> why it is a practice stand-in (or which real model it uses)"""
    fleet: PracticeFleet | None = None
    """the practice servers started for the practice vessels (``fleet["ollama"].stop()``)"""

    @property
    def sentence(self) -> str:
        """The one plain sentence a lesson shows at the top."""
        if self.mode == "practice":
            return PRACTICE_SENTENCE
        real = ", ".join(f"{n} ({self.notes[n]})" if n in self.notes else n for n in self.real)
        if self.mode == "real":
            return f"real vessels: {real}"
        return (
            f"a mix (real: {real}; practice: {', '.join(self.practice)}): practice servers on 127.0.0.1 "
            "stand in for the practice ones — canned replies, not a real model"
        )

    def is_practice(self, vessel: str) -> bool:
        """True when ``vessel`` is answered by a practice server (so the lesson may stop it)."""
        return vessel in self.practice

    def close(self) -> None:
        """Close the orchestrator and stop the practice servers."""
        self.orch.close()
        if self.fleet is not None:
            self.fleet.stop()

    def __repr__(self) -> str:
        return f"Classroom(mode={self.mode!r}, real={self.real}, practice={self.practice})"


_current: Classroom | None = None


def forced_practice() -> bool:
    """True when ``VESSEL_NB_PRACTICE`` asks for practice mode for every vessel (``1``);
    ``auto`` probes, as when it is not set."""
    return standins.env_mode() == "all"


def ollama_models(base_url: str | None = None, timeout: float = PROBE_TIMEOUT) -> list[str] | None:
    """Models pulled in the Ollama at ``base_url`` (default: ``$OLLAMA_HOST`` or 127.0.0.1:11434),
    or None when no Ollama answers there."""
    from .loop import run_sync

    # On the background loop, under one deadline for the whole request: a port held by
    # something that drip-feeds bytes must not hang the set-up cell or %ask practice.
    return run_sync(OllamaAdapter(base_url=base_url).pulled_models(timeout), timeout=timeout + 5)


def pick_model(pulled: Sequence[str]) -> str | None:
    """The pulled model a lesson should use: ``$VESSEL_NB_OLLAMA_MODEL`` if it is pulled,
    else (when that variable is unset) the first pulled chat model."""
    wanted = os.environ.get("VESSEL_NB_OLLAMA_MODEL", "").strip()
    if wanted:
        return next((m for m in pulled if m in (wanted, f"{wanted}:latest")), None)
    # Embedding models are listed too, but cannot chat.
    return next((m for m in pulled if "embed" not in m), None)


def _real_adapter(vessel: str) -> tuple[Any | None, str]:
    """A real adapter for ``vessel`` and a note, or (None, why not)."""
    if vessel == "ollama":
        adapter = OllamaAdapter()
        pulled = ollama_models(adapter.base_url)
        if pulled is None:
            return None, f"no Ollama answers at {adapter.host_label}"
        model = pick_model(pulled)
        if model is None:
            want = os.environ.get("VESSEL_NB_OLLAMA_MODEL") or "qwen2.5:0.5b"
            return None, f"Ollama is running but has not pulled {want} (`ollama pull {want}`)"
        return OllamaAdapter(model=model), f"{model} on this machine"
    adapter = provider(vessel).adapter()
    if not adapter.has_key:
        return None, f"{' or '.join(adapter.key_env)} is not set"
    return adapter, ""


def setup(
    vessels: Sequence[str] = VESSELS,
    *,
    log_path: Any = None,
    pace: float | None = None,
    announce: bool = True,
    **orch_options: Any,
) -> tuple[AIOrchestrator, Classroom]:
    """Build the lesson's orchestrator over ``vessels`` (in that priority order): real ones
    where this machine has them, practice servers for the rest. Registers it with
    :func:`vessel_nb.use`, prints which situation this is, and returns ``(orch, room)``.

    Running it again (the lesson's first cell re-run) closes the previous classroom first.
    ``pace`` is the practice servers' seconds per word (default ``$VESSEL_NB_PRACTICE_PACE``
    or 0.02); other keywords go to AIOrchestrator.
    """
    global _current
    import vessel_nb

    from .orchestrator import AIOrchestrator

    names = list(vessels)
    unknown = [n for n in names if n not in VESSELS]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(f"setup() takes vessel names from {', '.join(VESSELS)} (each once), not {names}")
    if _current is not None:
        _current.close()
        _current = None
    standins.stop()  # practice mode started by %ask practice: this lesson replaces it

    chosen: dict[str, Any] = {}
    notes: dict[str, str] = {}
    if forced_practice():
        notes = {n: f"{PRACTICE_ENV}=1" for n in names}
    else:
        for name in names:
            adapter, note = _real_adapter(name)
            if adapter is not None:
                chosen[name] = adapter
            if note:
                notes[name] = note
    practice = [n for n in names if n not in chosen]
    fleet = None
    if practice:
        from .practice import PracticeFleet

        if pace is None:
            pace = float(os.environ.get(PACE_ENV) or 0.02)
        fleet = PracticeFleet(providers=[provider(n).practice for n in practice], pace=pace).start()
        for name, adapter in fleet.adapters().items():
            adapter.practice = True  # footers and tables label it a practice server
            chosen[name] = adapter
    real = [n for n in names if n not in practice]
    mode = "practice" if not real else "real" if not practice else "mix"
    try:
        orch = AIOrchestrator(vessels={n: chosen[n] for n in names}, priority=names, log_path=log_path, **orch_options)
    except BaseException:
        if fleet is not None:
            fleet.stop()
        raise
    room = Classroom(orch=orch, mode=mode, real=real, practice=practice, notes=notes, fleet=fleet)
    vessel_nb.use(orch)
    _current = room
    if announce:
        print(room.sentence)
    return orch, room


def ask_key(vessel: str) -> None:
    """Type a vessel's API key into a hidden prompt; it goes into this kernel's environment
    only (never into a cell, an output or the notebook file). Run ``setup`` again after."""
    if vessel not in _KEYED:
        raise ConfigError(f"ask_key() takes one of {', '.join(_KEYED)}, not {vessel!r}")
    env = provider(vessel).key_env[0]
    key = getpass.getpass(f"{env} for {vessel} (hidden, kept in this kernel only): ").strip()
    if not key:
        print(f"No key entered; {env} is unchanged.")
        return
    os.environ[env] = key
    print(f"{env} is set for this kernel. Run the setup cell again to use the real {vessel}.")


__all__ = [
    "PACE_ENV",
    "PRACTICE_ENV",
    "Classroom",
    "ask_key",
    "forced_practice",
    "ollama_models",
    "pick_model",
    "setup",
]

"""The orchestrator the notebook tools (magic, panels) use when they are not given one.

On first use it is built from the environment and the config file. When
``VESSEL_NB_PRACTICE`` is set (``auto`` on Binder), practice servers then stand in for the
vessels that are not really available (see :mod:`vessel_nb.standins`), so a fresh notebook's
first ``%%ask`` answers without a set-up cell.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator

_lock = threading.Lock()
_build = threading.Lock()  # held while the default is built: two threads never build two
_current: AIOrchestrator | None = None


def use(orch: AIOrchestrator) -> AIOrchestrator:
    """Make ``orch`` the one ``%%ask`` and the panels use by default. Returns it."""
    from .errors import ConfigError
    from .orchestrator import AIOrchestrator

    if not isinstance(orch, AIOrchestrator):
        raise ConfigError(f"use() takes an AIOrchestrator, not {type(orch).__name__}")
    global _current
    with _lock:
        _current = orch
    return orch


def configured() -> AIOrchestrator:
    """The registered orchestrator, or one built from the environment and config file
    (registered, without practice servers)."""
    global _current
    with _lock:
        if _current is None:
            from .orchestrator import AIOrchestrator

            _current = AIOrchestrator()
        return _current


def default_orchestrator() -> AIOrchestrator:
    """The registered orchestrator, or one built from the environment on first use (with
    practice servers standing in when ``VESSEL_NB_PRACTICE`` asks for them)."""
    with _lock:
        if _current is not None:
            return _current
    with _build:
        with _lock:
            if _current is not None:  # another thread built it meanwhile
                return _current
        from .orchestrator import AIOrchestrator
        from .standins import env_mode

        wanted = env_mode()
        orch = AIOrchestrator()
        if wanted is None:
            return use(orch)
        from .standins import start

        mode = start(orch, everything=wanted == "all")  # registers the practice one
        print(mode.sentence)
        return mode.orch


def reset() -> None:
    """Forget the registered orchestrator (tests, or after changing the environment)."""
    global _current
    with _lock:
        _current = None

"""The orchestrator the notebook tools (magic, panels) use when they are not given one."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator

_lock = threading.Lock()
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


def default_orchestrator() -> AIOrchestrator:
    """The registered orchestrator, or one built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            from .orchestrator import AIOrchestrator

            _current = AIOrchestrator()
        return _current


def reset() -> None:
    """Forget the registered orchestrator (tests, or after changing the environment)."""
    global _current
    with _lock:
        _current = None

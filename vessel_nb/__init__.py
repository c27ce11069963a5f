"""vessel_nb — local-first AI with cloud fallback, for Jupyter.

One :class:`AIOrchestrator` in front of several vessels (a local Ollama, Anthropic Claude,
OpenAI, Google Gemini): per call it picks a vessel, streams the answer, falls back while no
token has arrived, and logs every attempt to a DataFrame backed by SQLite.

Importing this package is cheap: every public name is loaded from its module when first
used (``from vessel_nb import AIOrchestrator`` imports the orchestrator then), so
``import vessel_nb`` and ``%load_ext vessel_nb`` do not pay for httpx, pandas, widgets or
the practice servers before anything needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapters import ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
    from .errors import (
        AllVesselsFailed,
        ConfigError,
        NoLocalVessel,
        StreamInterrupted,
        VesselError,
        VesselNBError,
    )
    from .orchestrator import AIOrchestrator
    from .pricing import PriceTable
    from .runs import Run
    from .session import default_orchestrator, use
    from .standins import practice_mode
    from .types import Attempt, Chunk, Health, Reply, Timeouts, Usage
    from .widgets import ChatPanel, CompareWidget

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first use of the name)
_WHERE = {
    "AIOrchestrator": ".orchestrator",
    "AllVesselsFailed": ".errors",
    "Attempt": ".types",
    "ChatPanel": ".widgets",
    "Chunk": ".types",
    "ClaudeAdapter": ".adapters",
    "CompareWidget": ".widgets",
    "ConfigError": ".errors",
    "GeminiAdapter": ".adapters",
    "Health": ".types",
    "NoLocalVessel": ".errors",
    "OllamaAdapter": ".adapters",
    "OpenAIAdapter": ".adapters",
    "PriceTable": ".pricing",
    "Reply": ".types",
    "Run": ".runs",
    "StreamInterrupted": ".errors",
    "Timeouts": ".types",
    "Usage": ".types",
    "VesselError": ".errors",
    "VesselNBError": ".errors",
    "default_orchestrator": ".session",
    "practice_mode": ".standins",
    "use": ".session",
}

# Spelled out (not computed from _WHERE) so linters and type checkers read it.
__all__ = [
    "AIOrchestrator",
    "AllVesselsFailed",
    "Attempt",
    "ChatPanel",
    "Chunk",
    "ClaudeAdapter",
    "CompareWidget",
    "ConfigError",
    "GeminiAdapter",
    "Health",
    "NoLocalVessel",
    "OllamaAdapter",
    "OpenAIAdapter",
    "PriceTable",
    "Reply",
    "Run",
    "StreamInterrupted",
    "Timeouts",
    "Usage",
    "VesselError",
    "VesselNBError",
    "default_orchestrator",
    "load_ipython_extension",
    "practice_mode",
    "unload_ipython_extension",
    "use",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'vessel_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext vessel_nb``: registers ``%%ask`` / ``%ask``."""
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext vessel_nb``."""
    from .magic import unload_ipython_extension as unload

    unload(ipython)

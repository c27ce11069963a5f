"""vessel_nb — local-first AI with cloud fallback, for Jupyter.

One :class:`AIOrchestrator` in front of several vessels (a local Ollama, Anthropic Claude,
OpenAI, Google Gemini): per call it picks a vessel, streams the answer, falls back while no
token has arrived, and logs every attempt to a DataFrame backed by SQLite.

Importing this package is cheap: pandas, widgets and the practice servers are imported
only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .widgets import ChatPanel, CompareWidget

__version__ = "0.1.0"

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
    # The widget classes pull in anywidget/ipywidgets (~0.3 s): only when asked for.
    if name in ("ChatPanel", "CompareWidget"):
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'vessel_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext vessel_nb``: registers ``%%ask`` / ``%ask``."""
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext vessel_nb``."""
    from .magic import unload_ipython_extension as unload

    unload(ipython)

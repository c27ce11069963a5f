"""Practice servers: loopback stand-ins for Ollama, Anthropic, OpenAI and Gemini.

They speak each provider's real wire protocol byte for byte (see
``/work/shared/protocols``), answer with canned replies that say they are practice, and
can be told to fail in the ways real providers fail. Use them in tests, lessons and
benchmarks::

    from vessel_nb.practice import PracticeFleet
    with PracticeFleet() as fleet:
        orch = fleet.orchestrator()
        orch.ask("Why is the sky blue?")

Importing this package imports tornado; ``import vessel_nb`` never does.
"""

from __future__ import annotations

from .fleet import PracticeFleet
from .handler import RecordedRequest
from .server import FAULT_KINDS, PROVIDERS, Fault, PracticeServer

__all__ = ["FAULT_KINDS", "PROVIDERS", "Fault", "PracticeFleet", "PracticeServer", "RecordedRequest"]

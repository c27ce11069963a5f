"""Practice servers: loopback stand-ins for Ollama, Anthropic, OpenAI and Gemini.

They speak each provider's real wire protocol byte for byte (checked against the recorded
exchanges in the repository's ``tests/protocols/``), answer with canned replies that say
they are practice, and can be told to fail in the ways real providers fail. Use them in
tests, lessons and benchmarks::

    from vessel_nb.practice import PracticeFleet
    with PracticeFleet() as fleet:
        orch = fleet.orchestrator()
        orch.ask("Why is the sky blue?")

The providers' official Python clients accept them with default settings (base URL and
any key), including the endpoints their everyday helpers call, which answer deterministic
practice values: Ollama ``/api/generate``, ``/api/embed``, ``/api/embeddings``,
``/api/pull``; OpenAI ``/v1/embeddings``; Anthropic ``/v1/messages/count_tokens``; Gemini
``:countTokens``, ``:embedContent``, ``:batchEmbedContents`` (under ``/v1beta`` and ``/v1``).
The practice OpenAI also speaks the Responses API (``/v1/responses``, the only way to the
Codex models; ``openai_responses.py``) and, like OpenAI, refuses Codex models on Chat
Completions.

Faults (``srv.set_fault(kind, times=N, **params)``; ``times`` = next N chat requests,
default until ``srv.clear_fault()``; all but "down" apply to the chat endpoints only; the
table is :data:`vessel_nb.practice.faults.FAULTS`):

- ``down``: connection refused on every endpoint; the port is kept for clear_fault()/restart()
- ``hang_headers``: accept the request, never answer (until cleared or stopped)
- ``hang_mid_stream`` (``after=1``): stop after N pieces until cleared, then go on
- ``slow_first_token`` (``delay=2.0``): headers at once, first piece after ``delay`` s
- ``status`` (``code=``, ``retry_after=``): the provider's real error body and headers
- ``error_mid_stream`` (``after=1``): the provider's mid-stream error form, then the end
- ``malformed`` (``after=1``): one event of invalid JSON, then the stream goes on
- ``truncated`` (``after`` = all pieces): the body ends cleanly without the terminator

A "piece" is one word-like token of the reply (hidden reasoning pieces count too).
Importing this package imports tornado; ``import vessel_nb`` never does.
"""

from __future__ import annotations

from .faults import FAULT_KINDS, FAULTS, Fault, FaultSpec
from .fleet import PracticeFleet
from .handler import RecordedRequest
from .server import PROVIDERS, PracticeServer

__all__ = [
    "FAULTS",
    "FAULT_KINDS",
    "PROVIDERS",
    "Fault",
    "FaultSpec",
    "PracticeFleet",
    "PracticeServer",
    "RecordedRequest",
]

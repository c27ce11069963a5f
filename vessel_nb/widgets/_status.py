"""What the chat panel shows about its vessels: the health lights, the vessel list and the
latest call-log rows, refreshed while a view is visible and after every call.

Health costs nothing: the orchestrator's learned state (``health_snapshot``, no network),
plus a probe of the *local* vessels' free endpoints (Ollama's ``/api/tags``). A cloud
vessel is never called just to colour its light; its light shows what real calls taught.
"""

from __future__ import annotations

import time
from typing import Any

from .. import loop as bg
from ._live import WIRE_LOCK
from ._rows import health_rows, log_row, vessel_rows

LOG_ROWS = 8
"""rows in the panel's log view"""


class PanelStatus:
    """Keeps a widget's ``vessels``, ``health`` and ``log`` traits up to date."""

    def __init__(self, widget: Any, orch: Any) -> None:
        self._widget = widget
        self._orch = orch
        self._probe: Any = None
        self._last_tick = 0.0
        self._log_len = -1

    def refresh(self, probe: bool = True) -> None:
        """Everything now; ``probe`` also asks the local vessels (in the background)."""
        self.set_vessels()
        self.set_health()
        self.set_log()
        if probe:
            self.probe_local()

    def tick(self, interval: float) -> None:
        """A visible view asks every ``interval`` s; several views must not multiply the probes."""
        now = time.monotonic()
        if now - self._last_tick < interval * 0.6:
            return
        self._last_tick = now
        self.refresh(probe=True)

    def set_vessels(self) -> None:
        """The vessel list (a vessel may have been added to the orchestrator)."""
        rows = vessel_rows(self._orch)
        with WIRE_LOCK:
            if rows != self._widget.vessels:
                self._widget.vessels = rows

    def set_health(self) -> None:
        """The lights, from the orchestrator's learned state (no network)."""
        rows = health_rows(self._orch.health_snapshot())
        with WIRE_LOCK:
            if rows != self._widget.health:
                self._widget.health = rows

    def set_log(self) -> None:
        """The latest log rows, when the log has grown."""
        log = self._orch.log
        with WIRE_LOCK:
            if len(log) == self._log_len:
                return
            self._log_len = len(log)
            self._widget.log = [log_row(r) for r in log.rows[-LOG_ROWS:]]

    def probe_local(self) -> None:
        """Probe the local vessels' free health endpoints on the background loop."""
        names = [n for n in self._orch.priority if self._orch.vessels[n].local]
        if not names or (self._probe is not None and not self._probe.done()):
            return
        self._probe = bg.submit(self._orch.acheck_health(names, timeout=2.0))
        self._probe.add_done_callback(lambda _f: self.set_health())

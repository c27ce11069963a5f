"""What the orchestrator has learned about each vessel from real calls: a small breaker.

A healthy cloud vessel costs no extra round trip per call: there is no paid or network
preflight. Its health is learned from the calls themselves. After a failure the vessel
cools down (Retry-After when the provider gave one, else a backoff that doubles) and is
skipped at no cost until then (but only for a later vessel of the same call that is ready:
see ``fallback.attempt_in_turn``); the first call after that tries it again.

A local vessel that refused the connection is not cooled down at all: trying it again
costs well under a millisecond, and that is what makes recovery immediate when a person
restarts ``ollama serve``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import errors as E
from .types import Health

_BASE_COOLDOWN = 5.0
_MAX_COOLDOWN = 120.0
# Wrong key or model: retrying soon cannot help, but a person may fix it in the next cell.
_CONFIG_COOLDOWN = 60.0
# No quota or credit left: only a person (paying, raising a limit) can fix it, so don't
# spend a request on it for a long while, whatever Retry-After the 429 carried.
_BILLING_COOLDOWN = 1800.0


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class VesselState:
    """Breaker state of one vessel."""

    name: str
    failures: int = 0
    """consecutive failures"""
    open_until: float = 0.0
    """time.monotonic() before which the vessel is skipped"""
    last_error: str = ""
    last_ok: bool | None = None
    last_latency_s: float | None = None
    checked_at: str = ""

    def cooling_for(self, now: float | None = None) -> float:
        """Seconds left before the vessel is tried again (0 when it may be tried)."""
        return max(0.0, self.open_until - (time.monotonic() if now is None else now))

    def record_ok(self, latency_s: float | None) -> None:
        """A call or probe succeeded: close the breaker."""
        self.failures = 0
        self.open_until = 0.0
        self.last_error = ""
        self.last_ok = True
        self.last_latency_s = latency_s
        self.checked_at = _now_iso()

    def record_failure(self, err: E.VesselError, *, local: bool) -> None:
        """A call failed before its first token: decide how long to skip the vessel."""
        self.failures += 1
        self.last_ok = False
        self.last_error = err.reason
        self.checked_at = _now_iso()
        if isinstance(err, E.BillingError):
            cooldown = _BILLING_COOLDOWN
        elif err.retry_after is not None:
            cooldown = min(err.retry_after, 3600.0)
        elif isinstance(err, E.VesselUnavailable) and local:
            cooldown = 0.0  # retrying a refused local port is nearly free
        elif isinstance(err, (E.AuthError, E.ModelNotFound, E.BadRequest)):
            cooldown = 0.0 if local else _CONFIG_COOLDOWN
        elif isinstance(err, E.MissingKey):
            cooldown = 0.0  # checked without any network on every call anyway
        else:
            cooldown = min(_BASE_COOLDOWN * 2 ** (self.failures - 1), _MAX_COOLDOWN)
        self.open_until = time.monotonic() + cooldown

    def record_probe(self, health: Health) -> None:
        """A real health probe answered: trust it over what calls taught."""
        if health.ok:
            self.record_ok(health.latency_s)
        else:
            self.last_ok = False
            self.last_error = health.detail
            self.checked_at = health.checked_at or _now_iso()

    def snapshot(self) -> Health:
        """The learned state as a Health record (no network)."""
        cooling = self.cooling_for()
        if cooling > 0:
            state = "cooling"
        elif self.last_ok is None:
            state = "untested"
        else:
            state = "up" if self.last_ok else "down"
        return Health(
            vessel=self.name,
            ok=self.last_ok,
            latency_s=self.last_latency_s,
            detail=self.last_error or ("ok" if self.last_ok else ""),
            state=state,
            cooling_for_s=round(cooling, 1) if cooling > 0 else None,
            checked_at=self.checked_at,
        )

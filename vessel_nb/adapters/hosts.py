"""A vessel that is a pool of hosts: ``OllamaAdapter(base_url=[...])``, or several
OpenAI-compatible servers (vLLM, llama.cpp, Ray Serve replicas) behind one vessel name.

A call goes to the host with the fewest calls in flight (ties in turn, round robin), so a
slow host is not handed more work while another is idle. A host that fails is cooled down
on its own breaker (a :class:`~vessel_nb.health.VesselState` per host) and tried after the
ready ones; it is skipped only when a later host or vessel of the same call is ready —
the rule :mod:`vessel_nb.fallback` applies to vessels. The orchestrator tries the hosts
of a pool in turn (each try its own row in the call log, with its ``host``) before it
falls back to the next vessel; :func:`stream_over` does the same for a direct
``adapter.stream()``.

Locality belongs to the pool, not to a host: a pool is local only if every host is a
loopback address (checked again at every connection), or when declared ``local=True``.
So a private call never goes to a pool that has a host off this machine, whichever host
the spreading would have picked.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .. import errors as E
from ..health import VesselState
from ..types import CallOptions, Delta, Health, Message

if TYPE_CHECKING:
    from .base import BaseAdapter


@functools.lru_cache(maxsize=256)  # once per attempt (the log's host column): parse each address once
def label(url: str) -> str:
    """``host:port`` of an address (the log's ``host`` column; never a password)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HostPool:
    """The hosts of one pooled vessel: calls in flight and a breaker per host."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.hosts = tuple(hosts)
        self.in_flight = dict.fromkeys(self.hosts, 0)
        """host -> calls streaming from it now"""
        self.states = {h: VesselState(label(h)) for h in self.hosts}
        """host -> what calls and probes taught about it"""
        self.answered = ""
        """``host:port`` of the host that answered last ("" before any did)"""
        self._turn = 0

    def order(self, *, advance: bool = True) -> list[str]:
        """The hosts in the order a call tries them: ready ones by fewest calls in flight
        (ties: round robin, so a quiet pool still shares the work), then cooling ones,
        soonest ready first. ``advance=False`` peeks without taking a turn."""
        n = len(self.hosts)
        start = self._turn % n
        if advance:
            self._turn += 1
        now = time.monotonic()

        def rank(item: tuple[int, str]) -> tuple[bool, float, int, int]:
            i, host = item
            cooling = self.states[host].cooling_for(now)
            return (cooling > 0, cooling, self.in_flight[host], (i - start) % n)

        return [h for _, h in sorted(enumerate(self.hosts), key=rank)]

    def cooling_for(self, host: str) -> float:
        """Seconds before ``host`` is tried again while another is ready (0: ready)."""
        return self.states[host].cooling_for()

    def record_failure(self, host: str, err: E.VesselError) -> None:
        """A host failed: cool it down. Always with a backoff, even a refused loopback port
        (which a single local vessel retries at once): its pool has other hosts to use."""
        self.states[host].record_failure(err, local=False)

    def record_ok(self, host: str, latency_s: float | None = None) -> None:
        """A host answered: close its breaker."""
        self.states[host].record_ok(latency_s)
        self.answered = label(host)

    async def counted(self, host: str, deltas: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
        """``deltas``, counted as one call in flight on ``host`` until the stream ends."""
        self.in_flight[host] += 1
        try:
            async with aclosing(deltas) as stream:
                async for delta in stream:
                    yield delta
        finally:
            self.in_flight[host] -= 1


async def stream_over(adapter: BaseAdapter, messages: Sequence[Message], opts: CallOptions) -> AsyncIterator[Delta]:
    """A direct ``adapter.stream()`` on a pool: host after host until one streams.

    Moves on only while nothing has been yielded (no text or reasoning), as the
    orchestrator falls back only before the first token; raises the last host's error.
    """
    pool = adapter._hostpool
    assert pool is not None
    order = pool.order()
    failure: E.VesselError | None = None
    for i, host in enumerate(order):
        later_ready = any(pool.cooling_for(h) <= 0 for h in order[i + 1 :])
        if pool.cooling_for(host) > 0 and later_ready:
            continue
        shown = False
        try:
            async with aclosing(adapter.on_host(host).stream_call(messages, opts)) as deltas:
                async for delta in deltas:
                    shown = shown or bool(delta.text or delta.thinking)
                    yield delta
        except E.VesselError as err:
            pool.record_failure(host, err)
            if shown:
                raise
            failure = err
            continue
        pool.record_ok(host)
        return
    assert failure is not None  # the last host is never skipped
    raise failure


async def probe(adapter: BaseAdapter, timeout: float) -> Health:
    """Health of a pool: up when any host answers its probe; the detail names those down."""
    from . import probes

    pool = adapter._hostpool
    assert pool is not None
    results = await asyncio.gather(*(probes.probe(adapter.on_host(h), timeout) for h in pool.hosts))
    for host, health in zip(pool.hosts, results, strict=True):
        pool.states[host].record_probe(health)
    up = [h for h in results if h.ok]
    down = [f"{label(host)}: {h.detail}" for host, h in zip(pool.hosts, results, strict=True) if not h.ok]
    detail = f"{len(up)} of {len(results)} hosts up" + ("; down: " + "; ".join(down) if down else "")
    return Health(
        adapter.name,
        bool(up),
        min((h.latency_s for h in up if h.latency_s is not None), default=None),
        detail,
        "up" if up else "down",
        checked_at=max(h.checked_at for h in results),
    )

"""Is the vessel there? The health probe (free endpoint: up or down, latency, a detail a
person can read) and the liveness watchdog that probes a server while a call waits for its
first token.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx

from .. import errors as E
from ..types import Health
from . import tls, translate

if TYPE_CHECKING:
    from .base import BaseAdapter
    from .clock import AttemptClock

# Error bodies are small; a misbehaving server must not make us read megabytes.
_MAX_ERROR_BODY = 64 * 1024


class Watchdog:
    """While waiting for the first token, check every ``clock.liveness`` seconds that the
    server is alive (see :func:`_watch`).

    A timer first, the probing task only when the first check is due: nearly every call has
    its first token long before, and a task per call (made, stepped, cancelled, stepped
    again) cost about 40 µs of the time to the first token.
    """

    __slots__ = ("adapter", "clock", "timer", "task")

    def __init__(self, adapter: BaseAdapter, clock: AttemptClock, loop: asyncio.AbstractEventLoop) -> None:
        self.adapter, self.clock = adapter, clock
        self.task: asyncio.Task | None = None
        self.timer: asyncio.TimerHandle | None = loop.call_later(clock.liveness, self._due)

    def _due(self) -> None:
        self.timer = None
        if not self.clock.got_text:
            self.task = asyncio.ensure_future(_watch(self.adapter, self.clock))

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None:
            self.task.cancel()


async def _watch(adapter: BaseAdapter, clock: AttemptClock) -> None:
    """Probe now, and again every ``clock.liveness`` seconds until text arrives.

    A cold model load in Ollama can take minutes before the first byte, so the first-token
    limit must be generous; but a server that has stopped answering altogether should not
    keep a notebook waiting that long. A loading server still answers its free probe.
    """
    while not clock.got_text:
        # Any HTTP answer shows the server alive (vLLM's 404 for /models/{id} too), so this
        # never asks probe_fallback's second question: one request within min(liveness, 3 s).
        method, path, headers = adapter.probe_request()
        try:
            async with asyncio.timeout(min(clock.liveness, 3.0)):
                await _probe_once(adapter, method, adapter.base_url + path, headers)
        except (TimeoutError, httpx.HTTPError):
            if not clock.got_text:
                clock.dead()
            return
        await asyncio.sleep(clock.liveness)


async def _probe_once(adapter: BaseAdapter, method: str, url: str, headers: dict) -> None:
    """The liveness probe on a connection of its own: through the shared pool it would queue
    behind the very calls it checks (hundreds at once), time out, and call a busy server dead."""
    if adapter._transport is not None:  # the caller's own transport (tests): not ours to close
        await adapter._client().request(method, url, headers=headers)
        return
    t = adapter.timeouts
    trust_env = not (adapter.local or adapter.is_loopback)
    async with httpx.AsyncClient(
        transport=adapter._make_transport(),
        timeout=httpx.Timeout(t.connect),
        trust_env=trust_env,
        verify=tls.context(trust_env),
        follow_redirects=False,
    ) as client:
        await client.request(method, url, headers=headers)


async def probe(adapter: BaseAdapter, timeout: float) -> Health:
    """Call the adapter's free endpoint: ok, latency and a detail a person can read."""
    checked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    name = adapter.name
    if (err := adapter.missing_key()) is not None:
        return Health(name, False, None, err.reason, "down", checked_at=checked)
    method, path, headers = adapter.probe_request()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):  # both requests, when there is a second, share it
            client = adapter._client()
            response = await client.request(method, adapter.base_url + path, headers=headers)
            if response.status_code >= 300 and (again := adapter.probe_fallback(response)) is not None:
                method, path, headers = again
                response = await client.request(method, adapter.base_url + path, headers=headers)
            elif response.status_code >= 300:
                raise translate.from_status(
                    adapter, response.status_code, response.headers, response.content[:_MAX_ERROR_BODY]
                )
            detail = _probe_detail(adapter, response)
    except TimeoutError:
        return Health(name, False, None, f"no answer within {timeout:g}s", "down", checked_at=checked)
    except httpx.HTTPError as exc:
        err = translate.from_transport(adapter, exc)
        return Health(name, False, None, err.reason, "down", checked_at=checked)
    except E.VesselError as err:
        return Health(name, False, time.perf_counter() - start, err.reason, "down", checked_at=checked)
    return Health(name, True, time.perf_counter() - start, detail, "up", checked_at=checked)


def _probe_detail(adapter: BaseAdapter, response: httpx.Response) -> str:
    """The adapter's reading of its probe's answer; an answer it cannot read is a VesselError
    (whatever holds the port may not be the provider), never a raw JSON or attribute error."""
    try:
        return adapter.probe_result(response)
    except E.VesselError:
        raise
    except Exception as exc:  # noqa: BLE001 — any adapter's parser, a subclass's included
        raise translate.stream_error(
            adapter,
            f"the health probe's answer could not be read ({type(exc).__name__}): {adapter.excerpt(response.text)}",
        ) from None

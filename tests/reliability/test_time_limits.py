"""Every time limit holds, measured: connect, first token, idle gap, total — with bodies
drip-fed just fast enough to dodge the other limits, and with transports that hand over data
without ever giving the event loop a turn.

Each test checks that the limit fired for the right reason, not before its time, and within
a generous margin after it (the machine may be loaded); the figures go to the reliability
report via ``bench/reliability.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import contextmanager

import httpx
import pytest

from vessel_nb import OllamaAdapter, OpenAIAdapter, Timeouts
from vessel_nb import errors as E

#: how late a limit may fire on a loaded 2-core machine
SLACK = 3.0


def token_line(i: int) -> bytes:
    return (
        json.dumps({"model": "m", "message": {"role": "assistant", "content": f"t{i} "}, "done": False}).encode()
        + b"\n"
    )


class Drip(httpx.AsyncByteStream):
    """``first`` pieces, then ``piece`` every ``every`` seconds forever (``every=None``: never
    suspend at all — a transport that does not give the event loop a turn)."""

    def __init__(self, piece, every: float | None, first: list[bytes] = (), stall_after: int | None = None):
        self.piece, self.every, self.first, self.stall_after = piece, every, list(first), stall_after

    async def __aiter__(self):
        for p in self.first:
            yield p
        i = 0
        while True:
            if self.stall_after is not None and i >= self.stall_after:
                await asyncio.Event().wait()
            yield self.piece(i) if callable(self.piece) else self.piece
            i += 1
            if self.every is not None:
                await asyncio.sleep(self.every)


def measure(adapter, timeouts: Timeouts) -> tuple[float, BaseException, int]:
    """Seconds until the attempt failed, the error, and how many tokens of text came first
    (counted in the text: tokens already buffered together arrive joined in one delta)."""
    got = 0

    async def go():
        nonlocal got
        try:
            async for d in adapter.stream([{"role": "user", "content": "hi"}], timeouts=timeouts):
                got += len(d.text.split())
        finally:
            await adapter.aclose()

    start = time.monotonic()
    with pytest.raises(E.VesselTimeout) as caught:
        asyncio.run(go())
    return time.monotonic() - start, caught.value, got


def ollama(stream: httpx.AsyncByteStream | None = None, handler=None) -> OllamaAdapter:
    def respond(request):
        return httpx.Response(200, stream=stream)

    return OllamaAdapter("m", transport=httpx.MockTransport(handler or respond))


@contextmanager
def full_backlog():
    """The port of a listening socket that never accepts, its backlog filled: the kernel drops
    further SYNs, so a connect waits as it would for a host that does not answer."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    fillers = []
    try:
        for _ in range(3):
            c = socket.socket()
            fillers.append(c)
            c.setblocking(False)
            try:
                c.connect(srv.getsockname())
            except BlockingIOError:
                pass
        yield srv.getsockname()[1]
    finally:
        for c in [*fillers, srv]:
            c.close()


def test_connect_limit_on_a_server_whose_backlog_is_full():
    with full_backlog() as port:
        adapter = OllamaAdapter("m", base_url=f"http://127.0.0.1:{port}")
        took, err, _ = measure(adapter, Timeouts(connect=0.4, first_token=30, idle=30, total=60))
    assert "no connection" in err.reason and "0.4s" in err.reason
    assert 0.35 <= took < 0.4 + SLACK


def test_first_token_limit_when_headers_never_come():
    async def hang(request):
        await asyncio.Event().wait()

    t = Timeouts(connect=1, first_token=0.5, idle=30, total=60)
    took, err, _ = measure(ollama(handler=hang), t)
    assert "no first token" in err.reason
    assert 0.45 <= took < 0.5 + SLACK


def test_first_token_limit_when_only_keepalives_drip_in():
    # bytes keep coming, but no text: the first-token limit still applies
    transport = httpx.MockTransport(lambda r: httpx.Response(200, stream=Drip(b": keep-alive\n\n", 0.02)))
    adapter = OpenAIAdapter("m", base_url="http://127.0.0.1:9/v1", transport=transport)
    t = Timeouts(connect=1, first_token=0.5, idle=30, total=60)
    took, err, got = measure(adapter, t)
    assert "no first token" in err.reason and got == 0
    assert 0.45 <= took < 0.5 + SLACK


def test_idle_limit_when_the_stream_stalls():
    t = Timeouts(connect=1, first_token=5, idle=0.5, total=60)
    took, err, got = measure(ollama(Drip(token_line, 0.01, stall_after=3)), t)
    assert "went silent for 0.5s" in err.reason and got == 3
    assert 0.45 <= took < 0.5 + SLACK


def test_total_limit_when_tokens_drip_just_inside_the_idle_limit():
    t = Timeouts(connect=1, first_token=5, idle=0.3, total=1.0)
    took, err, got = measure(ollama(Drip(token_line, 0.1)), t)
    assert "1s total limit" in err.reason and got >= 3
    assert 0.95 <= took < 1.0 + SLACK


def test_first_token_limit_holds_when_the_transport_never_yields():
    # keep-alives handed over synchronously, forever: without a turn for the event loop,
    # no timer could fire and the notebook (and every other call) would hang
    transport = httpx.MockTransport(lambda r: httpx.Response(200, stream=Drip(b": keep-alive\n\n", None)))
    adapter = OpenAIAdapter("m", base_url="http://127.0.0.1:9/v1", transport=transport)
    t = Timeouts(connect=1, first_token=0.5, idle=30, total=60)
    took, err, _ = measure(adapter, t)
    assert "no first token" in err.reason
    assert 0.45 <= took < 0.5 + SLACK


def test_total_limit_holds_when_the_transport_never_yields():
    t = Timeouts(connect=1, first_token=5, idle=5, total=0.5)
    took, err, got = measure(ollama(Drip(token_line, None)), t)
    assert "total limit" in err.reason and got > 100
    assert 0.45 <= took < 0.5 + SLACK


def test_other_calls_go_on_while_a_transport_never_yields():
    # the same starving stream, and beside it an ordinary call that must finish first
    starving = ollama(Drip(token_line, None))
    lines = [token_line(0), json.dumps({"model": "m", "message": {"content": ""}, "done": True}).encode() + b"\n"]
    normal = ollama(Drip(b"", 0.0, first=lines, stall_after=0))

    async def go():
        order = []

        async def run(name, adapter, t):
            try:
                async for d in adapter.stream([{"role": "user", "content": "hi"}], timeouts=t):
                    if d.done:
                        break
            except E.VesselTimeout:
                pass
            order.append(name)

        await asyncio.gather(
            run("starving", starving, Timeouts(connect=1, first_token=5, idle=5, total=2.0)),
            run("normal", normal, Timeouts(connect=1, first_token=5, idle=5, total=10)),
        )
        await starving.aclose()
        await normal.aclose()
        return order

    assert asyncio.run(go()) == ["normal", "starving"]

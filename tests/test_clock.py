"""The attempt clock on the delta path: one lazy timer per attempt, not one per delta; an idle
gap is still a timeout; someone else's cancellation stays a cancellation. No wall-clock
bounds: the streams are in-memory and the gaps are event-driven."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from vessel_nb import OllamaAdapter, Timeouts
from vessel_nb import errors as E
from vessel_nb.adapters import clock as clock_mod

LINE = b'{"model":"m","message":{"role":"assistant","content":" w"},"done":false}\n'
DONE = b'{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n'


class Body(httpx.AsyncByteStream):
    """``n`` token lines one piece each; then, if ``gate`` is given, wait for it before the end."""

    def __init__(self, n: int, gate: asyncio.Event | None = None, at_gate: asyncio.Event | None = None) -> None:
        self.n, self.gate, self.at_gate = n, gate, at_gate

    async def __aiter__(self):
        for _ in range(self.n):
            await asyncio.sleep(0)  # each piece is a separate read, as from a socket
            yield LINE
        if self.gate is not None:
            self.at_gate.set()
            await self.gate.wait()
        yield DONE


def adapter(body_factory, timeouts: Timeouts) -> OllamaAdapter:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=body_factory())
    )
    return OllamaAdapter(model="m", transport=transport, timeouts=timeouts)


def test_thousands_of_deltas_arm_the_timer_a_few_times_only(monkeypatch):
    arms = []
    real = clock_mod.AttemptClock._arm

    def counting(self, when):
        arms.append(when)
        real(self, when)

    monkeypatch.setattr(clock_mod.AttemptClock, "_arm", counting)
    a = adapter(lambda: Body(5000), Timeouts(connect=5, first_token=60, idle=30, total=600))

    async def run():
        return [d async for d in a.stream([{"role": "user", "content": "x"}]) if d.text]

    assert len(asyncio.run(run())) == 5000
    # the first-token deadline, then the (earlier) idle deadline once text arrived: not 5000
    assert len(arms) <= 2


def test_an_idle_gap_mid_stream_is_a_timeout():
    async def run():
        gate, at_gate = asyncio.Event(), asyncio.Event()
        a = adapter(lambda: Body(3, gate, at_gate), Timeouts(connect=5, first_token=5, idle=0.2, total=60))
        got = []
        with pytest.raises(E.VesselTimeout, match="went silent"):
            async for d in a.stream([{"role": "user", "content": "x"}]):
                got.append(d.text)
        return got

    assert asyncio.run(run()) == [" w"] * 3


def test_cancelling_the_caller_mid_wait_stays_a_cancellation():
    async def run():
        gate, at_gate = asyncio.Event(), asyncio.Event()
        a = adapter(lambda: Body(2, gate, at_gate), Timeouts(connect=5, first_token=5, idle=30, total=60))

        async def consume():
            async for _ in a.stream([{"role": "user", "content": "x"}]):
                pass

        task = asyncio.create_task(consume())
        await at_gate.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(run())


def test_a_total_limit_reached_between_waits_ends_the_next_wait():
    async def run():
        a = adapter(lambda: Body(50), Timeouts(connect=5, first_token=5, idle=5, total=0.05))
        with pytest.raises(E.VesselTimeout, match="total limit"):
            async for d in a.stream([{"role": "user", "content": "x"}]):
                if d.text:
                    await asyncio.sleep(0.06)  # a slow consumer: the total passes while no wait runs

    asyncio.run(run())


def test_calls_queued_behind_a_full_pool_are_not_called_dead(practice):
    """30 calls on a server that is slow to start answering, 20 stream slots: the liveness
    probe (a connection of its own) must not call the busy server dead, and the 10 calls
    waiting for a slot must not be timed while they wait."""
    from vessel_nb import AIOrchestrator

    # Every stream slot stays busy for 3 s, three times the probe's 1 s limit: a probe that
    # queued behind the calls would fail. 1 s, not 0.5 s: on a busy 2-core machine a fresh
    # connection's probe missed 0.5 s now and then, with and without this round's changes.
    practice["ollama"].set_fault("slow_first_token", delay=3.0)
    adapter = OllamaAdapter(
        model="llama3.2",
        base_url=practice["ollama"].base_url,
        timeouts=Timeouts(connect=5, first_token=60, idle=10, total=120),
    )
    adapter.liveness_every = 1.0  # the probe's limit too: min(liveness_every, 3 s)
    orch = AIOrchestrator({"ollama": adapter}, log_path=False)

    async def many():
        return await asyncio.gather(*(orch.aask(f"hi {i}") for i in range(30)), return_exceptions=True)

    try:
        replies = asyncio.run(many())
    finally:
        orch.close()
    assert [type(r).__name__ for r in replies if isinstance(r, BaseException)] == []


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        (Timeouts(connect=5, first_token=0.5, idle=30, total=60), "no first token from 127.0.0.1:9 within 0.5s"),
        (Timeouts(connect=5, first_token=30, idle=30, total=60), "within 30s"),
    ],
)
def test_the_first_token_message_gives_the_limit_as_set(limits, says):
    """A limit under a second is not printed as "0s"."""
    loop = asyncio.new_event_loop()
    try:
        clock = clock_mod.AttemptClock(loop, limits, None)
        err = clock.timeout_error(OllamaAdapter(model="m", base_url="http://127.0.0.1:9"))
    finally:
        loop.close()
    assert says in str(err)


def test_the_liveness_watchdog_is_a_timer_until_its_first_check_is_due():
    # Ollama probes liveness while it waits for a first token (every 5 s by default); a call
    # whose answer starts sooner must not pay for a probing task (made, stepped, cancelled)
    tasks_at_send = []

    def handler(request):
        tasks_at_send.append(sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks()))
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=Body(3))

    a = OllamaAdapter(model="m", transport=httpx.MockTransport(handler), timeouts=Timeouts())
    assert a.liveness_every == 5.0

    async def run():
        return [d.text async for d in a.stream([{"role": "user", "content": "x"}]) if d.text]

    assert asyncio.run(run()) == [" w"] * 3
    assert tasks_at_send == [["test_the_liveness_watchdog_is_a_timer_until_its_first_check_is_due.<locals>.run"]]

"""Many calls at once against the practice servers over real sockets: queueing for a pooled
connection is not a vessel failure, and 500 mixed calls with a vessel going down and up keep
every answer with its caller, one terminal row per attempt, and no thread or descriptor left.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from vessel_nb import Timeouts
from vessel_nb import errors as E

ROOMY = Timeouts(connect=5.0, first_token=30.0, idle=30.0, total=120.0)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
TERMINAL = {"ok", "unhealthy", "error", "interrupted", "cancelled"}


def poll(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            return value
        time.sleep(0.02)
    return value


async def _close_adapters(orch) -> None:
    # the adapters keep one pool per event loop; this test's loop is about to end
    for adapter in orch.vessels.values():
        await adapter.aclose()


def test_waiting_for_a_pooled_connection_neither_fails_the_call_nor_marks_the_vessel_down(practice, tmp_path):
    # Every reply takes 2 s, longer than the 1 s connect limit, and more calls than the pool
    # holds arrive at once: the late ones queue for a connection. That wait once counted
    # against the connect limit (httpx PoolTimeout) and took the vessel down.
    practice["ollama"].set_fault("slow_first_token", delay=2.0)
    limits = Timeouts(connect=1.0, first_token=20, idle=20, total=60)
    vessels = practice.adapters()
    vessels["ollama"].timeouts = limits  # the adapter's own limits, as well as the call's
    orch = practice.orchestrator(vessels=vessels, log_path=False, timeouts=limits)
    adapter = orch.vessels["ollama"]
    calls = adapter.max_connections + 10

    async def many():
        try:
            return await asyncio.gather(
                *(orch.aask(f"queued {i}", task={"private": True}) for i in range(calls)), return_exceptions=True
            )
        finally:
            await _close_adapters(orch)

    replies = asyncio.run(many())
    failures = [r for r in replies if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    assert all(f"queued {i}" in r.text and r.vessel == "ollama" for i, r in enumerate(replies))
    assert orch.health_snapshot()["ollama"].state == "up"
    assert all(row["outcome"] == "ok" for row in orch.log.rows)
    orch.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_500_mixed_calls_with_a_vessel_going_down_and_up(practice, tmp_path):
    warm = practice.orchestrator(log_path=False)
    warm.ask("warm up")  # starts the background loop thread once, before counting threads
    warm.close()
    threads_before, fds_before = threading.active_count(), _fds()

    orch = practice.orchestrator(log_path=tmp_path / "calls.sqlite3", timeouts=ROOMY)
    kinds = ["private", "routed", "explicit", "vision", "thinking"]
    ollama = practice["ollama"]
    flips = []

    async def one(i: int):
        tag = f"caller-{i}-"
        kind = kinds[i % len(kinds)]
        await asyncio.sleep(i * 0.003)  # arrivals spread over 1.5 s, so calls meet the vessel up and down
        if kind == "private":
            return kind, tag, await orch.aask(f"{tag} private", task={"private": True})
        if kind == "routed":
            return kind, tag, await orch.aask(f"{tag} routed")
        if kind == "explicit":
            return kind, tag, await orch.aask(f"{tag} explicit", vessel="openai")
        if kind == "vision":
            return kind, tag, await orch.aask(f"{tag} vision", images=[PNG])
        return kind, tag, await orch.aask(f"{tag} thinking", task={"needs_thinking": True})

    async def flapping(stop: asyncio.Event):
        # the local vessel goes down and comes back up while the calls run
        while not stop.is_set():
            await asyncio.to_thread(ollama.set_fault, "down")
            flips.append("down")
            await asyncio.sleep(0.05)
            await asyncio.to_thread(ollama.clear_fault)
            flips.append("up")
            await asyncio.sleep(0.05)

    async def run_all():
        stop = asyncio.Event()
        flapper = asyncio.create_task(flapping(stop))
        try:
            jobs = [asyncio.create_task(one(i)) for i in range(500)]
            results = []
            for i, job in enumerate(jobs):
                try:
                    results.append(await job)
                except E.VesselNBError as exc:
                    results.append((kinds[i % len(kinds)], f"caller-{i}-", exc))
            return results
        finally:
            stop.set()
            await flapper
            await _close_adapters(orch)

    results = asyncio.run(run_all())
    ollama.clear_fault()
    assert "down" in flips and "up" in flips

    call_ids = {}
    answered = 0
    for kind, tag, result in results:
        if isinstance(result, BaseException):
            # a private call fails closed while its one local vessel is down; any other failure
            # (a loaded machine) must still be a vessel_nb error that lists its attempts
            assert isinstance(result, E.AllVesselsFailed), (kind, result)
            if kind == "private":
                assert isinstance(result, E.NoLocalVessel), result
            attempts = result.attempts
        else:
            answered += 1
            assert tag in result.text, (kind, tag, result.text[:80])  # never another caller's answer
            if kind == "private":
                assert result.vessel == "ollama" and result.local
            if kind == "explicit":
                assert result.vessel == "openai"
            if kind == "vision":
                assert result.vessel != "ollama"  # the practice llama3.2 has no vision
            attempts = result.attempts
        assert attempts, (kind, tag)
        # no call ends without trying a vessel: a cooling one is skipped only for a later one
        # (so a private call reaches Ollama once it is back up, instead of failing untried)
        assert attempts[-1].outcome != "unhealthy", (kind, tag, [(a.vessel, a.outcome) for a in attempts])
        call_ids[attempts[0].call_id] = len(attempts)
    assert len(call_ids) == 500 and answered >= 300

    assert orch.log.flush(timeout=30)
    rows = orch.log.load_all()
    assert len(rows) == len(orch.log.rows) == sum(call_ids.values())  # no row lost or doubled
    assert set(rows["outcome"]) <= TERMINAL
    per_call = rows.groupby("call_id")["attempt"].apply(sorted).to_dict()
    assert per_call == {cid: list(range(1, n + 1)) for cid, n in call_ids.items()}  # one row per attempt

    orch.close()
    assert poll(lambda: threading.active_count() <= threads_before), [t.name for t in threading.enumerate()]
    assert poll(lambda: _fds() <= fds_before + 2), (fds_before, _fds())

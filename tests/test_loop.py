"""The bridge between plain (kernel) threads and the background event loop."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time

import pytest

from vessel_nb import loop as bg


def test_keyboard_interrupt_mid_stream_stops_the_call_fast_and_closes_the_connection(practice):
    orch = practice.orchestrator(log_path=False)
    srv = practice["ollama"]
    srv.pace = 0.05
    before = srv.disconnects
    seen = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with orch.stream_sync("a long story", vessel="ollama") as chunks:
                for chunk in chunks:
                    seen.append(chunk.content)
                    if len(seen) == 2:
                        interrupted_at = time.monotonic()
                        _thread.interrupt_main()  # what a kernel interrupt does to the cell's thread
        stopped_in = time.monotonic() - interrupted_at
        assert stopped_in < 1.0  # measured ~0.1-0.2 s; the bound only guards against hanging
        assert orch.log.rows[-1]["outcome"] == "cancelled"
        srv.wait_for(lambda: srv.disconnects > before, timeout=5)
        count = len(seen)
        # nothing keeps arriving once the block is left
        assert orch.ask("next", vessel="ollama").vessel == "ollama" and len(seen) == count
    finally:
        srv.pace = 0.0
        orch.close()


def test_run_sync_refuses_to_deadlock_on_its_own_loop():
    async def inner():
        with pytest.raises(RuntimeError, match="async API"):
            bg.run_sync(asyncio.sleep(0))
        return True

    assert bg.run_sync(inner())


def test_the_loop_thread_starts_lazily_and_is_a_daemon():
    loop = bg.get_loop()
    assert loop.is_running()
    thread = next(t for t in threading.enumerate() if t.name == "vessel_nb-loop")
    assert thread.daemon


def test_errors_from_the_loop_reach_the_caller():
    async def boom():
        raise ValueError("from the loop")

    with pytest.raises(ValueError, match="from the loop"):
        bg.run_sync(boom())

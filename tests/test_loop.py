"""The bridge between plain (kernel) threads and the background event loop."""

from __future__ import annotations

import _thread
import asyncio
import threading

import pytest

from vessel_nb import loop as bg


def test_keyboard_interrupt_mid_stream_cancels_the_call_and_closes_the_connection(practice):
    # A reply that would stream for ~100 s: the call can only have been cut short by the
    # interrupt, however slow a loaded machine is. No wall-clock bound (speed is measured in
    # bench/): a disconnect is counted only while the server still has pieces to send.
    orch = practice.orchestrator(log_path=False)
    srv = practice["ollama"]
    srv.pace, srv.reply = 0.05, " ".join(f"word{i}" for i in range(2000))
    before = srv.disconnects
    seen = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with orch.stream_sync("a long story", vessel="ollama") as chunks:
                for chunk in chunks:
                    seen.append(chunk.content)
                    if len(seen) == 2:
                        _thread.interrupt_main()  # what a kernel interrupt does to the cell's thread
        # Leaving the block waited for the call to stop: its attempt is already logged.
        assert orch.log.rows[-1]["outcome"] == "cancelled"
        srv.wait_for(lambda: srv.disconnects > before, timeout=60)  # polls; hung up mid-stream
        count = len(seen)
        srv.pace, srv.reply = 0.0, None
        # nothing keeps arriving once the block is left, and the vessel answers the next call
        assert orch.ask("next", vessel="ollama").vessel == "ollama" and len(seen) == count
    finally:
        srv.pace, srv.reply = 0.0, None
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

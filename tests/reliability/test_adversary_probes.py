"""The requests beside the calls — the Ollama probe of practice mode and the lessons' set-up,
the health probe, the capability check a vision or reasoning call makes first — against a
port held by something that is not Ollama: each ends in bounded time with a sentence, never
a hang (a body drip-fed faster than any per-read limit) or a raw JSON/attribute error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import vessel_nb as vnb
from vessel_nb import OllamaAdapter, classroom, routing
from vessel_nb.adapters import ollama

from .hostile import HostileServer

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture
def hostile():
    srv = HostileServer().start()
    yield srv
    srv.stop()


def bounded(fn: Callable[[], Any], seconds: float) -> tuple[Any, BaseException | None, float]:
    """Run ``fn`` in a thread: (its result, its exception, seconds taken); fails the test if it
    is still running after ``seconds`` (the hang this file is about)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 — handed to the test
            out["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds}s"
    return out.get("value"), out.get("error"), time.monotonic() - start


def test_the_ollama_probe_of_practice_mode_gives_up_on_a_drip_fed_answer(hostile):
    hostile.mode = "drip"
    value, error, took = bounded(lambda: classroom.ollama_models(f"http://127.0.0.1:{hostile.port}", 0.5), 10)
    assert error is None and value is None and hostile.requests == 1
    assert took < 3.0


@pytest.mark.parametrize("mode", ["html", "list", "wrong_models"])
def test_the_ollama_probe_reads_a_foreign_answer_as_no_ollama(hostile, mode):
    hostile.mode = mode
    value, error, _ = bounded(lambda: classroom.ollama_models(f"http://127.0.0.1:{hostile.port}", 2.0), 10)
    assert error is None and value is None


@pytest.mark.parametrize("mode", ["html", "list", "wrong_models"])
def test_a_health_check_of_a_foreign_server_says_so(hostile, mode):
    hostile.mode = mode
    orch = vnb.AIOrchestrator({"ollama": OllamaAdapter(base_url=f"http://127.0.0.1:{hostile.port}")}, log_path=False)
    try:
        health, error, _ = bounded(orch.check_health, 15)
    finally:
        orch.close()
    assert error is None, repr(error)
    assert health["ollama"].ok is False and "/api/tags" in health["ollama"].detail


def _vision_call(port: int) -> vnb.Reply:
    orch = vnb.AIOrchestrator(
        {"ollama": OllamaAdapter(model="llava", base_url=f"http://127.0.0.1:{port}")}, log_path=False
    )
    try:
        return orch.ask("what is in the picture?", images=[PNG])
    finally:
        orch.close()


def test_a_vision_call_is_not_held_up_by_a_drip_fed_capability_check(hostile, monkeypatch):
    monkeypatch.setattr(ollama, "SIDE_REQUEST_LIMIT", 0.5)
    hostile.mode = "drip"
    _, error, took = bounded(lambda: _vision_call(hostile.port), 15)
    assert isinstance(error, vnb.AllVesselsFailed) and "read images" in str(error)
    assert took < 5.0


def test_any_adapter_s_capability_check_is_bounded(monkeypatch):
    class Wedged(OllamaAdapter):
        async def supports(self, capability: str) -> bool:
            import asyncio

            await asyncio.sleep(3600)
            return True

    monkeypatch.setattr(routing, "CAPABILITY_LIMIT", 0.3)
    orch = vnb.AIOrchestrator({"ollama": Wedged(model="llava")}, log_path=False)
    try:
        _, error, took = bounded(lambda: orch.ask("think", task={"needs_thinking": True}), 10)
    finally:
        orch.close()
    assert isinstance(error, vnb.AllVesselsFailed) and took < 5.0


@pytest.mark.parametrize("mode", ["html", "list", "wrong_capabilities"])
def test_a_foreign_capability_answer_is_no_capability_not_a_crash(hostile, mode):
    hostile.mode = mode
    _, error, _ = bounded(lambda: _vision_call(hostile.port), 15)
    assert isinstance(error, vnb.AllVesselsFailed) and "read images" in str(error), repr(error)

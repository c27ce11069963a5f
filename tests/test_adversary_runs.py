"""orch.map against a vessel that answers nothing at all: the run ends in bounded time, asks
the dead vessel a bounded number of times (not ``retries`` times per prompt, each after a
doubling pause), says which pairs it did not ask, and the same run again asks them."""

from __future__ import annotations

import asyncio

import pytest

from vessel_nb import Timeouts, pacing
from vessel_nb import errors as E

CALM = Timeouts(connect=5.0, first_token=20.0, idle=20.0, total=60.0)
CHAT = "/v1/messages"


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch, orch):
    monkeypatch.setattr(pacing, "_FIRST_BACKOFF", 0.05)
    orch.timeouts = CALM


def chat_requests(server) -> int:
    return sum(CHAT in r.path for r in server.requests)


def test_a_vessel_that_only_fails_is_given_up_after_retries_rounds_not_per_prompt(orch, practice):
    practice["claude"].set_fault("status", code=503)
    prompts = [f"q{i} hi" for i in range(12)]
    run = orch.map(prompts, vessels=["claude", "ollama"], per_vessel=2, retries=2, progress=False)
    run.wait(timeout=30)  # per prompt, 3 tries after doubling pauses: minutes (it used to be)
    df = run.df
    claude = df[df.vessel == "claude"]
    assert run.status == "done" and set(claude.outcome) == {"error"} and len(claude) == 12
    assert set(df[df.vessel == "ollama"].outcome) == {"ok"}  # the other vessel went on
    # at most one burst per round: (retries + 1) rounds of `limit` calls
    assert chat_requests(practice["anthropic"]) <= 3 * 2
    skipped = claude[claude.error_kind == "gave_up"]
    assert len(skipped) >= 12 - 3 * 2
    assert skipped.error.str.contains("not asked: claude").all()
    assert skipped.error.str.contains("run the same map again").all()
    assert run.pacing["claude"]["paused_s"] < 1.0

    practice["claude"].clear_fault()
    again = orch.map(prompts, vessels=["claude", "ollama"], per_vessel=2, retries=2, progress=False).wait(timeout=30)
    assert set(again.df.outcome) == {"ok"} and again.df.resumed.sum() == 12  # ollama's were kept


def test_a_burst_of_calls_failing_together_is_one_round():
    async def burst():
        gate = pacing.Gate("x", 8, give_up_after=1)
        seen = gate.rounds
        pauses = [gate.slow_down(E.ServerError("503"), seen) for _ in range(8)]
        assert gate.rounds == 1 and gate.failing == 1 and not gate.gave_up
        assert pauses[0] == pacing._FIRST_BACKOFF and pauses[1:] == [0.0] * 7  # the backoff doubled once
        gate.slow_down(E.ServerError("503"), gate.rounds)
        assert gate.gave_up and gate.paused_for() == 0.0  # nothing waits for a vessel given up
        gate.went_well()
        assert not gate.gave_up

    asyncio.run(burst())

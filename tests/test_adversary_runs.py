"""orch.map against a vessel that answers nothing at all: the run ends in bounded time, asks
the dead vessel a bounded number of times (not ``retries`` times per prompt, each after a
doubling pause), says which pairs it did not ask, and the same run again asks them."""

from __future__ import annotations

import asyncio
import time

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


def test_a_budget_counts_the_system_prompt_and_never_overruns(orch, practice):
    # $0.001 a token; each call's answer is capped at 40 tokens, but the long system prompt
    # (about 1,600 tokens in the practice server's count, $1.60) is most of what a call costs
    orch.prices.set("claude-practice", input=1000.0, output=1000.0)
    system = "Grade the answer carefully against the rubric. " * 230
    run = orch.map(
        [f"q{i} hi" for i in range(20)],
        vessels=["claude"],
        per_vessel=4,
        max_tokens=40,
        budget_usd=30.0,
        system=system,
        progress=False,
    ).wait(timeout=60)
    answered = run.df[run.df.outcome == "ok"]
    assert run.status == "budget" and 0 < len(answered) < 20
    assert run.spent_usd <= 30.0, f"spent ${run.spent_usd:.2f} of a $30 budget"
    assert answered.tokens_in.min() > 1000  # the system prompt was sent, and billed


def test_the_input_ceiling_holds_for_any_script():
    from vessel_nb.pricing import IMAGE_TOKENS, input_ceiling

    cjk = [{"role": "user", "content": "漢字" * 100}]  # a CJK character is often a token or more
    assert input_ceiling(cjk) >= 200
    assert input_ceiling(cjk, "x" * 50, images=2) >= input_ceiling(cjk) + 50 + 2 * IMAGE_TOKENS


def _workers_alive() -> int:
    from vessel_nb import loop as bg

    loop = bg.get_loop()
    tasks = asyncio.run_coroutine_threadsafe(_all_tasks(), loop).result(5)
    return sum(t.get_coro().__qualname__ == "Run._worker" for t in tasks if not t.done())


async def _all_tasks():
    return asyncio.all_tasks()


def test_a_worker_failing_unexpectedly_stops_the_whole_run(orch, practice, monkeypatch):
    from vessel_nb import runrows

    practice["claude"].set_fault("slow_first_token", delay=0.1)
    original = runrows.answered

    def broken(pair, reply, tries):
        if pair.prompt_id == "0":
            raise RuntimeError("a bug in a row")
        return original(pair, reply, tries)

    monkeypatch.setattr(runrows, "answered", broken)
    run = orch.map([f"q{i} hi" for i in range(200)], vessels=["claude"], per_vessel=4, progress=False)
    with pytest.raises(RuntimeError, match="a bug in a row"):
        run.wait(timeout=60)
    assert run.done() and run.status == "stopped"
    deadline = time.monotonic() + 5  # the other workers are cancelled, not left asking the 200 prompts
    while _workers_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _workers_alive() == 0
    assert len(run.df[run.df.outcome == "ok"]) < 50


def test_a_routed_run_is_not_resumed_from_answers_routed_elsewhere(orch, practice):
    prompts = ["q1 hi", "q2 hi"]
    first = orch.map(prompts, progress=False).wait(timeout=30)
    assert set(first.df.vessel) == {"ollama"}
    orch.active = "claude"  # %ask use claude: every call now goes to claude
    try:
        chosen = orch.map(prompts, progress=False).wait(timeout=30)
    finally:
        orch.active = None
    assert not chosen.df.resumed.any() and set(chosen.df.vessel) == {"claude"}
    orch.priority = ["claude", "ollama"]
    reordered = orch.map(prompts, progress=False).wait(timeout=30)
    assert reordered.run_id not in (first.run_id, chosen.run_id)
    assert orch.map(prompts, progress=False).wait(timeout=30).df.resumed.all()  # the same run again: resumed


@pytest.mark.parametrize(
    ("fault", "given_up"),
    [
        ({"kind": "status", "code": 401}, True),  # the key is refused: every prompt would be
        ({"kind": "hang_headers"}, True),  # times out: every prompt would cost the whole limit
        ({"kind": "down"}, True),
        ({"kind": "status", "code": 400}, False),  # this prompt is refused, maybe not the next
    ],
)
def test_a_vessel_that_is_down_is_asked_a_bounded_number_of_times(orch, practice, fault, given_up):
    kind = fault.pop("kind")
    practice["claude"].set_fault(kind, **fault)
    orch.timeouts = CALM.replace(first_token=0.3)
    run = orch.map([f"q{i} hi" for i in range(20)], vessels=["claude"], per_vessel=2, retries=2, progress=False)
    run.wait(timeout=60)
    df = run.df
    assert set(df.outcome) <= {"error", "refused"} and run.status == "done"
    if given_up:
        assert chat_requests(practice["anthropic"]) <= 3 * 2 or kind == "down"
        assert (df.error_kind == "gave_up").sum() >= 20 - 3 * 2
    else:
        assert chat_requests(practice["anthropic"]) == 20 and not (df.error_kind == "gave_up").any()

"""The per-vessel gate of a run: a concurrency limit, and one pause every call honours."""

from __future__ import annotations

import asyncio

import pytest

from vessel_nb import errors as E
from vessel_nb.pacing import Gate, retryable, wait_asked


def test_a_pause_holds_every_call_and_the_limit_holds():
    async def go():
        gate = Gate("claude", 2)
        loop = asyncio.get_running_loop()
        starts, most = [], 0

        async def call(i):
            nonlocal most
            async with gate.slot():
                starts.append(loop.time())
                most = max(most, gate.in_flight)
                if i == 0:
                    gate.slow_down(E.RateLimited("429", retry_after=0.3))
                await asyncio.sleep(0.01)

        begin = loop.time()
        await asyncio.gather(*(call(i) for i in range(6)))
        return begin, starts, most, gate

    begin, starts, most, gate = asyncio.run(go())
    assert most <= 2
    late = [s - begin for s in starts[2:]]  # every call after the 429 waited for the pause
    assert min(late) >= 0.29 and gate.rate_limited == 1 and gate.paused_total == pytest.approx(0.3, abs=0.02)


def test_backoff_doubles_without_a_retry_after_and_resets_on_an_answer():
    async def go():
        gate = Gate("x", 1)
        first = gate.slow_down(E.ServerError("503"))
        second = gate.slow_down(E.ServerError("503"))
        gate.went_well()
        third = gate.slow_down(E.ServerError("503"))
        return first, second, third

    assert asyncio.run(go()) == (1.0, 2.0, 1.0)


def test_what_waiting_can_cure():
    assert retryable(E.RateLimited("429")) and retryable(E.ServerError("529"))
    assert not retryable(E.BillingError("no credit")) and not retryable(E.AuthError("401"))
    assert wait_asked(E.RateLimited("429", retry_after=3)) == 3
    with pytest.raises(E.ConfigError, match="whole number of calls"):
        Gate("x", 0)


class _Vessel:
    local, model = False, "m"


class _Log:
    def run_rows(self, run_id):
        return []

    def __len__(self):
        return 0

    def newest(self, run_id, run_item, since=0):
        return None


class _FakeOrch:
    """Just what a Run uses: prompt "A" is rate limited three times (slowly), the others answer."""

    def __init__(self):
        self.vessels, self.priority, self.prices, self.log = {"x": _Vessel()}, ["x"], None, _Log()
        self.a_calls = 0

    def _core(self, messages, *, vessel, run_id, run_item, **options):
        from vessel_nb.types import Attempt, Chunk, Reply

        async def gen():
            if messages[-1]["content"] == "A" and self.a_calls < 3:
                self.a_calls += 1
                await asyncio.sleep(0.05)
                raise E.RateLimited("429", retry_after=0)
            await asyncio.sleep(0.005)
            att = Attempt(call_id=run_item, attempt=1, vessel="x", model="m")
            yield Chunk(done=True, reply=Reply("ok", "x", "m", call_id=run_item, attempts=[att]))

        return gen()


def test_an_unlucky_pair_waits_while_its_vessel_answers_others():
    from vessel_nb.runplan import pairs_of
    from vessel_nb.runs import Run

    orch = _FakeOrch()
    prompts = [("0", [{"role": "user", "content": "A"}])] + [
        (str(i), [{"role": "user", "content": f"B{i}"}]) for i in range(1, 80)
    ]
    run = Run(
        orch, pairs_of(prompts, ["x"]), "k", {"x": 2}, {}, concurrency=None, retries=1, budget_usd=None, show=None
    )
    run.wait(timeout=30)
    row = run.df.iloc[0]
    # three 429s in a row, more than retries=1, yet the vessel answered others meanwhile: not given up
    assert row.outcome == "ok" and row.retries == 3 and orch.a_calls == 3

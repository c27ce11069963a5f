"""A prompt set over vessels: ``run = orch.map(prompts, vessels)``, running in the background.

Every prompt × vessel slot is one pair (:mod:`.runplan`). Each slot has workers up to its
concurrency limit, and a :class:`~.pacing.Gate` that pauses the whole slot when the vessel
answers 429; the limited pair is asked again after the pause. Every attempt is logged
with the run's key (``run_id``) and the pair (``run_item``), so running the same run again
skips the pairs already answered, in this kernel or in one that was killed. A budget is
kept by reserving each call's estimated cost before it starts.

The run lives on vessel_nb's background loop; ``run.wait()`` waits from plain code (a
kernel interrupt stops the run and keeps what finished), ``await run`` from async code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import errors as E
from . import loop as bg
from . import pacing, pricing, progress, runrows
from .calls import collect
from .runplan import AUTO, Pair
from .runrows import COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from .orchestrator import AIOrchestrator

_FIRST_OUT_GUESS = 1024  # output tokens reserved before a vessel's first answer shows its size


class Run:
    """A prompt set running over vessels. Read ``df``, ``status``; call ``wait()`` / ``stop()``."""

    def __init__(
        self,
        orch: AIOrchestrator,
        pairs: list[Pair],
        run_id: str,
        limits: dict[str, int],
        options: dict[str, Any],
        *,
        concurrency: int | None,
        retries: int,
        budget_usd: float | None,
        show: str | None,
    ) -> None:
        self.orch = orch
        self.run_id = run_id
        """the run's key: same prompts, vessels, models and options give the same key"""
        self.pairs = pairs
        self.status = "starting"
        """starting | running | done | stopped | budget"""
        self.budget_usd = budget_usd
        self.spent_usd = 0.0
        """what this run's calls cost so far (this session's calls)"""
        self._options = options
        self._retries = retries
        self._rows: dict[str, dict[str, Any]] = {}  # in the order the pairs finished (live views read on)
        self._asking: set[str] = set()
        self._last_refusal: dict[str, str] = {}  # slot -> the error it gave up on
        self._gates = {slot: pacing.Gate(slot, n, give_up_after=retries) for slot, n in limits.items()}
        self._total_limit: asyncio.Semaphore | None = None  # made on the loop, in _main
        self._concurrency = concurrency
        self._reserved = 0.0
        self._out_seen: dict[str, int] = {}
        self._started = time.monotonic()
        self._ended: float | None = None
        self._resumed = 0
        self._show = show
        self._notebook = progress.NotebookProgress() if show == "notebook" else None
        self._task: asyncio.Task | None = None
        self._future: concurrent.futures.Future[None] = bg.submit(self._main())

    # --- the run on the loop ----------------------------------------------------------------
    async def _main(self) -> None:
        self._task = asyncio.current_task()
        self._total_limit = asyncio.Semaphore(self._concurrency) if self._concurrency else None
        queues: dict[str, deque[Pair]] = {slot: deque() for slot in self._gates}
        answered = await asyncio.to_thread(self._answered_before)
        for pair in self.pairs:
            if pair.item in answered:
                self._rows[pair.item] = answered[pair.item]
                self._resumed += 1
            else:
                queues[pair.slot].append(pair)
        self.status = "running"
        ticker = asyncio.create_task(self._tick()) if self._notebook else None
        try:
            # a TaskGroup, not gather: should one worker fail in an unexpected way, the others are
            # cancelled with it instead of asking on, unseen, after the run has ended
            async with asyncio.TaskGroup() as workers:
                for slot, queue in queues.items():
                    for _ in range(self._gates[slot].limit):
                        workers.create_task(self._worker(slot, queue))
            if self.status == "running":
                self.status = "done"
        except asyncio.CancelledError:
            self.status = "stopped" if self.status == "running" else self.status
            raise
        except BaseExceptionGroup as group:
            self.status = "stopped"
            raise group.exceptions[0] from None  # what went wrong, as itself
        finally:
            self._ended = time.monotonic()
            if ticker is not None:
                ticker.cancel()
            if self._notebook is not None:
                self._notebook.draw(self.snapshot(), final=True)

    def _answered_before(self) -> dict[str, dict[str, Any]]:
        """Pairs of this run the log holds answered (any session), as ``run.df`` rows."""
        found: dict[str, dict[str, Any]] = {}
        for row in self.orch.log.run_rows(self.run_id):
            if row["outcome"] == "ok" and row["run_item"] not in found:
                found[row["run_item"]] = runrows.resumed(row)
        return found

    async def _worker(self, slot: str, queue: deque[Pair]) -> None:
        while queue and self.status == "running":
            await self._ask(queue.popleft())

    async def _ask(self, pair: Pair) -> None:
        gate = self._gates[pair.slot]
        vessel = None if pair.slot == AUTO else pair.slot
        # A pair is asked again while its vessel is pacing the run: it gives up once the vessel
        # has slowed the run down ``retries`` rounds in a row without answering anything (see
        # pacing.Gate). A vessel that answers others, 429 to some, is waited for, however
        # unlucky one pair is; a vessel that only refuses is not — and is then asked no more.
        tries = 0
        while True:
            async with gate.slot():
                if self.status != "running":
                    return
                if gate.gave_up:
                    self._rows[pair.item] = runrows.not_asked(pair, gate, self._last_refusal.get(pair.slot, ""))
                    return
                reserve = self._reserve(pair)
                if reserve is None:
                    self.status = "budget"
                    return
                self._reserved += reserve
                seen_round = gate.rounds
                self._asking.add(pair.item)
                logged = len(self.orch.log)
                try:
                    gen = self.orch._core(
                        list(pair.messages), vessel=vessel, run_id=self.run_id, run_item=pair.item, **self._options
                    )
                    if self._total_limit is not None:
                        async with self._total_limit:
                            reply = await collect(gen)
                    else:
                        reply = await collect(gen)
                except (E.VesselError, E.AllVesselsFailed, E.StreamInterrupted) as err:
                    self._reserved -= reserve
                    self._spend_attempts(getattr(err, "attempts", []))
                    if pacing.retryable(err):
                        gate.slow_down(err, seen_round)
                        if not gate.gave_up:
                            tries += 1
                            continue
                    elif pacing.vessel_down(err):  # the next prompt would fail the same way
                        gate.failed(seen_round)
                    if gate.gave_up:
                        self._last_refusal[pair.slot] = str(err)
                    self._rows[pair.item] = runrows.failed(pair, err, tries)
                    return
                except asyncio.CancelledError:
                    self._stopped_while_asking(pair, logged, tries)
                    raise
                finally:
                    self._asking.discard(pair.item)
                self._reserved -= reserve
                gate.went_well()
                self._spend_attempts(reply.attempts)
                self._rows[pair.item] = runrows.answered(pair, reply, tries)
                return

    def _stopped_while_asking(self, pair: Pair, logged: int, tries: int) -> None:
        # The run is being stopped. A pair whose call had begun was sent: the log holds its
        # attempt as "cancelled", and run.df must say so too, not "not run". One stopped
        # before any attempt began (waiting for the run's concurrency) stays not run.
        attempt = self.orch.log.newest(self.run_id, pair.item, since=logged)
        if attempt is not None and attempt["outcome"] == "cancelled":
            self._rows[pair.item] = runrows.cancelled(pair, attempt, tries)

    # --- budget --------------------------------------------------------------------------------
    def _reserve(self, pair: Pair) -> float | None:
        """The cost to hold back for this call; None when it would not fit in the budget."""
        if self.budget_usd is None:
            return 0.0
        opts = self._options
        tokens_in = pricing.input_ceiling(pair.messages, opts.get("system"), len(opts.get("images") or ()))
        worst = 0.0
        for name in self._candidates(pair.slot):
            adapter = self.orch.vessels[name]
            if adapter.local:
                continue
            model = opts.get("model") or adapter.model
            out = opts.get("max_tokens") or adapter.max_tokens or self._out_seen.get(name, _FIRST_OUT_GUESS)
            worst = max(worst, self.orch.prices.estimate(model, tokens_in, out) or 0.0)
        if self.spent_usd + self._reserved + worst > self.budget_usd:
            return None
        return worst

    def _candidates(self, slot: str) -> list[str]:
        return list(self.orch.priority) if slot == AUTO else [slot]

    def _spend_attempts(self, attempts: Sequence[Any]) -> None:
        for att in attempts:
            self.spent_usd += att.cost_usd or 0.0
            if att.tokens_out:
                self._out_seen[att.vessel] = max(self._out_seen.get(att.vessel, 0), att.tokens_out)

    # --- progress ----------------------------------------------------------------------------------
    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(progress.MIN_INTERVAL)
            self._notebook.draw(self.snapshot())  # type: ignore[union-attr]

    def snapshot(self) -> progress.Snapshot:
        """The run's state now: done / failed / in flight per vessel slot, time, money."""
        slots = {slot: progress.SlotCounts() for slot in self._gates}
        for pair in self.pairs:
            slots[pair.slot].total += 1
        for item, row in list(self._rows.items()):
            counts = slots[item.rsplit("@", 1)[1]]
            if row["outcome"] == "ok":
                counts.done += 1
            elif row["outcome"] == "cancelled":
                counts.cancelled += 1
            else:
                counts.failed += 1
        try:
            for slot, gate in self._gates.items():
                slots[slot].in_flight = gate.in_flight
                slots[slot].paused_s = gate.paused_for() if bg.on_loop_thread() else 0.0
        except RuntimeError:
            pass
        end = self._ended or time.monotonic()
        return progress.Snapshot(
            self.run_id, self.status, end - self._started, slots, round(self.spent_usd, 6), self._resumed
        )

    def finished_since(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        """(pair, ``run.df`` row) of the pairs that finished after the first ``n``, in the order
        they finished (answers found in the log first): a live view reads on from where it was."""
        return list(itertools.islice(self._rows.items(), n, None))

    @property
    def asking(self) -> list[str]:
        """The pairs (``run_item`` names) being asked right now."""
        return list(self._asking)

    @property
    def pacing(self) -> dict[str, dict[str, Any]]:
        """Per vessel slot: its concurrency limit, how often it answered 429, and the seconds
        the run paused it for."""
        return {
            slot: {"limit": g.limit, "rate_limited": g.rate_limited, "paused_s": round(g.paused_total, 3)}
            for slot, g in self._gates.items()
        }

    # --- the caller's side -----------------------------------------------------------------------
    def done(self) -> bool:
        """The run has ended (every pair asked, stopped, or out of budget)."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> Run:
        """Wait for the run to end, drawing progress in a terminal; returns the run.

        A KeyboardInterrupt (a kernel interrupt) stops the run — every finished pair is
        kept, calls in flight are cancelled — and is raised again."""
        bg._refuse_reentry()
        terminal = progress.TerminalProgress() if self._show == "terminal" else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._future.done():
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"the run is still going after {timeout}s; run.stop() stops it")
                try:
                    self._future.result(timeout=progress.MIN_INTERVAL)
                except concurrent.futures.TimeoutError:
                    pass
                if terminal is not None:
                    terminal.draw(self.snapshot())
        except KeyboardInterrupt:
            self.stop()
            raise
        except concurrent.futures.CancelledError:
            pass
        finally:
            if terminal is not None:
                terminal.draw(self.snapshot(), final=True)
        return self

    async def wait_async(self) -> Run:
        """Async twin of :meth:`wait` (cancelling the awaiting task stops the run)."""
        try:
            await asyncio.shield(asyncio.wrap_future(self._future))
        except asyncio.CancelledError:
            if not self._future.done():
                self.stop()
                raise
        return self

    def __await__(self):
        return self.wait_async().__await__()

    def stop(self, timeout: float = 10.0) -> Run:
        """Stop the run: calls in flight are cancelled (and logged so), finished pairs kept."""

        def cancel() -> None:
            if self._task is not None and not self._task.done():
                self._task.cancel()
            elif self._task is None:
                self._future.cancel()

        bg.get_loop().call_soon_threadsafe(cancel)
        if not bg.on_loop_thread():
            concurrent.futures.wait([self._future], timeout=timeout)
        return self

    @property
    def df(self) -> pd.DataFrame:
        """One row per prompt × vessel, in prompt order; pairs not sent (yet) say so in ``outcome``:
        pending, not run (stopped), not run (budget); a pair stopped mid-call says cancelled."""
        import pandas as pd

        rows = []
        for pair in self.pairs:
            row = self._rows.get(pair.item)
            if row is None:
                state = {"running": "pending", "starting": "pending", "budget": "not run (budget)"}
                row = runrows.empty(pair, state.get(self.status, "not run (stopped)"))
            rows.append(row)
        return pd.DataFrame(rows, columns=COLUMNS)

    def __repr__(self) -> str:
        return f"<Run {progress.line(self.snapshot())}>"

    def _repr_html_(self) -> str:
        return progress.table_html(self.snapshot())

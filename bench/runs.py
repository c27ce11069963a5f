"""Prompt sets at scale (issue 13): ``orch.map`` over the four practice vessels with 429s
injected, against the ideal its limits allow.

``python -m bench.runs [--prompts N]`` (``make bench`` runs it as one section). Two of the
vessels answer a burst of 429s after every ``_EVERY_N`` requests (by count, not by the
clock: a slower run must not be handed more pauses, which would raise its own ideal).

The ideal wall time is the larger of two bounds:
- the vessels': for each, its calls (answers and 429s) times the median time of one call made
  alone, divided by its concurrency limit, plus the seconds its 429s asked the run to pause;
  the slowest vessel sets it;
- the event loop's: every call of every vessel runs on vessel_nb's one background loop
  thread, so the run takes at least the sum of their CPU there (each call's CPU measured
  alone, one call after another, before the run). Against practice servers that answer
  at once this bound is the larger one by far.
During the run the loop thread's time is split into on a CPU, waiting for a CPU (other
processes on the machine; Linux only) and idle (waiting on the servers or on pauses): that
split says where a wall time above the ideal went. The memory the run took and the pairs
it lost are reported too (must be 0: every pair answered exactly once in the log).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from vessel_nb import loop as bg

_RATE_LIMITED = ("claude", "gemini")  # the vessels that answer 429 now and then
_EVERY_N = 20  # requests to a rate-limited vessel between the starts of two bursts of 429s
_BURST = 2  # 429s per burst
_RETRY_AFTER = 0.2  # seconds each 429 asks for


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(conn: Any) -> None:
    """The practice fleet in its own process (so its threads do not share the client's GIL):
    send the addresses; between "go" and "stop", arm a burst of 429s on each rate-limited
    vessel every ``_EVERY_N`` requests it received (counted every 2 ms)."""
    from vessel_nb.practice import PracticeFleet

    with PracticeFleet(pace=0.0) as fleet:
        conn.send({name: fleet[name].base_url for name in fleet.names})
        assert conn.recv() == "go"
        next_burst = {name: len(fleet[name].requests) + _EVERY_N for name in _RATE_LIMITED}
        while not conn.poll(0.002):
            for name in _RATE_LIMITED:
                if len(fleet[name].requests) >= next_burst[name]:
                    fleet[name].set_fault("status", code=429, retry_after=_RETRY_AFTER, times=_BURST)
                    next_burst[name] += _EVERY_N
        conn.recv()


async def _loop_clock() -> tuple[float, float | None]:
    """On the loop thread: its CPU seconds so far, and (Linux) the seconds it spent ready to
    run but waiting for a CPU."""
    cpu = time.thread_time()
    try:
        with open("/proc/thread-self/schedstat") as f:
            waited: float | None = int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        waited = None
    return cpu, waited


async def _alone(orch: Any, vessel: str, n: int) -> tuple[float, float]:
    """On the loop thread, ``n`` calls one after another: one call's median time, and the
    loop's CPU per call (as a run's worker makes them: no hand-over to another thread)."""
    times = []
    cpu = time.thread_time()
    for i in range(n):
        times.append((await orch.aask(f"w{i} warm up", vessel=vessel)).latency_s)
    return statistics.median(times), (time.thread_time() - cpu) / n


def _orchestrator(urls: dict[str, str], log: Path) -> Any:
    from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
    from vessel_nb.practice.fleet import MODELS, practice_key

    vessels = {
        "ollama": OllamaAdapter(model=MODELS["ollama"], base_url=urls["ollama"]),
        "claude": ClaudeAdapter(MODELS["anthropic"], base_url=urls["anthropic"], api_key=practice_key("anthropic")),
        "openai": OpenAIAdapter(MODELS["openai"], base_url=urls["openai"], api_key=practice_key("openai")),
        "gemini": GeminiAdapter(MODELS["gemini"], base_url=urls["gemini"], api_key=practice_key("gemini")),
    }
    return AIOrchestrator(vessels, log_path=log)


def prompt_sets(prompts: int = 1000) -> dict[str, Any]:
    """Run ``prompts`` prompts × 4 practice vessels with 429 bursts; return the figures."""
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(theirs,), daemon=True)
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.sqlite3"
        orch = _orchestrator(mine.recv(), log)
        vessels = ["ollama", "claude", "openai", "gemini"]
        for v in vessels:  # connections open, code paths warm
            bg.run_sync(_alone(orch, v, 5))
        alone = {v: bg.run_sync(_alone(orch, v, 20)) for v in vessels}
        texts = [f"q{i} what is {i} squared?" for i in range(prompts)]
        gc.collect()
        rss_before = _rss_mb()
        mine.send("go")
        cpu0, waited0 = bg.run_sync(_loop_clock())
        started, started_epoch = time.perf_counter(), time.time()
        try:
            run = orch.map(texts, vessels=vessels, progress=False).wait()
        finally:
            wall = time.perf_counter() - started
            cpu1, waited1 = bg.run_sync(_loop_clock())
            mine.send("stop")
            server.join(timeout=10)
        rss_after = _rss_mb()
        orch.log.flush(timeout=30)
        conn = sqlite3.connect(log)
        per_vessel = {}
        for v in vessels:
            (calls,) = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE vessel = ? AND run_id = ? AND outcome != 'unhealthy'",
                [v, run.run_id],
            ).fetchone()
            ends = conn.execute(
                "SELECT started_at, latency_s FROM attempts WHERE vessel = ? AND run_id = ?", [v, run.run_id]
            ).fetchall()
            done_at = max(datetime.fromisoformat(t).timestamp() + (lat or 0) for t, lat in ends) - started_epoch
            pace = run.pacing[v]
            latency, cpu = alone[v]
            ideal = calls * latency / pace["limit"] + pace["paused_s"]
            per_vessel[v] = {"calls": calls, "limit": pace["limit"], "429s": pace["rate_limited"], "alone_s":
                             round(latency, 4), "cpu_ms": round(cpu * 1000, 2), "paused_s": pace["paused_s"],
                             "ideal_s": round(ideal, 2), "done_at_s": round(done_at, 2)}  # fmt: skip
        answered = dict(
            conn.execute(
                "SELECT run_item, COUNT(*) FROM attempts WHERE outcome = 'ok' AND run_id = ? GROUP BY run_item",
                [run.run_id],
            )
        )
        conn.close()
        orch.close()
    vessels_bound = max(v["ideal_s"] for v in per_vessel.values())
    loop_bound = sum(v["calls"] * v["cpu_ms"] / 1000 for v in per_vessel.values())
    ideal = max(vessels_bound, loop_bound)
    pairs = prompts * len(vessels)
    loop_cpu = cpu1 - cpu0
    waited = None if waited0 is None or waited1 is None else waited1 - waited0
    return {
        "pairs": pairs,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "vessels_bound_s": round(vessels_bound, 2),
        "loop_bound_s": round(loop_bound, 2),
        "loop": {
            "cpu_s": round(loop_cpu, 2),
            "waited_s": None if waited is None else round(waited, 2),
            "idle_s": None if waited is None else round(max(0.0, wall - loop_cpu - waited), 2),
        },
        "wall_over_ideal": round(wall / ideal, 2) if ideal else None,
        "pairs_per_s": round(pairs / wall, 1),
        "peak_rss_growth_mb": round(rss_after - rss_before, 1),
        "lost": pairs - len(answered),
        "answered_twice": sum(1 for n in answered.values() if n > 1),
        "failed_rows": int((run.df.outcome != "ok").sum()),
        "failures": {
            f"{v}: {k}": int(n)
            for (v, k), n in run.df[run.df.outcome != "ok"].groupby(["vessel", "error_kind"]).size().items()
        },
        "vessels": per_vessel,
    }


def markdown(sec: dict[str, Any]) -> str:
    """The section for the benchmark report."""
    if not sec or "error" in sec:
        return f"## Prompt sets (orch.map)\n\nnot measured: {sec.get('error') if sec else 'no figures'}\n"
    rows = "\n".join(
        f"| {name} | {v['limit']} | {v['calls']} | {v['429s']} | {v['alone_s']} | {v.get('cpu_ms', '—')} "
        f"| {v['paused_s']} | {v['ideal_s']} | {v.get('done_at_s', '—')} |"
        for name, v in sec["vessels"].items()
    )
    loop = sec.get("loop", {})
    where = f"the loop thread was on a CPU {loop.get('cpu_s')} s"
    if loop.get("waited_s") is not None:
        where += (
            f", waiting for a CPU {loop['waited_s']} s (other processes on the machine) and idle"
            f" {loop['idle_s']} s (waiting on the servers, or on pauses with no other vessel's work to do);"
            f" without the wait for a CPU the wall would have been {sec['wall_s'] - loop['waited_s']:.2f} s"
            f" (×{(sec['wall_s'] - loop['waited_s']) / sec['ideal_s']:.2f} the ideal)"
        )
    return (
        "## Prompt sets (orch.map)\n\n"
        f"{sec['pairs']} pairs (prompts × 4 practice vessels; {', '.join(_RATE_LIMITED)} answer {_BURST} 429s"
        f" asking for {_RETRY_AFTER} s after every {_EVERY_N} requests): "
        f"wall {sec['wall_s']} s against an ideal of {sec['ideal_s']} s (×{sec['wall_over_ideal']}), "
        f"{sec['pairs_per_s']} pairs/s, peak RSS growth {sec['peak_rss_growth_mb']} MB, "
        f"lost {sec['lost']}, answered twice {sec['answered_twice']}, failed {sec['failed_rows']}.\n\n"
        f"The ideal is the larger of the vessels' bound, {sec.get('vessels_bound_s')} s (the slowest vessel's"
        " calls × one call's time alone ÷ its limit + the seconds its 429s paused it), and the event"
        f" loop's, {sec.get('loop_bound_s')} s (every call's CPU on vessel_nb's one loop thread, measured"
        f" alone). During the run {where}.\n\n"
        "| vessel | limit | calls | 429s | one call alone s | loop CPU per call ms | paused s | vessel's bound s "
        "| its last call ended at s |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.runs", description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    args = parser.parse_args()
    sec = prompt_sets(args.prompts)
    print(json.dumps(sec, indent=2))
    print(markdown(sec))


if __name__ == "__main__":
    main()

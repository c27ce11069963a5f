"""Prompt sets at scale (issue 13): ``orch.map`` over the four practice vessels with 429s
injected, against the ideal its limits allow.

``python -m bench.runs [--prompts N]`` (``make bench`` runs it as one section). The ideal
wall time of a run is set by its slowest vessel: its calls (answers and 429s) times the
median time of one call made alone (measured first, 10 calls per vessel), divided by its
concurrency limit, plus the seconds the vessel's 429s asked the run to pause. The run
is measured against that (1.0 = no time lost to scheduling), with the memory it took and
the pairs it lost (must be 0: every pair answered exactly once in the log).
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
from pathlib import Path
from typing import Any

_RATE_LIMITED = ("claude", "gemini")  # the vessels that answer 429 now and then
_EVERY_S = 0.5  # how often a burst of 429s is armed
_BURST = 2  # 429s per burst
_RETRY_AFTER = 0.2  # seconds each 429 asks for (the practice Gemini sends whole seconds: "0s")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(conn: Any) -> None:
    """The practice fleet in its own process (so its threads do not share the client's GIL):
    send the addresses, arm 429 bursts between "go" and "stop"."""
    from vessel_nb.practice import PracticeFleet

    with PracticeFleet(pace=0.0) as fleet:
        conn.send({name: fleet[name].base_url for name in fleet.names})
        assert conn.recv() == "go"
        while not conn.poll(_EVERY_S):
            for name in _RATE_LIMITED:
                fleet[name].set_fault("status", code=429, retry_after=_RETRY_AFTER, times=_BURST)
        conn.recv()


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
        alone = {
            v: statistics.median(orch.ask(f"w{i} warm up", vessel=v).latency_s for i in range(10)) for v in vessels
        }
        texts = [f"q{i} what is {i} squared?" for i in range(prompts)]
        gc.collect()
        rss_before = _rss_mb()
        mine.send("go")
        started = time.perf_counter()
        try:
            run = orch.map(texts, vessels=vessels, progress=False).wait()
        finally:
            mine.send("stop")
            server.join(timeout=10)
        wall = time.perf_counter() - started
        rss_after = _rss_mb()
        orch.log.flush(timeout=30)
        conn = sqlite3.connect(log)
        per_vessel = {}
        for v in vessels:
            (calls,) = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE vessel = ? AND run_id = ? AND outcome != 'unhealthy'",
                [v, run.run_id],
            ).fetchone()
            pace = run.pacing[v]
            ideal = calls * alone[v] / pace["limit"] + pace["paused_s"]
            per_vessel[v] = {"calls": calls, "limit": pace["limit"], "429s": pace["rate_limited"], "alone_s":
                             round(alone[v], 4), "paused_s": pace["paused_s"], "ideal_s": round(ideal, 2)}  # fmt: skip
        answered = dict(
            conn.execute(
                "SELECT run_item, COUNT(*) FROM attempts WHERE outcome = 'ok' AND run_id = ? GROUP BY run_item",
                [run.run_id],
            )
        )
        conn.close()
        orch.close()
    ideal = max(v["ideal_s"] for v in per_vessel.values())
    pairs = prompts * len(vessels)
    return {
        "pairs": pairs,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
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
        f"| {name} | {v['limit']} | {v['calls']} | {v['429s']} | {v['alone_s']} | {v['paused_s']} | {v['ideal_s']} |"
        for name, v in sec["vessels"].items()
    )
    return (
        "## Prompt sets (orch.map)\n\n"
        f"{sec['pairs']} pairs (prompts × 4 practice vessels, 429 bursts on {', '.join(_RATE_LIMITED)}): "
        f"wall {sec['wall_s']} s against an ideal of {sec['ideal_s']} s (×{sec['wall_over_ideal']}), "
        f"{sec['pairs_per_s']} pairs/s, peak RSS growth {sec['peak_rss_growth_mb']} MB, "
        f"lost {sec['lost']}, answered twice {sec['answered_twice']}, failed {sec['failed_rows']}.\n\n"
        "| vessel | limit | calls | 429s | one call alone s | paused s | ideal s |\n|---|---|---|---|---|---|---|\n"
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

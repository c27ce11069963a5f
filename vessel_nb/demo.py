"""``python -m vessel_nb.demo`` — the fallback exercise in a terminal, on practice vessels.

Starts a practice Ollama and a practice Claude on 127.0.0.1 (real HTTP servers speaking
those protocols, with canned replies — no model runs), then: ask (answered locally), stop
the local vessel and ask again (the cloud answers), start it and ask (local again), and
prints the call log.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    """Run the exercise; exit status 0 when every step went as the lesson says."""
    from .practice import PracticeFleet

    with tempfile.TemporaryDirectory() as tmp, PracticeFleet(providers=("ollama", "anthropic"), pace=0.01) as fleet:
        orch = fleet.orchestrator(log_path=Path(tmp) / "calls.sqlite3")
        orch.priority = ["ollama", "claude"]
        _say("PRACTICE MODE: the vessels below are practice servers on 127.0.0.1 (canned replies, no real model).")
        for name, info in ((d["name"], d) for d in orch.describe()):
            _say(f"  {name:<7} {info['provider']:<7} {info['base_url']}  local={info['local']}")
        steps = [
            ("1. both vessels up", None),
            ("2. local vessel stopped", "stop"),
            ("3. local vessel started again", "start"),
        ]
        expected = ["ollama", "claude", "ollama"]
        got = []
        for title, action in steps:
            if action == "stop":
                fleet["ollama"].stop()
            elif action == "start":
                fleet["ollama"].start()
            _say(f"\n{title}:")
            reply = orch.ask("Why is the sky blue? One sentence.")
            got.append(reply.vessel)
            trail = " → ".join([*reply.fallback_chain, reply.vessel])
            _say(f"  answered by {reply.vessel} ({trail}); first token {reply.ttft_s * 1000:.0f} ms")
            _say(f"  {reply.text[:100]}…")
        df = orch.log.df
        _say("\nCall log (orch.log.df):")
        _say(
            df[["call_id", "attempt", "vessel", "outcome", "error", "fallback_from", "ttft_s", "latency_s"]].to_string(
                index=False
            )
        )
        orch.close()
        ok = got == expected
        _say("\n" + ("The exercise behaved as the lesson says." if ok else f"Unexpected vessels: {got}"))
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

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
from typing import Any


def _say(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _ask(orch: Any, prompt: str) -> Any:
    """Stream one answer to the terminal as it arrives; returns the Reply."""
    from .magic.render import short_detail

    reply = None
    _say("  ", end="")
    with orch.stream_sync(prompt) as chunks:
        for chunk in chunks:
            if chunk.event == "fallback":
                then = "another host of the pool" if chunk.host else "the next vessel"
                _say(f"[{chunk.vessel}: {short_detail(chunk.vessel, chunk.detail)} → trying {then}]\n  ", end="")
            elif chunk.done:
                reply = chunk.reply
            elif chunk.content:
                _say(chunk.content, end="")
    _say()
    return reply


def _summary(reply: Any) -> str:
    """'answered by claude after ollama failed (connection refused) · first token 0.05 s · total 0.31 s'."""
    from .magic.render import short_error

    failed = [a for a in reply.attempts if a.outcome != "ok"]
    after = "; ".join(f"{a.vessel} failed ({short_error(a)})" for a in failed)
    how = f"answered by {reply.vessel}" + (f" after {after}" if after else "")
    return f"{how} · first token {reply.ttft_s:.2f} s · total {reply.latency_s:.2f} s"


def main() -> int:
    """Run the exercise; exit status 0 when every step went as the lesson says."""
    from .magic.logview import readable
    from .practice import PracticeFleet

    with tempfile.TemporaryDirectory() as tmp, PracticeFleet(providers=("ollama", "anthropic"), pace=0.02) as fleet:
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
            reply = _ask(orch, "Why is the sky blue? One sentence.")
            got.append(reply.vessel)
            _say(f"  — {_summary(reply)}")
        _say("\nCall log (%ask log; every column in orch.log.df):")
        _say(readable(orch.log.df).drop(columns=["prompt"]).to_string(index=False))
        orch.close()
        ok = got == expected
        _say("\n" + ("The exercise behaved as the lesson says." if ok else f"Unexpected vessels: {got}"))
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bench [--quick]``: the comparison of issue 11, printed as Markdown and saved
to ``bench/results/RESULTS.md`` (with the raw figures in ``bench/results/latest.json``).

``--quick`` runs fewer rounds (about a minute on a quiet machine); the default takes a few
minutes. ``--parse`` adds the in-memory parser throughput of every adapter (no sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from . import compare, report


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--parse", action="store_true", help="also the in-memory parser throughput")
    parser.add_argument("--conditions", default="", help="a note on the machine's state, for the report")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for the results")
    args = parser.parse_args()
    q = args.quick
    rep: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "python -m bench" + (" --quick" if q else ""),
        "machine": report.machine(),
        "load_start": _load(),
        "conditions": args.conditions,
    }

    def step(name: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {name}…", flush=True)

    with compare.server() as srv:
        base, hang = srv["base"], srv["hang"]
        step("short answers")
        rep["short"] = asyncio.run(compare.answers(base, 20, 10 if q else 30))
        step("long answers")
        rep["long"] = asyncio.run(compare.answers(base, 20000, 1 if q else 3, slow_n=2000))
        step("failover")
        rep["failover"] = asyncio.run(compare.failover(base, hang, 1 if q else 3))
        step("recovery")
        rep["recovery"] = asyncio.run(compare.recovery(base))
        step("concurrency")
        rep["concurrency"] = asyncio.run(compare.concurrency(base, [100, 500, 2000], 1 if q else 3))
        step("memory")
        rep["memory"] = compare.memory(base)
    step("imports")
    rep["imports"] = compare.imports(3 if q else 7)
    if args.parse:
        from . import core

        rep["parse"] = {name: {"MB_per_s": mbs, "tokens_per_s": tps} for name, mbs, tps in core.parse_throughput()}
    rep["load_end"] = _load()
    text = report.markdown(rep)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS.md").write_text(text)
    (out / "latest.json").write_text(json.dumps(rep, indent=2, default=str))


if __name__ == "__main__":
    main()

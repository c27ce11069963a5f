"""``python -m bench [--quick]``: the comparison of issue 11, printed as Markdown and saved
to ``bench/results/RESULTS.md`` (with the raw figures in ``bench/results/latest.json``).

``--quick`` runs fewer rounds (about a minute on a quiet machine); the default takes a few
minutes. ``--only long,runs`` runs just those sections (names below), printed and saved as
``partial.md`` / ``partial.json`` beside the results, so the full table is not replaced by a
part of it. ``--parse`` adds the in-memory parser throughput of every adapter (no sockets);
``--parse-only`` prints just that, in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import compare, panels, report
from . import runs as prompt_runs

# LiteLLM fetches a price list from GitHub at import unless told to use its bundled copy;
# nothing in the benchmark may leave this machine. Set before any peer (or child) imports it.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

#: short-answer rounds: the ttft target is a difference of tenths of a millisecond, and with
#: 30 rounds its median moved by about that much between runs (+0.46 ms in a full run, +0.00 ms
#: in a 400-round A/B minutes later); each round of every contender takes about 0.1 s
SHORT_ROUNDS = 200


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def sections(q: bool) -> dict[str, tuple[str, str, Callable[[str, str], Any]]]:
    """Every section by its ``--only`` name: (key in the report, title, how to run it)."""
    return {
        "short": ("short", "short answers", lambda b, h: asyncio.run(compare.answers(b, 20, 10 if q else SHORT_ROUNDS))),
        "long": ("long", "long answers", lambda b, h: asyncio.run(compare.long_answers(b, q))),
        "failover": ("failover", "failover", lambda b, h: asyncio.run(compare.failover(b, h, 1 if q else 3))),
        "recovery": ("recovery", "recovery", lambda b, h: asyncio.run(compare.recovery(b))),
        "concurrency": (
            "concurrency",
            "concurrency",
            lambda b, h: asyncio.run(compare.concurrency(b, [100, 500, 2000], 1 if q else 3)),
        ),
        "memory": ("memory", "memory", lambda b, h: compare.memory(b)),
        "import": ("imports", "imports", lambda b, h: compare.imports(3 if q else 7)),
        "panels": ("panel_render", "panel rendering", lambda b, h: panels.render_cost()),
        "table": ("run_table", "prompt-set table", lambda b, h: panels.table_cost(250 if q else 1000)),
        "runs": ("runs", "prompt sets (orch.map)", lambda b, h: prompt_runs.prompt_sets(250 if q else 1000)),
    }


SECTIONS = list(sections(False))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--parse", action="store_true", help="also the in-memory parser throughput")
    parser.add_argument("--parse-only", action="store_true", help="only the in-memory parser throughput")
    parser.add_argument(
        "--only",
        default="",
        metavar="SECTION[,SECTION]",
        help="run only these sections: " + ", ".join(SECTIONS),
    )
    parser.add_argument("--conditions", default="", help="a note on the machine's state, for the report")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="folder for the results")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(map(repr, unknown))}; the sections: {', '.join(SECTIONS)}")
    if args.parse_only:
        from . import core

        print(core.markdown(core.parse_throughput()))
        return
    q = args.quick
    rep: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "python -m bench" + (" --quick" if q else "") + (f" --only {','.join(only)}" if only else ""),
        "machine": report.machine(),
        "load_start": _load(),
        "conditions": args.conditions,
    }

    chosen = [(key, name, run) for cli, (key, name, run) in sections(q).items() if not only or cli in only]
    with compare.server() as srv:
        for key, name, run in chosen:
            print(f"[{time.strftime('%H:%M:%S')}] {name}…", flush=True)
            try:
                rep[key] = run(srv["base"], srv["hang"])
            except Exception as exc:  # noqa: BLE001 — one broken section must not lose the others
                traceback.print_exc()
                rep[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    parse_table = ""
    if args.parse:
        from . import core

        rows = core.parse_throughput()
        rep["parse"] = {
            name: {"MB_per_s": mbs, "tokens_per_s": tps, "vs_json_loads": ratio} for name, mbs, tps, ratio in rows
        }
        parse_table = "\n## Parser throughput (in memory, no sockets)\n\n" + core.markdown(rows) + "\n"
    rep["load_end"] = _load()
    text = report.markdown(rep) + "\n" + prompt_runs.markdown(rep.get("runs", {})) + parse_table
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = ("partial.md", "partial.json") if only else ("RESULTS.md", "latest.json")
    (out / stem[0]).write_text(text)
    (out / stem[1]).write_text(json.dumps(rep, indent=2, default=str))


if __name__ == "__main__":
    main()

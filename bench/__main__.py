"""``python -m bench``: run the benchmarks and print a report (also saved under bench/results/)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from . import core, panels


def main() -> None:
    from vessel_nb.practice import PracticeFleet

    report: dict = {
        "machine": f"{platform.machine()} {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    print("Stream parsing through the adapter stack (20,000 tokens, MockTransport):")
    report["parse"] = {}
    for name, mbs, tps in core.parse_throughput():
        print(f"  {name:<7} {mbs:6.1f} MB/s  {tps:9,.0f} tokens/s")
        report["parse"][name] = {"MB_per_s": round(mbs, 1), "tokens_per_s": round(tps)}
    with PracticeFleet(pace=0.0) as fleet:
        report["overhead"] = core.call_overhead(fleet)
        print(
            f"One ask() on the practice Ollama: {report['overhead']['ask_ms']:.2f} ms median "
            f"(bare httpx stream of the same: {report['overhead']['bare_httpx_ms']:.2f} ms)"
        )
        report["down"] = core.down_vessel_cost(fleet)
        d = report["down"]
        print(
            f"A stopped local Ollama costs each call {d['down_attempt_median_ms']:.2f} ms median "
            f"({d['down_attempt_max_ms']:.2f} ms max) before falling back"
        )
        print(
            f"First call after restarting it served locally: {bool(d['first_call_after_restart_local'])} "
            f"({d['first_call_after_restart_ms']:.1f} ms)"
        )
        report["memory"] = m = core.memory(fleet)
        print(
            f"Peak allocation while a 20,000-token answer ({m['answer_chars']:,} chars) streams through ask(): "
            f"{m['peak_alloc_20k_tokens_mb']:.1f} MB; max RSS growth over 300 calls: "
            f"{m['max_rss_growth_kb_per_call']:.2f} KB per call"
        )
    report["panel_render"] = r = panels.render_cost()
    print("Panels: rendering a streaming answer, every flush (worst case), per 6-char chunk:")
    for size, v in r.items():
        print(f"  {int(size):>6,} chars: {v['us_per_chunk']:7.1f} µs, {v['html_bytes_per_chunk']:5} bytes of HTML")
    report["import"] = core.import_cost()
    print(f"import vessel_nb: {report['import']['import_vessel_nb_ms']:.0f} ms (pandas, widgets, tornado not imported)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

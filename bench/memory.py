"""``python -m bench.memory WHO BASE CALLS``: peak RSS of one fresh process making CALLS
concurrent 20-token streamed calls (WHO: baseline = imports only, raw, vessel_nb).
Prints JSON with megabytes after imports and at the peak (VmHWM)."""

from __future__ import annotations

import asyncio
import json
import resource
import sys


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork/exec,
    # so a child of the (large) benchmark process would report the parent's peak
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024 / 1e6


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


async def _run(who: str, base: str, calls: int) -> None:
    from . import peers

    if who == "raw":
        peer = peers.Raw(base, "ollama")
    else:
        peer = peers.VesselStream(peers.orchestrator(base), "ollama")
    await asyncio.gather(*(peer.call(20) for _ in range(calls)))
    await peer.close()


def main() -> None:
    who, base, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import httpx  # noqa: F401 — every contender needs it

    if who != "raw":
        import vessel_nb  # noqa: F401
    after_import = _rss_mb()
    if who != "baseline":
        asyncio.run(_run(who, base, calls))
    peak = _peak_mb()
    print(json.dumps({"after_import_mb": round(after_import, 1), "peak_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()

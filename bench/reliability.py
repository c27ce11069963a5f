"""``python -m bench.reliability``: the figures of the reliability suite — rows lost when the
log file fails or a process is killed, every time limit measured, many calls at once — printed
and written to bench/results/reliability-log.md.

The scenarios are those of tests/reliability (whose helpers this imports); the tests assert
the bounds, this records what was measured on the machine at hand.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "reliability-log.md"


def _count(path: Path) -> int:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    finally:
        conn.close()


def _attempt(i: int):
    from vessel_nb.types import Attempt

    return Attempt(call_id=f"c{i}", attempt=1, vessel="v", model="m", started_at="t", response="x" * 200)


def log_failures(tmp: Path) -> list[tuple[str, int, int, int, float]]:
    """(failure, rows appended, rows on disk after recovery, rows lost, slowest append ms)."""
    import shutil

    from vessel_nb import calllog

    out = []
    real_connect = calllog._connect
    mode = {"kind": None}

    def connect(path):
        if mode["kind"] == "read-only file":
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        conn = real_connect(path)
        if mode["kind"] == "disk full":
            conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
        return conn

    calllog._connect = connect
    calllog.BUSY_SECONDS = 0.2
    try:
        for kind in ("locked by another program", "disk full", "read-only file", "folder removed"):
            folder = tmp / kind.replace(" ", "-")
            path = folder / "calls.sqlite3"
            log = calllog.CallLog(path)
            log.close()
            holder = None
            if kind.startswith("locked"):
                holder = sqlite3.connect(path, isolation_level=None)
                holder.execute("BEGIN EXCLUSIVE")
            elif kind == "folder removed":
                shutil.rmtree(folder)
                folder.write_text("a file where the folder was")
            else:
                mode["kind"] = kind
            slowest = 0.0
            for i in range(200):
                start = time.perf_counter()
                log.append(_attempt(i))
                slowest = max(slowest, time.perf_counter() - start)
            deadline = time.monotonic() + 10
            while log.problem is None and time.monotonic() < deadline:
                time.sleep(0.01)
            mode["kind"] = None  # the file works again
            if holder is not None:
                holder.execute("ROLLBACK")
                holder.close()
            if kind == "folder removed":
                folder.unlink()
            log.flush(timeout=30)
            on_disk = _count(path)
            out.append((kind, len(log), on_disk, len(log) - on_disk, slowest * 1000))
            log.close()
    finally:
        calllog._connect = real_connect
    return out


def processes(tmp: Path) -> dict:
    """Two processes x 1,000 rows into one file, and SIGKILL while rows are being written."""
    path = tmp / "shared.sqlite3"
    writer = textwrap.dedent(
        f"""
        import sys
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        for i in range(1000):
            log.append(Attempt(call_id=sys.argv[1] + str(i), attempt=1, vessel="v", model="m", started_at="t"))
        """
    )
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", writer, tag]) for tag in "ab"]
    codes = [p.wait(timeout=120) for p in procs]
    two = {"rows": _count(path), "expected": 2000, "exit": codes, "s": time.perf_counter() - start}

    path = tmp / "killed.sqlite3"
    killed = textwrap.dedent(
        f"""
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        i = 0
        while True:
            for _ in range(50):
                log.append(Attempt(call_id=f"c{{i}}", attempt=1, vessel="v", model="m", started_at="t"))
                i += 1
            log.flush()
            print(i, flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", killed], stdout=subprocess.PIPE, text=True)
    confirmed = 0
    while confirmed < 2000:
        confirmed = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    conn = sqlite3.connect(path)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return {"two": two, "kill": {"confirmed": confirmed, "on_disk": _count(path), "integrity": integrity}}


def time_limits() -> list[tuple[str, float, float]]:
    """(case, limit s, measured s)."""
    import httpx

    from tests.reliability import test_time_limits as tl
    from vessel_nb import OpenAIAdapter, Timeouts

    def keepalives(every):
        transport = httpx.MockTransport(lambda r: httpx.Response(200, stream=tl.Drip(b": keep-alive\n\n", every)))
        return OpenAIAdapter("m", base_url="http://127.0.0.1:9/v1", transport=transport)

    cases = [
        ("first token: headers never come", lambda: tl.ollama(handler=_hang), Timeouts(1, 0.5, 30, 60), 0.5),
        ("first token: keep-alives drip in every 20 ms", lambda: keepalives(0.02), Timeouts(1, 0.5, 30, 60), 0.5),
        ("first token: keep-alives never yield to the loop", lambda: keepalives(None), Timeouts(1, 0.5, 30, 60), 0.5),
        (
            "idle: stream stalls after 3 tokens",
            lambda: tl.ollama(tl.Drip(tl.token_line, 0.01, stall_after=3)),
            Timeouts(1, 5, 0.5, 60),
            0.5,
        ),
        (
            "total: a token every 100 ms, forever",
            lambda: tl.ollama(tl.Drip(tl.token_line, 0.1)),
            Timeouts(1, 5, 0.3, 1.0),
            1.0,
        ),
        (
            "total: tokens that never yield to the loop",
            lambda: tl.ollama(tl.Drip(tl.token_line, None)),
            Timeouts(1, 5, 5, 0.5),
            0.5,
        ),
    ]
    out = [("connect: server backlog full", 0.4, _connect_case())]
    for name, make, t, limit in cases:
        took, _, _ = tl.measure(make(), t)
        out.append((name, limit, took))
    return out


async def _hang(request):
    await asyncio.Event().wait()


def _connect_case() -> float:
    from tests.reliability.test_time_limits import full_backlog, measure
    from vessel_nb import OllamaAdapter, Timeouts

    with full_backlog() as port:
        took, _, _ = measure(OllamaAdapter("m", base_url=f"http://127.0.0.1:{port}"), Timeouts(0.4, 30, 30, 60))
    return took


def many_calls(tmp: Path) -> dict:
    """500 mixed calls with the local vessel flapping, and queueing for the pool."""
    from vessel_nb import Timeouts
    from vessel_nb.practice import PracticeFleet

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    with PracticeFleet(pace=0.0) as fleet:
        warm = fleet.orchestrator(log_path=False)
        warm.ask("warm up")
        warm.close()
        threads0, fds0 = threading.active_count(), len(os.listdir("/proc/self/fd"))
        orch = fleet.orchestrator(log_path=tmp / "many.sqlite3", timeouts=Timeouts(5, 30, 30, 120))
        ollama = fleet["ollama"]
        kinds = ["private", "routed", "explicit", "vision", "thinking"]
        args = {
            "private": {"task": {"private": True}},
            "routed": {},
            "explicit": {"vessel": "openai"},
            "vision": {"images": [png]},
            "thinking": {"task": {"needs_thinking": True}},
        }

        async def run():
            stop = asyncio.Event()

            async def flap():
                while not stop.is_set():
                    await asyncio.to_thread(ollama.set_fault, "down")
                    await asyncio.sleep(0.05)
                    await asyncio.to_thread(ollama.clear_fault)
                    await asyncio.sleep(0.05)

            flapper = asyncio.create_task(flap())

            async def one(i):
                await asyncio.sleep(i * 0.003)  # arrivals spread over 1.5 s: calls meet the vessel up and down
                return await orch.aask(f"caller-{i}- {kinds[i % 5]}", **args[kinds[i % 5]])

            jobs = [one(i) for i in range(500)]
            try:
                return await asyncio.gather(*jobs, return_exceptions=True)
            finally:
                stop.set()
                await flapper
                for adapter in orch.vessels.values():
                    await adapter.aclose()

        start = time.perf_counter()
        results = asyncio.run(run())
        took = time.perf_counter() - start
        ollama.clear_fault()
        wrong = sum(
            1 for i, r in enumerate(results) if not isinstance(r, BaseException) and f"caller-{i}-" not in r.text
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        attempts = sum(len(getattr(r, "attempts", None) or []) for r in results)
        orch.log.flush(timeout=30)
        rows = _count(tmp / "many.sqlite3")
        orch.close()
        deadline = time.monotonic() + 15
        while threading.active_count() > threads0 and time.monotonic() < deadline:
            time.sleep(0.05)
        fds = len(os.listdir("/proc/self/fd"))
        return {
            "s": took,
            "answered": 500 - len(failed),
            "failed": {type(r).__name__: sum(type(x) is type(r) for x in failed) for r in failed},
            "why": sorted({f"{type(r).__name__}: {str(r).splitlines()[-1].strip()[:120]}" for r in failed})[:6],
            "wrong_caller": wrong,
            "attempts": attempts,
            "rows": rows,
            "threads_left": threading.active_count() - threads0,
            "fds_left": fds - fds0,
        }


def main() -> None:
    lines = [
        "# Reliability figures",
        "",
        f"Measured by `python -m bench.reliability` on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        "Practice servers and in-memory transports only; no real provider was called.",
        "",
    ]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lines += [
            "## The call log when its file fails (200 rows appended during the failure)",
            "",
            "| failure | rows in memory | rows on disk after recovery | rows lost | slowest append |",
            "|---|---|---|---|---|",
        ]
        for kind, mem, disk, lost, ms in log_failures(tmp):
            lines.append(f"| {kind} | {mem} | {disk} | {lost} | {ms:.2f} ms |")
        p = processes(tmp)
        two, kill = p["two"], p["kill"]
        lines += [
            "",
            "## Processes",
            "",
            f"- two processes x 1,000 rows into one file: {two['rows']} of {two['expected']} rows on disk "
            f"({two['expected'] - two['rows']} lost), exit codes {two['exit']}, {two['s']:.1f} s",
            f"- SIGKILL while writing: {kill['confirmed']} rows confirmed flushed before the kill, "
            f"{kill['on_disk']} on disk after it ({max(0, kill['confirmed'] - kill['on_disk'])} lost); "
            f"integrity_check: {kill['integrity']}",
        ]
        lines += [
            "",
            "## Time limits (how late each fired)",
            "",
            "| case | limit | fired after | late by |",
            "|---|---|---|---|",
        ]
        for name, limit, took in time_limits():
            lines.append(f"| {name} | {limit:g} s | {took:.3f} s | {took - limit:+.3f} s |")
        m = many_calls(tmp)
        lines += [
            "",
            "## 500 mixed calls at once (private, routed, explicit, vision, thinking), Ollama flapping",
            "",
            f"- {m['answered']} answered, failed: {m['failed'] or 'none'} (a private call may fail while "
            "its one local vessel is down or cooling down; it is never sent elsewhere)",
            *[f"  - e.g. {why}" for why in m["why"]],
            f"- answers given to the wrong caller: {m['wrong_caller']}",
            f"- attempts {m['attempts']}, rows in the file {m['rows']}",
            f"- threads left after close: {m['threads_left']}, file descriptors left: {m['fds_left']}",
            f"- wall time {m['s']:.1f} s",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()

"""The call log across processes: a kernel killed with SIGKILL mid-stream keeps every row
already written and leaves a file that opens clean; two processes writing 1,000 rows each
into one file lose none."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from vessel_nb.calllog import CallLog
from vessel_nb.types import Attempt


def count(path) -> int:
    try:
        conn = sqlite3.connect(path, timeout=10)
        try:
            return conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def poll(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
    return value


def opens_clean(path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    log = CallLog(path)  # and a new kernel can go on writing to it
    log.append(Attempt(call_id="after", attempt=1, vessel="v", model="m", started_at="t"))
    assert log.flush()
    log.close()


def test_sigkill_mid_stream_keeps_the_rows_and_the_file_opens_clean(practice, tmp_path):
    path = tmp_path / "calls.sqlite3"
    ollama = practice["ollama"]
    model = practice.adapters()["ollama"].model
    script = textwrap.dedent(
        f"""
        import sys
        from vessel_nb import AIOrchestrator, OllamaAdapter, Timeouts
        orch = AIOrchestrator({{"ollama": OllamaAdapter({model!r}, base_url={ollama.base_url!r})}},
                              log_path={str(path)!r}, timeouts=Timeouts(connect=5, first_token=60, idle=600, total=900))
        for i in range(5):
            orch.ask(f"call {{i}}")
        print("asked", flush=True)
        sys.stdin.readline()  # the parent makes the next reply hang mid-stream
        with orch.stream_sync("the last call") as chunks:
            for chunk in chunks:
                print("streaming", flush=True)
                sys.stdin.readline()  # killed while waiting here, mid-stream
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "asked\n"
        ollama.set_fault("hang_mid_stream", after=2)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "streaming\n"
        poll(lambda: count(path) == 5)  # the five answered calls reached the file
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()
        ollama.clear_fault()
    assert count(path) == 5  # nothing lost, no half row of the killed call
    opens_clean(path)


def test_sigkill_while_rows_are_being_written_leaves_a_clean_file(tmp_path):
    path = tmp_path / "calls.sqlite3"
    script = textwrap.dedent(
        f"""
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        i = 0
        while True:
            for _ in range(50):
                log.append(Attempt(call_id=f"c{{i}}", attempt=1, vessel="v", model="m", started_at="t", response="x" * 500))
                i += 1
            log.flush()
            print(i, flush=True)  # i rows are on disk now
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        confirmed = 0
        while confirmed < 2000:
            confirmed = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)  # while it appends and writes the next batches
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    assert count(path) >= confirmed
    opens_clean(path)


def test_two_processes_write_1000_rows_each_into_one_file(tmp_path):
    path = tmp_path / "shared.sqlite3"
    script = textwrap.dedent(
        f"""
        import sys
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        sys.stdin.readline()
        for i in range(1000):
            log.append(Attempt(call_id=sys.argv[1] + str(i), attempt=1, vessel="v", model="m", started_at="t"))
        log.close()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, tag], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    for p in procs:  # release both together so their writes interleave
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(timeout=120) == 0
        p.stdin.close()
        p.stdout.close()
    df = CallLog(path).load_all()
    assert len(df) == 2000 and df["call_id"].nunique() == 2000 and df["session_id"].nunique() == 2

"""The call log never costs an answer: a failing file neither raises into a call nor stalls
the event loop; rows wait in memory, the user is told once, and disk catches up.

Running as root (as CI containers do), chmod cannot make a file read-only and no test can
fill a real disk, so those two failures are produced inside SQLite: ``max_page_count``
gives the same SQLITE_FULL a full disk gives, and a ``mode=ro`` connection the same
SQLITE_READONLY a read-only file gives. Locks and removed folders are real.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from vessel_nb import AIOrchestrator, OllamaAdapter
from vessel_nb import calllog as calllog_mod
from vessel_nb.calllog import CallLog
from vessel_nb.types import Attempt


def attempt(i: int, text: str = "answer") -> Attempt:
    return Attempt(
        call_id=f"c{i}", attempt=1, vessel="v", model="m", started_at="2026-11-30T10:00:00.000Z", response=text
    )


def disk_ids(path) -> list[str]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        return sorted(r[0] for r in conn.execute("SELECT call_id FROM attempts"))
    finally:
        conn.close()


def memory_ids(log: CallLog) -> list[str]:
    return sorted(r["call_id"] for r in log.rows)


def poll(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
    return value


def warnings_about(caplog, path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and str(path) in r.getMessage()]


@pytest.fixture
def short_busy(monkeypatch):
    monkeypatch.setattr(calllog_mod, "BUSY_SECONDS", 0.1)


def test_a_locked_file_keeps_rows_tells_once_and_catches_up(tmp_path, caplog, short_busy):
    path = tmp_path / "calls.sqlite3"
    log = CallLog(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    for i in range(3):
        log.append(attempt(i))  # returns although the lock is held: nothing waits for the file
    poll(lambda: log.problem)
    for i in range(3, 6):
        log.append(attempt(i))
    assert len(log) == 6 and log.unwritten == 6
    told = poll(lambda: warnings_about(caplog, path))
    assert len(told) == 1 and "locked" in told[0] and "Fix:" in told[0] and "log_path=" in told[0]
    assert "not written yet" in repr(log)
    holder.execute("ROLLBACK")
    holder.close()
    assert log.flush(timeout=10)
    assert disk_ids(path) == memory_ids(log) == [f"c{i}" for i in range(6)]
    assert log.problem is None and len(warnings_about(caplog, path)) == 1
    log.close()


def test_a_full_disk_keeps_rows_and_writes_them_when_space_returns(tmp_path, monkeypatch, caplog):
    real_connect = calllog_mod._connect
    full = {"on": False}

    def connect(path):
        conn = real_connect(path)
        if full["on"]:  # no room for one more page, as on a full disk
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={pages}")
        return conn

    monkeypatch.setattr(calllog_mod, "_connect", connect)
    path = tmp_path / "calls.sqlite3"
    log = CallLog(path)
    log.append(attempt(0))
    assert log.flush()
    log.close()  # the next write opens the file again, now "full"
    full["on"] = True
    for i in range(1, 20):
        log.append(attempt(i, "x" * 5000))
    poll(lambda: log.problem)
    told = poll(lambda: warnings_about(caplog, path))
    assert "full" in told[0] and "free some disk space" in told[0]
    assert log.unwritten > 0 and len(log) == 20
    full["on"] = False  # space is back
    assert log.flush(timeout=20)
    assert disk_ids(path) == memory_ids(log) and len(memory_ids(log)) == 20
    assert len(warnings_about(caplog, path)) == 1
    log.close()


def test_a_read_only_file_keeps_rows_and_writes_them_when_writable(tmp_path, monkeypatch, caplog):
    real_connect = calllog_mod._connect
    readonly = {"on": False}

    def connect(path):
        if readonly["on"]:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        return real_connect(path)

    monkeypatch.setattr(calllog_mod, "_connect", connect)
    path = tmp_path / "calls.sqlite3"
    log = CallLog(path)
    log.close()
    readonly["on"] = True
    log.append(attempt(1))
    log.append(attempt(2))
    told = poll(lambda: warnings_about(caplog, path))
    assert "readonly" in told[0] and f"make {path} writable" in told[0]
    assert disk_ids(path) == []
    readonly["on"] = False
    assert log.flush(timeout=20)
    assert disk_ids(path) == memory_ids(log) == ["c1", "c2"]
    log.close()


def test_a_removed_folder_is_made_again_and_this_sessions_rows_rewritten(tmp_path, caplog):
    folder = tmp_path / "logs"
    path = folder / "calls.sqlite3"
    log = CallLog(path)
    log.append(attempt(1))
    log.append(attempt(2))
    assert log.flush()
    shutil.rmtree(folder)  # the open file is unlinked: rows written to it now would vanish
    log.append(attempt(3))
    assert log.flush()
    assert disk_ids(path) == memory_ids(log) == ["c1", "c2", "c3"]
    log.close()


def test_a_folder_that_cannot_be_made_again_waits_until_it_can(tmp_path, caplog):
    folder = tmp_path / "logs"
    path = folder / "calls.sqlite3"
    log = CallLog(path)
    log.append(attempt(1))
    assert log.flush()
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was")
    log.append(attempt(2))
    told = poll(lambda: warnings_about(caplog, path))
    assert len(told) == 1 and "exists and is writable" in told[0]
    assert log.unwritten == 1
    folder.unlink()
    assert log.flush(timeout=20)
    assert disk_ids(path) == memory_ids(log) == ["c1", "c2"]
    log.close()


def ndjson_ollama(tag: str = "") -> OllamaAdapter:
    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][-1]["content"]
        lines = [
            {"model": "m", "message": {"role": "assistant", "content": f"echo {prompt}"}, "done": False},
            {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 2},
        ]
        return httpx.Response(200, content="".join(json.dumps(x) + "\n" for x in lines).encode())

    return OllamaAdapter("m", transport=httpx.MockTransport(handler))


def test_a_locked_file_never_stalls_a_call_nor_other_orchestrators(tmp_path, monkeypatch):
    # A write that waited for the lock on the event loop would hold every call of the
    # process for BUSY_SECONDS; nothing here may take more than a fraction of that.
    monkeypatch.setattr(calllog_mod, "BUSY_SECONDS", 30.0)
    path = tmp_path / "calls.sqlite3"
    locked = AIOrchestrator({"ollama": ndjson_ollama()}, log_path=path)
    in_memory = AIOrchestrator({"ollama": ndjson_ollama()}, log_path=False)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        assert locked.ask("one").text == "echo one"
        assert in_memory.ask("two").text == "echo two"
        assert locked.ask("three").text == "echo three"
        assert time.monotonic() - start < 10
        assert [r["outcome"] for r in locked.log.rows] == ["ok", "ok"]
        assert disk_ids(path) == []  # still locked: nothing reached the file yet
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.log.flush(timeout=40)
    assert len(disk_ids(path)) == 2
    locked.close()
    in_memory.close()


def test_text_that_cannot_be_encoded_is_stored_alike_in_memory_and_on_disk(tmp_path):
    path = tmp_path / "calls.sqlite3"
    log = CallLog(path)
    log.append(attempt(1, "half a pair \ud800 here"))
    assert log.flush()
    stored = sqlite3.connect(path).execute("SELECT response FROM attempts").fetchone()[0]
    assert stored == log.rows[0]["response"] == "half a pair ? here"
    log.close()


def test_close_writes_what_is_queued_and_process_exit_does_too(tmp_path):
    path = tmp_path / "calls.sqlite3"
    script = textwrap.dedent(
        f"""
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        for i in range(300):
            log.append(Attempt(call_id=f"c{{i}}", attempt=1, vessel="v", model="m", started_at="t"))
        # no close(): the interpreter's exit must write what is still queued
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(disk_ids(path)) == 300


def test_process_exit_with_a_locked_file_does_not_hang(tmp_path):
    path = tmp_path / "calls.sqlite3"
    CallLog(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    script = textwrap.dedent(
        f"""
        from vessel_nb.calllog import CallLog
        from vessel_nb.types import Attempt
        log = CallLog({str(path)!r})
        log.append(Attempt(call_id="c1", attempt=1, vessel="v", model="m", started_at="t"))
        """
    )
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 0
    assert "could not be written" in done.stderr and "log.df" in done.stderr

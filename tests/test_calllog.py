"""The call log: rows appended as they happen, durable in SQLite, shared by processes."""

from __future__ import annotations

import subprocess
import sys

from vessel_nb.calllog import COLUMNS, CallLog
from vessel_nb.types import Attempt


def attempt(i: int, **kw) -> Attempt:
    return Attempt(
        call_id=f"c{i}",
        attempt=1,
        vessel="ollama",
        model="m",
        started_at="2026-11-26T10:00:00.000Z",
        prompt="secret prompt",
        response="answer",
        **kw,
    )


def test_rows_reach_disk_soon_and_survive_a_new_log(tmp_path):
    path = tmp_path / "calls.sqlite3"
    log = CallLog(path)
    log.append(attempt(1, outcome="ok", ttft_s=0.1, latency_s=0.5, tokens_out=7))
    assert log.flush()  # the writer thread has written it
    # a second reader (a restarted kernel) sees the row before the first log is closed
    again = CallLog(path)
    df = again.load_all()
    assert list(df["call_id"]) == ["c1"] and df["tokens_out"].iloc[0] == 7
    assert len(again.df) == 0  # .df is this session only
    assert set(COLUMNS) <= set(df.columns)


def test_keep_text_false_stores_no_prompt_or_reply(tmp_path):
    log = CallLog(tmp_path / "c.sqlite3", keep_text=False)
    log.append(attempt(1))
    assert log.rows[0]["prompt"] is None and log.rows[0]["response"] is None
    assert b"secret prompt" not in (tmp_path / "c.sqlite3").read_bytes()


def test_memory_only_log_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    log = CallLog(False)
    log.append(attempt(1))
    assert log.path is None and len(log.df) == 1 and not any(tmp_path.iterdir())


def test_pandas_is_not_imported_until_a_frame_is_asked_for():
    code = "import sys, vessel_nb; o = vessel_nb.AIOrchestrator({'o': vessel_nb.OllamaAdapter()}, log_path=False); print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unwritable_path_is_one_clear_error(tmp_path):
    import pytest

    from vessel_nb.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="log_path=False"):
        CallLog(blocker / "sub" / "calls.sqlite3")

"""orch.map: prompt sets over the practice vessels — routed and comparison runs, 429 pacing,
stop, resume after SIGKILL, budgets, and the progress forms."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from vessel_nb import Timeouts
from vessel_nb import errors as E
from vessel_nb.progress import SlotCounts, Snapshot, TerminalProgress, line, table_html

#: first-token limit long enough for a loaded 2-core machine: these tests are about pacing, not timeouts
CALM = Timeouts(connect=5.0, first_token=20.0, idle=20.0, total=60.0)


@pytest.fixture(autouse=True)
def _calm_limits(request):
    if "orch" in request.fixturenames:
        request.getfixturevalue("orch").timeouts = CALM


CHAT_PATHS = ("/api/chat", "/v1/messages", "/v1/chat/completions", ":streamGenerateContent")


def asked(server) -> list[str]:
    """The q-numbers of the prompts a practice server was asked, one per chat request."""
    out = []
    for req in server.requests:
        if any(p in req.path for p in CHAT_PATHS):
            out += re.findall(rb"\bq\d+\b", req.body)[-1:]
    return [b.decode() for b in out]


def poll(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_comparison_run_has_a_row_per_pair_joinable_with_the_log(orch, practice):
    prompts = [f"q{i} say hi" for i in range(6)]
    run = orch.map(prompts, vessels=["ollama", "claude"], progress=False).wait(timeout=60)
    df = run.df
    assert run.status == "done"
    assert len(df) == 12 and set(df.outcome) == {"ok"}
    assert list(df.prompt_id[:4]) == ["0", "0", "1", "1"] and list(df.vessel[:2]) == ["ollama", "claude"]
    assert set(df[df.vessel == "claude"].model) == {"claude-practice"}
    assert df.text.str.contains("practice").all() and (df.tokens_out > 0).all()
    assert (df[df.vessel == "ollama"].cost_usd == 0.0).all()  # local costs nothing
    log = orch.log.df
    joined = df.merge(log, on="call_id", suffixes=("", "_log"))
    assert len(joined) == 12
    assert (joined.run_id == run.run_id).all()
    assert sorted(joined.run_item) == sorted(f"{p}@{v}" for p in range(6) for v in ("ollama", "claude"))
    assert sorted(asked(practice["claude"])) == sorted(f"q{i}" for i in range(6))


def test_routed_run_falls_back_like_ask(orch, practice):
    practice["ollama"].set_fault("down")
    run = orch.map(["q1 hi", "q2 hi"], progress=False).wait(timeout=60)
    df = run.df
    assert list(df.outcome) == ["ok", "ok"] and set(df.vessel) == {"claude"}
    routed = orch.log.df
    assert set(routed[routed.vessel == "ollama"].outcome) == {"error"}  # tried first, then fell back
    assert set(routed.run_item) == {"0@auto", "1@auto"}


def test_dataframe_with_template_and_bad_input(orch, practice):
    frame = pd.DataFrame({"text": ["q7 apples", "q8 pears"]}, index=["a", "b"])
    run = orch.map(frame, vessels=["claude"], template="Summarise {text}", progress=False).wait(timeout=60)
    assert list(run.df.prompt_id) == ["a", "b"] and run.df.prompt[0] == "Summarise q7 apples"
    with pytest.raises(E.ConfigError, match=r"\{txt\}.*fields: text"):
        orch.map(frame, vessels=["claude"], template="Summarise {txt}")
    with pytest.raises(E.ConfigError, match="needs template="):
        orch.map(frame, vessels=["claude"])
    with pytest.raises(E.ConfigError, match="not one string"):
        orch.map("q1 hi")
    with pytest.raises(E.ConfigError, match="unknown vessel 'nope'"):
        orch.map(["q1"], vessels=["nope"])
    with pytest.raises(E.ConfigError, match="prompt 1: the prompt is empty"):
        orch.map(["q1", "  "], vessels=["claude"])
    with pytest.raises(E.ConfigError, match="temperature"):
        orch.map(["q1"], vessels=["claude"], temperature=7)
    with pytest.raises(E.ConfigError, match="per_vessel names 'x'"):
        orch.map(["q1"], vessels=["claude"], per_vessel={"x": 1})
    assert not asked(practice["claude"])[2:]  # nothing more was sent by the refused runs


def _ts(value) -> float:
    stamp = pd.Timestamp(value)
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).timestamp()


def _ends(row) -> float:
    return _ts(row.started_at) + row.latency_s


def test_429s_pace_the_whole_vessel_and_nothing_is_lost(orch, practice):
    practice["claude"].set_fault("status", code=429, retry_after=0.5, times=1)
    prompts = [f"q{i} hi" for i in range(16)]
    run = orch.map(prompts, vessels=["claude", "openai"], per_vessel=4, progress=False).wait(timeout=60)
    df = run.df
    assert run.status == "done" and set(df.outcome) == {"ok"} and len(df) == 32
    log = orch.log.df
    ok = log[log.outcome == "ok"]
    assert ok.run_item.value_counts().max() == 1 and len(ok) == 32  # each pair answered once
    limited = log[log.error_kind == "rate_limited"]
    assert len(limited) == 1 and df.retries.sum() == 1
    # the pause held for every call to claude, not only the limited one
    end = _ends(limited.iloc[0])
    started = [_ts(s) for s in log[log.vessel == "claude"].started_at]
    # (a call that passed the gate just as the 429 came back may start a moment later: 0.1 s slack)
    assert not [s for s in started if end + 0.1 < s < end + 0.5 - 0.02]
    assert sorted(asked(practice["claude"])) == sorted(
        [f"q{i}" for i in range(16)] + [limited.iloc[0].prompt.split()[0]]
    )


def test_gemini_retry_delay_is_honoured(orch, practice):
    # RetryInfo.retryDelay "0.600s": a sub-second delay is a fractional Duration, not "0s"
    practice["gemini"].set_fault("status", code=429, retry_after=0.6, times=1)
    run = orch.map([f"q{i} hi" for i in range(4)], vessels=["gemini"], per_vessel=2, progress=False).wait(timeout=60)
    assert set(run.df.outcome) == {"ok"} and run.df.retries.sum() == 1
    assert run.pacing["gemini"] == {"limit": 2, "rate_limited": 1, "paused_s": pytest.approx(0.6, abs=0.05)}


def test_retries_run_out_into_a_failed_row(orch, practice):
    practice["openai"].set_fault("status", code=429, retry_after=0.05)
    run = orch.map(["q1 hi"], vessels=["openai"], retries=2, progress=False).wait(timeout=60)
    row = run.df.iloc[0]
    assert row.outcome == "error" and row.error_kind == "rate_limited" and row.retries == 2
    assert len(asked(practice["openai"])) == 3


def test_stop_keeps_finished_pairs(orch, practice):
    practice["claude"].set_fault("slow_first_token", delay=0.3)
    run = orch.map([f"q{i} hi" for i in range(40)], vessels=["claude"], per_vessel=2, progress=False)
    poll(lambda: (run.df.outcome == "ok").sum() >= 2, what="two answers")
    run.stop()
    assert run.done() and run.status == "stopped"
    df = run.df
    done = (df.outcome == "ok").sum()
    assert 2 <= done < 40 and set(df.outcome) <= {"ok", "cancelled", "not run (stopped)"}
    log = orch.log.df
    assert (log.outcome == "ok").sum() == done and set(log.outcome) <= {"ok", "cancelled"}
    assert (log.outcome == "cancelled").sum() == (df.outcome == "cancelled").sum()


def test_a_pair_stopped_mid_call_says_cancelled_as_its_log_row_does(orch, practice):
    # Two calls are mid-answer (one piece sent, then the server waits) and two are queued
    # when the run stops: the two sent are "cancelled" as in the log, the two never sent
    # are "not run (stopped)", and the progress forms count them the same way.
    practice["claude"].set_fault("hang_mid_stream", after=1)
    run = orch.map([f"q{i} hi" for i in range(4)], vessels=["claude"], per_vessel=2, progress=False)
    poll(lambda: len(asked(practice["claude"])) == 2, what="two calls mid-answer")
    run.stop()
    assert run.done() and run.status == "stopped"
    df = run.df
    assert sorted(df.outcome) == ["cancelled", "cancelled", "not run (stopped)", "not run (stopped)"]
    stopped = df[df.outcome == "cancelled"]
    log = orch.log.df
    logged = log[log.outcome == "cancelled"]
    assert sorted(stopped.call_id) == sorted(logged.call_id) and len(logged) == 2
    assert set(stopped.error_kind) == {"cancelled"} and set(stopped.vessel) == {"claude"}
    by_call = logged.set_index("call_id")
    assert list(stopped.latency_s) == list(by_call.loc[stopped.call_id, "latency_s"]) and stopped.latency_s.all()
    counts = run.snapshot().slots["claude"]
    assert (counts.done, counts.failed, counts.cancelled, run.snapshot().finished) == (0, 0, 2, 2)
    assert "claude 0/4 (2 cancelled)" in line(run.snapshot())
    practice["claude"].clear_fault()
    again = orch.map([f"q{i} hi" for i in range(4)], vessels=["claude"], per_vessel=2, progress=False)
    assert list(again.wait(timeout=60).df.outcome) == ["ok"] * 4  # a cancelled pair is asked again


def test_same_run_again_resumes_and_other_options_do_not(orch, practice):
    prompts = [f"q{i} hi" for i in range(5)]
    first = orch.map(prompts, vessels=["claude"], progress=False).wait(timeout=60)
    practice["claude"].requests.clear()
    again = orch.map(prompts, vessels=["claude"], progress=False).wait(timeout=60)
    assert again.run_id == first.run_id and again.df.resumed.all() and not asked(practice["claude"])
    assert list(again.df.call_id) == list(first.df.call_id) and list(again.df.text) == list(first.df.text)
    other = orch.map(prompts, vessels=["claude"], temperature=0.2, progress=False).wait(timeout=60)
    assert other.run_id != first.run_id and not other.df.resumed.any()


def _png(fill: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + fill * 32


def _chat_bodies(server) -> list[bytes]:
    return [r.body for r in server.requests if any(p in r.path for p in CHAT_PATHS)]


def test_a_resumed_run_knows_an_image_by_its_bytes_not_its_path(orch, practice, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(b"\0"))
    prompts = ["q1 what is this?", "q2 and now?"]
    first = orch.map(prompts, vessels=["claude"], images=[photo], progress=False).wait(timeout=60)
    assert list(first.df.outcome) == ["ok", "ok"]
    photo.write_bytes(_png(b"\1"))  # another picture at the same path
    practice["claude"].requests.clear()
    changed = orch.map(prompts, vessels=["claude"], images=[photo], progress=False).wait(timeout=60)
    assert changed.run_id != first.run_id and not changed.df.resumed.any()
    bodies = _chat_bodies(practice["claude"])
    assert len(bodies) == 2 and all(base64.b64encode(_png(b"\1")) in b for b in bodies)
    # the same picture again resumes, however it is given: path, str, bytes, data: URL
    practice["claude"].requests.clear()
    url = "data:image/png;base64," + base64.b64encode(_png(b"\1")).decode()
    for given in (photo, str(photo), _png(b"\1"), url):
        again = orch.map(prompts, vessels=["claude"], images=[given], progress=False).wait(timeout=60)
        assert again.run_id == changed.run_id and again.df.resumed.all(), type(given)
    assert not asked(practice["claude"])


def test_every_call_of_a_run_sends_the_image_as_it_was_when_the_run_started(orch, practice, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(b"\0"))
    practice["claude"].set_fault("slow_first_token", delay=0.2)
    run = orch.map([f"q{i} hi" for i in range(3)], vessels=["claude"], per_vessel=1, images=[photo], progress=False)
    poll(lambda: asked(practice["claude"]), what="the first call")
    photo.write_bytes(_png(b"\1"))  # changed while the run goes
    assert list(run.wait(timeout=60).df.outcome) == ["ok"] * 3
    bodies = _chat_bodies(practice["claude"])
    assert len(bodies) == 3 and all(base64.b64encode(_png(b"\0")) in b for b in bodies)


def test_runs_without_images_keep_the_keys_they_had_before_images_were_keyed_by_content():
    # a log written by an earlier version resumes: these keys were computed before the change
    from types import SimpleNamespace as NS

    from vessel_nb import runplan

    orch = NS(priority=["x", "y"], vessels={"x": NS(model="m1"), "y": NS(model="m2")}, active=None)
    items = runplan.prompts_of(["q0 hi", "q1 hi"])
    assert runplan.run_key(orch, items, ["x", "y"], {"temperature": 0.2, "timeouts": CALM}) == "3d2c77d15e9beeda"
    assert runplan.run_key(orch, items, ["auto"], {}) == "8d5d7a409ad66141"
    assert runplan.run_key(orch, items, ["x"], {"images": []}) == "4f60b5d11cac4f81"


_CHILD = """
import sys, json
from vessel_nb import AIOrchestrator, ClaudeAdapter, OllamaAdapter
urls = json.loads(sys.argv[1])
orch = AIOrchestrator(
    {"ollama": OllamaAdapter(model="llama3.2", base_url=urls["ollama"]),
     "claude": ClaudeAdapter(model="claude-practice", base_url=urls["claude"], api_key="practice-key-anthropic")},
    log_path=sys.argv[2],
)
orch.map([f"q{i} hi" for i in range(30)], vessels=["ollama", "claude"], per_vessel=1, progress=False).wait()
"""


def _ok_items(path) -> set[str]:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            return {r[0] for r in conn.execute("SELECT run_item FROM attempts WHERE outcome = 'ok'")}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()


def test_sigkill_halfway_then_resume_asks_only_what_was_missing(practice, tmp_path):
    log = tmp_path / "calls.sqlite3"
    for name in ("ollama", "claude"):
        practice[name].set_fault("slow_first_token", delay=0.05)
    urls = {"ollama": practice["ollama"].base_url, "claude": practice["claude"].base_url}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(urls), str(log)], env=env)
    try:
        poll(lambda: len(_ok_items(log)) >= 12, timeout=60, what="a dozen answers on disk")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    before = _ok_items(log)
    assert 12 <= len(before) < 60
    for name in ("ollama", "claude"):
        practice[name].clear_fault()
        practice[name].requests.clear()
    orch = practice.orchestrator(
        vessels={k: v for k, v in practice.adapters().items() if k in ("ollama", "claude")},
        priority=["ollama", "claude"],
        log_path=log,
        timeouts=CALM,
    )
    try:
        run = orch.map([f"q{i} hi" for i in range(30)], vessels=["ollama", "claude"], per_vessel=1, progress=False)
        run.wait(timeout=60)
    finally:
        orch.close()
    df = run.df
    assert set(df.outcome) == {"ok"} and len(df) == 60 and df.resumed.sum() == len(before)
    missing = {f"{p}@{v}" for p in range(30) for v in ("ollama", "claude")} - before
    for vessel in ("ollama", "claude"):
        want = sorted(f"q{i.split('@')[0]}" for i in missing if i.endswith("@" + vessel))
        assert sorted(asked(practice[vessel])) == want  # none asked twice, none missing
    conn = sqlite3.connect(log)
    counts = dict(conn.execute("SELECT run_item, COUNT(*) FROM attempts WHERE outcome='ok' GROUP BY run_item"))
    conn.close()
    assert len(counts) == 60 and set(counts.values()) == {1}


def test_budget_stops_before_it_is_exceeded(orch, practice):
    orch.prices.set("claude-practice", input=1000.0, output=1000.0)  # $0.001 per token: a few cents a call
    run = orch.map([f"q{i} hi" for i in range(30)], vessels=["claude"], per_vessel=2, max_tokens=40, budget_usd=0.5)
    run.wait(timeout=60)
    df = run.df
    assert run.status == "budget"
    answered = df[df.outcome == "ok"]
    assert 0 < len(answered) < 30 and run.spent_usd <= 0.5
    assert abs(answered.cost_usd.sum() - run.spent_usd) < 1e-9
    assert set(df.outcome) == {"ok", "not run (budget)"}
    log = orch.log.df
    assert abs(log.cost_usd.sum() - run.spent_usd) < 1e-9


def test_budget_needs_prices_but_local_is_free(orch, practice):
    with pytest.raises(E.ConfigError, match=r"price of 'claude-practice'.*orch.prices.set"):
        orch.map(["q1"], vessels=["claude"], budget_usd=1)
    run = orch.map(["q1 hi"], vessels=["ollama"], budget_usd=0, progress=False).wait(timeout=60)
    assert run.status == "done" and run.df.cost_usd[0] == 0.0


def test_async_face(orch, practice):
    import asyncio

    async def go():
        return await orch.map(["q1 hi", "q2 hi"], vessels=["openai"], progress=False)

    run = asyncio.run(go())
    assert run.status == "done" and list(run.df.outcome) == ["ok", "ok"]


def test_progress_forms():
    snap = Snapshot(
        "abcdef0123456789", "running", 30.0, {"ollama": SlotCounts(10, 4, 1, 2), "claude": SlotCounts(10, 5)}
    )
    text = line(snap)
    assert "run abcdef01 running 10/20" in text and "ollama 4/10 (1 failed, 2 in flight)" in text
    assert "0:30 elapsed, ~0:30 left" in text
    assert "<td>ollama</td><td>4/10</td><td>1</td><td>0</td><td>2</td>" in table_html(snap)
    stopped = Snapshot("abcdef0123456789", "stopped", 30.0, {"ollama": SlotCounts(10, 4, 1, 0, cancelled=2)})
    assert "stopped 7/10" in line(stopped) and "ollama 4/10 (1 failed, 2 cancelled)" in line(stopped)
    assert "<th>cancelled</th>" in table_html(stopped) and "<td>1</td><td>2</td><td>0</td>" in table_html(stopped)
    out = io.StringIO()
    term = TerminalProgress(out)
    term.draw(snap)
    term.draw(snap)  # too soon: skipped
    term.draw(Snapshot("abcdef0123456789", "done", 31.0, {"ollama": SlotCounts(1, 1)}), final=True)
    written = out.getvalue()
    assert written.count("\r") == 2 and written.endswith("\n") and "done 1/1" in written


def test_terminal_progress_is_drawn_while_waiting(orch, practice, capsys):
    orch.map(["q1 hi"], vessels=["openai"], progress="terminal").wait(timeout=60)
    err = capsys.readouterr().err
    assert "\r" in err and "done 1/1" in err and err.endswith("\n")


def test_notebook_progress_follows_the_run(orch, practice, monkeypatch):
    import IPython.display

    seen = []

    class Handle:
        def update(self, obj):
            seen.append(obj.data)

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: seen.append(obj.data) or Handle())
    run = orch.map(["q1 hi", "q2 hi"], vessels=["openai"], progress="notebook").wait(timeout=60)
    poll(lambda: seen and "done" in seen[-1], what="the final draw")
    assert run.status == "done" and "2/2" in seen[-1]

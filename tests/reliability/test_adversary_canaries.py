"""Key canaries in the sinks added after the first key suite: a prompt-set run (``run.df``,
its repr, its progress in HTML and on a terminal, the rows it logs), ``%%ask --over``, the
panels' static HTML fallback (what a notebook saves beside the widget), and practice mode's
summary. A hostile server echoes each key back in every form (see echo.py); no 8-character
piece of any key may land in any of them."""

from __future__ import annotations

import io
import json
import time
import traceback

import pytest
from IPython.utils.capture import capture_output

import vessel_nb as vnb
from vessel_nb import ClaudeAdapter, GeminiAdapter, OpenAIAdapter, pacing, progress, session, standins

from .canary import KEYS, leaks
from .echo import MODES

pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch):
    # the hostile server answers 5xx to everything: the run paces, then gives up (not what is tested)
    monkeypatch.setattr(pacing, "_FIRST_BACKOFF", 0.01)


def _vessels(port: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    return {
        "claude": ClaudeAdapter(model="claude-sonnet-4-5", base_url=url, api_key=KEYS["claude"]),
        "openai": OpenAIAdapter(model="gpt-5", base_url=url + "/v1", api_key=KEYS["openai"], api="responses"),
        "gemini": GeminiAdapter(model="gemini-2.5-flash", base_url=url, api_key=KEYS["gemini"]),
    }


@pytest.mark.parametrize("mode", MODES)
def test_no_part_of_a_key_lands_in_a_run_or_its_displays(mode, echo, shell, tmp_path):
    echo.mode = mode
    log_file = tmp_path / "calls.sqlite3"
    orch = vnb.AIOrchestrator(_vessels(echo.port), log_path=log_file)
    session.use(orch)
    sinks: list[tuple[str, str]] = []
    try:
        for vessels in (["claude", "openai", "gemini"], None):  # a comparison, and a routed run
            terminal = io.StringIO()
            run = orch.map(["hello", "again"], vessels=vessels, retries=1, budget_usd=5.0, progress=False)
            run.wait(timeout=60)
            snap = run.snapshot()
            progress.TerminalProgress(terminal).draw(snap, final=True)
            sinks += [
                ("run.df", run.df.to_json()),
                ("repr(run)", repr(run)),
                ("progress HTML", run._repr_html_() + progress.table_html(snap)),
                ("progress terminal", terminal.getvalue() + progress.line(snap)),
                ("pacing", json.dumps(run.pacing)),
            ]
            assert set(run.df.outcome) == {"error"} and run.df.error.str.len().min() > 0
        shell.user_ns["qs"] = ["hello"]
        with capture_output() as cap:
            shell.run_cell("%%ask --over qs --vessels claude,openai,gemini -o over_run\nSay {prompt}")
            shell.run_cell("%%ask --over qs\nSay {prompt}")
            shell.run_cell("%ask log --all")
        saved = [{"data": o.data, "metadata": o.metadata} for o in cap.outputs]
        sinks += [("%%ask --over outputs", json.dumps(saved, default=str) + cap.stdout + cap.stderr)]
        sinks += [("--over run.df", shell.user_ns.pop("over_run").df.to_json())]
        last = shell.magics_manager.registry["AskMagics"].last_error
        if last is not None:
            sinks += [("last error", "".join(traceback.format_exception(last)))]

        # what a notebook saves beside each panel: the static HTML/text fallback
        panel = vnb.ChatPanel(orch)
        with pytest.raises(vnb.VesselNBError):
            panel.ask("hello").result(30)
        data, _ = panel._repr_mimebundle_()
        sinks += [("ChatPanel fallback", json.dumps(data, default=str) + json.dumps(panel.get_state(), default=str))]
        panel.close()
        cmp = vnb.CompareWidget(orch)
        cmp.run("hello", timeout=30)
        data, _ = cmp._repr_mimebundle_()
        sinks += [("CompareWidget fallback", json.dumps(data, default=str) + json.dumps(cmp.get_state(), default=str))]
        cmp.map(["hello", "again"], retries=1, progress=False).wait(timeout=60)  # the live run table
        poll = 0
        while "again" not in json.dumps(cmp.get_state(), default=str) and poll < 500:
            time.sleep(0.01)  # the table follows the run on a timer: wait until it shows the end
            poll += 1
        assert "again" in json.dumps(cmp.get_state(), default=str)
        data, _ = cmp._repr_mimebundle_()
        sinks += [("CompareWidget run table", json.dumps(data, default=str) + json.dumps(cmp.get_state(), default=str))]
        cmp.close()

        assert orch.log.flush()
        runs = orch.log.df[orch.log.df.run_id.astype(str) != ""]
        assert len(runs) >= 12
        sinks += [("the run's log rows", runs.to_json(date_format="iso"))]
    finally:
        session.reset()
        orch.close()
    for suffix in ("", "-wal", "-shm"):
        f = log_file.with_name(log_file.name + suffix)
        if f.exists():
            sinks += [(f"SQLite file {f.name}", f.read_bytes().decode("latin-1"))]
    leaked = {name: leaks(text) for name, text in sinks if leaks(text)}
    assert leaked == {}, leaked


def test_practice_mode_never_shows_a_key(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:  # an Ollama address where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("VESSEL_NB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv(standins.PACE_ENV, "0")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["claude"])
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["openai"])
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    orch = vnb.AIOrchestrator(log_path=False)
    try:
        with capture_output() as cap:
            mode = standins.practice_mode(True)
        assert mode is not None and "ollama" in mode.practice and "claude" in mode.real
        shown = cap.stdout + mode.sentence + repr(mode) + json.dumps(mode.orch.describe()) + repr(mode.orch)
        shown += repr(list(mode.orch.vessels.values())) + json.dumps(mode.notes)
    finally:
        standins.stop()
        session.reset()
        orch.close()
    assert leaks(shown) == []


@pytest.mark.parametrize("userinfo", ["{token}@", "user:{token}@"])
def test_credentials_in_a_base_url_never_show(userinfo, tmp_path):
    import socket

    with socket.socket() as s:  # nothing listens: every call is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = KEYS["openai"]
    adapter = OpenAIAdapter(model="m", base_url=f"http://{userinfo.format(token=token)}127.0.0.1:{port}/v1")
    orch = vnb.AIOrchestrator({"proxy": adapter}, log_path=tmp_path / "calls.sqlite3")
    try:
        with pytest.raises(vnb.AllVesselsFailed) as info:
            orch.ask("hello")
        error = info.value
        shown = [
            repr(adapter),
            json.dumps(orch.describe()),
            "".join(traceback.format_exception(error)),
            " ".join(f"{f} {f.hint}" for f in error.failures.values()),
        ]
        assert orch.log.flush()
        shown.append(orch.log.df.to_json(date_format="iso"))
    finally:
        orch.close()
    assert "connection refused" in shown[2]
    leaked = [text for text in shown if leaks(text)]
    assert leaked == []

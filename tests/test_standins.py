"""Practice mode anywhere (vessel_nb.standins): vessel_nb.practice_mode(), %ask practice, and
VESSEL_NB_PRACTICE for the default orchestrator, on a machine with no Ollama and no keys.

A practice Ollama plays the part of a real one where a test needs a real vessel: it speaks
Ollama's protocol on a loopback port, which is all the probe looks at.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import vessel_nb
from vessel_nb import AllVesselsFailed, session, standins
from vessel_nb.magic import load_ipython_extension, unload_ipython_extension
from vessel_nb.practice import PracticeServer

KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def nothing_here(monkeypatch, tmp_path):
    """No keys, no config file, an Ollama address where nothing listens, a fast pace."""
    for var in (*KEY_VARS, standins.PRACTICE_ENV, "OLLAMA_HOST", "VESSEL_NB_OLLAMA_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("VESSEL_NB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("VESSEL_NB_LOG", str(tmp_path / "calls.sqlite3"))
    monkeypatch.setenv(standins.PACE_ENV, "0")
    session.reset()
    yield
    standins.stop()
    if session._current is not None:
        session._current.close()
    session.reset()


@pytest.fixture
def real_ollama(monkeypatch):
    srv = PracticeServer("ollama", pace=0.0, models=["llama3.2"]).start()
    monkeypatch.setenv("OLLAMA_HOST", srv.url)
    yield srv
    srv.stop()


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    yield shell
    unload_ipython_extension(shell)


def test_practice_mode_stands_in_for_every_vessel_that_is_not_there(capsys):
    mode = vessel_nb.practice_mode()
    out = capsys.readouterr().out
    assert out.startswith("practice mode: practice servers on 127.0.0.1 answer for ollama, claude, openai, gemini")
    assert "  claude: ANTHROPIC_API_KEY is not set" in out and "real vessels: none" in out
    assert "not a real model" in out
    assert vessel_nb.default_orchestrator() is mode.orch
    reply = mode.orch.ask("Why is the sky blue?")
    assert reply.vessel == "ollama" and reply.text.startswith("This is the practice ollama vessel")
    claude = mode.orch.ask("hi", vessel="claude")
    assert claude.text.startswith("This is the practice claude vessel"), "named as the vessel, not the provider"
    assert all(standins.is_practice(a) for a in mode.orch.vessels.values())
    assert not mode.orch.vessels["claude"].local, "a cloud vessel's stand-in stays cloud: private calls skip it"


def test_off_goes_back_to_the_vessels_as_configured(capsys):
    mode = vessel_nb.practice_mode()
    before = mode.before
    url = mode.servers["ollama"].url
    assert vessel_nb.practice_mode(False) is None
    assert "practice mode is off" in capsys.readouterr().out
    assert vessel_nb.default_orchestrator() is before and standins.current() is None
    assert not mode.servers["ollama"].running
    with pytest.raises(AllVesselsFailed):
        before.ask("hi")
    assert url not in repr(before.describe())


def test_a_real_vessel_stays_real(real_ollama, capsys):
    mode = vessel_nb.practice_mode()
    assert mode.real == ["ollama"] and mode.practice == ["claude", "openai", "gemini"]
    assert mode.orch.vessels["ollama"].base_url == real_ollama.url and "ollama" not in mode.servers
    assert "real vessels: ollama" in capsys.readouterr().out
    assert not standins.is_practice(mode.orch.vessels["ollama"])
    # everything=True: a practice server even for the one that is there
    mode = vessel_nb.practice_mode(everything=True)
    assert mode.practice == ["ollama", "claude", "openai", "gemini"]
    assert mode.orch.vessels["ollama"].base_url != real_ollama.url


def test_a_vessel_of_ones_own_is_named_in_the_practice_reply(monkeypatch, tmp_path):
    from vessel_nb import OpenAIAdapter

    class LlamaCppAdapter(OpenAIAdapter):
        """An OpenAI-compatible local server (llama.cpp)."""

    mine = LlamaCppAdapter(model="local", base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="x", local=True)
    orch = vessel_nb.use(vessel_nb.AIOrchestrator(vessels={"llamacpp": mine}, log_path=False))
    mode = vessel_nb.practice_mode()
    assert mode.practice == ["llamacpp"] and "nothing answers at 127.0.0.1" in mode.notes["llamacpp"]
    reply = mode.orch.ask("hello")
    assert reply.text.startswith("This is the practice llamacpp vessel") and mode.orch.vessels["llamacpp"].local
    vessel_nb.practice_mode(False)
    assert vessel_nb.default_orchestrator() is orch


def test_the_env_variable_turns_the_default_orchestrator_into_practice(monkeypatch, real_ollama, capsys):
    monkeypatch.setenv(standins.PRACTICE_ENV, "auto")
    orch = vessel_nb.default_orchestrator()
    assert "practice servers on 127.0.0.1 answer for claude, openai, gemini" in capsys.readouterr().out
    assert orch.vessels["ollama"].base_url == real_ollama.url and vessel_nb.default_orchestrator() is orch
    standins.stop()
    session.reset()
    monkeypatch.setenv(standins.PRACTICE_ENV, "1")  # every vessel, nothing probed (as in the lessons)
    before = len(real_ollama.requests)
    orch = vessel_nb.default_orchestrator()
    assert standins.current().practice == ["ollama", "claude", "openai", "gemini"]
    assert len(real_ollama.requests) == before and orch.ask("hi").text.startswith("This is the practice ollama")


def test_without_the_env_variable_nothing_is_started(capsys):
    orch = vessel_nb.default_orchestrator()
    assert standins.current() is None and capsys.readouterr().out == ""
    assert not any(standins.is_practice(a) for a in orch.vessels.values())


def test_first_ask_with_nothing_reachable_suggests_practice_mode(ip):
    with capture_output() as cap:
        result = ip.run_cell("%%ask\nHello?")
    assert isinstance(result.error_in_exec, AllVesselsFailed)
    assert "What to do:\n  → no vessel is reachable from here: `%ask practice` starts practice servers" in cap.stdout
    with capture_output() as cap:
        ip.run_line_magic("ask", "practice")
    assert "practice mode: practice servers on 127.0.0.1 answer for ollama" in cap.stdout
    with capture_output() as cap:
        result = ip.run_cell("%%ask\nHello?")
    assert result.success
    shown = [o for o in cap.outputs if not o.update][-1]
    assert shown.data["text/markdown"].startswith("This is the practice ollama vessel")
    assert "ollama (practice server) · llama3.2 · first in priority" in shown.data["text/markdown"]
    assert shown.metadata["vessel_nb"]["practice"] is True
    with capture_output() as cap:
        ip.run_line_magic("ask", "practice off")
    assert "practice mode is off" in cap.stdout and standins.current() is None
    with capture_output() as cap:
        ip.run_line_magic("ask", "practice off")
    assert "practice mode is not on" in cap.stdout
    with pytest.raises(UsageError, match="'all'"):
        ip.run_line_magic("ask", "practice maybe")


def test_a_lesson_setup_replaces_practice_mode(capsys):
    from vessel_nb import classroom

    mode = vessel_nb.practice_mode()
    orch, room = classroom.setup(["ollama", "claude"], pace=0.0, announce=False)
    try:
        assert standins.current() is None and not mode.servers["claude"].running
        assert vessel_nb.default_orchestrator() is orch
        assert standins.is_practice(orch.vessels["claude"]), "the lesson's practice vessels are labelled too"
        # %ask practice over a lesson keeps its practice vessels, starts nothing more
        again = vessel_nb.practice_mode()
        assert again.servers == {} and again.practice == ["ollama", "claude"]
    finally:
        standins.stop()
        room.close()
        classroom._current = None


def test_import_stays_cheap():
    """Practice mode is in the package namespace, but tornado comes only when it starts."""
    code = (
        "import sys, vessel_nb; vessel_nb.practice_mode; "
        "print('tornado' in sys.modules, 'vessel_nb.practice' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]

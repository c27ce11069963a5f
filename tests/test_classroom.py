"""vessel_nb.classroom: which situation a lesson is in, and the orchestrator it gets.

A practice Ollama server plays the part of a "real" Ollama here: it speaks Ollama's real
protocol on a loopback port, which is all the probe looks at.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import vessel_nb
from vessel_nb import classroom, session
from vessel_nb.practice import PracticeServer

KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No keys, no forced mode, an Ollama address where nothing listens, a temp call log."""
    for var in (*KEY_VARS, classroom.PRACTICE_ENV, classroom.PACE_ENV, "VESSEL_NB_OLLAMA_MODEL", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("VESSEL_NB_LOG", str(tmp_path / "calls.sqlite3"))
    yield
    if classroom._current is not None:
        classroom._current.close()
        classroom._current = None
    session.reset()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def real_ollama(monkeypatch):
    """A server speaking Ollama's protocol at $OLLAMA_HOST, as a running `ollama serve` would."""
    srv = PracticeServer("ollama", pace=0.0, models=["qwen2.5:0.5b", "nomic-embed-text"]).start()
    monkeypatch.setenv("OLLAMA_HOST", srv.url)
    yield srv
    srv.stop()


def test_practice_mode_when_nothing_is_there(capsys):
    orch, room = classroom.setup(["ollama", "claude"], pace=0.0)
    assert room.mode == "practice"
    assert room.practice == ["ollama", "claude"] and room.real == []
    assert capsys.readouterr().out.strip() == classroom.PRACTICE_SENTENCE
    assert orch.priority == ["ollama", "claude"]
    assert vessel_nb.default_orchestrator() is orch  # %%ask and the panels use it
    reply = orch.ask("Why is the sky blue?")
    assert reply.vessel == "ollama" and "practice ollama vessel" in reply.text
    assert "no Ollama answers" in room.notes["ollama"] and "ANTHROPIC_API_KEY" in room.notes["claude"]


def test_forced_practice_probes_nothing(monkeypatch, real_ollama):
    monkeypatch.setenv(classroom.PRACTICE_ENV, "1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-looking-key")
    orch, room = classroom.setup(["ollama", "claude"], pace=0.0, announce=False)
    assert room.mode == "practice"
    assert real_ollama.requests == []  # the real Ollama was not even asked
    assert orch.vessels["ollama"].base_url == room.fleet["ollama"].url
    assert orch.ask("hi", vessel="claude").text.startswith("This is the practice claude vessel")


def test_mix_uses_the_real_ollama_and_practice_for_the_cloud(real_ollama, capsys):
    orch, room = classroom.setup(["ollama", "claude", "openai"], pace=0.0)
    assert room.mode == "mix"
    assert room.real == ["ollama"] and room.practice == ["claude", "openai"]
    assert orch.vessels["ollama"].base_url == real_ollama.url
    assert orch.vessels["ollama"].model == "qwen2.5:0.5b"  # the first pulled chat model
    out = capsys.readouterr().out.strip()
    assert out.startswith("a mix (real: ollama (qwen2.5:0.5b on this machine); practice: claude, openai)")
    assert "canned replies, not a real model" in out
    assert room.is_practice("claude") and not room.is_practice("ollama")
    assert sorted(room.fleet.names) == ["anthropic", "openai"]


def test_real_mode_with_ollama_and_keys(real_ollama, monkeypatch, capsys):
    secret = "sk-ant-api03-never-shown-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    orch, room = classroom.setup(["ollama", "claude"])
    assert room.mode == "real" and room.fleet is None
    out = capsys.readouterr().out
    assert out.startswith("real vessels: ollama (qwen2.5:0.5b on this machine), claude")
    assert orch.vessels["claude"].has_key
    for text in (out, room.sentence, repr(room), repr(orch), str(orch.describe())):
        assert secret not in text


def test_ollama_model_from_the_environment(real_ollama, monkeypatch):
    monkeypatch.setenv("VESSEL_NB_OLLAMA_MODEL", "llama3.2")  # not pulled on this server
    _, room = classroom.setup(["ollama"], pace=0.0, announce=False)
    assert room.mode == "practice"
    assert "`ollama pull llama3.2`" in room.notes["ollama"]
    monkeypatch.setenv("VESSEL_NB_OLLAMA_MODEL", "qwen2.5:0.5b")
    orch, room = classroom.setup(["ollama"], announce=False)
    assert room.mode == "real" and orch.vessels["ollama"].model == "qwen2.5:0.5b"


def test_pick_model_skips_embedding_models(monkeypatch):
    assert classroom.pick_model(["nomic-embed-text:latest", "qwen3:4b"]) == "qwen3:4b"
    assert classroom.pick_model([]) is None
    monkeypatch.setenv("VESSEL_NB_OLLAMA_MODEL", "qwen3")
    assert classroom.pick_model(["qwen3:latest"]) == "qwen3:latest"


def test_probe_of_a_closed_port_is_quick():
    import time

    start = time.perf_counter()
    assert classroom.ollama_models() is None
    assert time.perf_counter() - start < classroom.PROBE_TIMEOUT + 0.5


def test_running_setup_again_replaces_the_previous_classroom():
    _, first = classroom.setup(["ollama", "claude"], pace=0.0, announce=False)
    servers = list(first.fleet)
    orch, second = classroom.setup(["ollama", "claude"], pace=0.0, announce=False)
    assert not any(s.running for s in servers)
    assert vessel_nb.default_orchestrator() is orch
    assert orch.ask("hi").vessel == "ollama"


def test_bad_vessel_names():
    for bad in (["ollama", "ollama"], ["llamacpp"], []):
        with pytest.raises(vessel_nb.ConfigError, match="setup\\(\\) takes vessel names"):
            classroom.setup(bad, announce=False)


def test_ask_key_puts_the_key_in_the_environment_only(monkeypatch, capsys):
    secret = "sk-proj-typed-into-getpass-42"
    prompts = []
    monkeypatch.setattr(classroom.getpass, "getpass", lambda prompt: prompts.append(prompt) or f"  {secret}\n")
    assert classroom.ask_key("openai") is None  # nothing returned, so nothing echoed as Out[]
    import os

    assert os.environ["OPENAI_API_KEY"] == secret
    out = capsys.readouterr().out
    assert secret not in out and secret not in prompts[0]
    assert "OPENAI_API_KEY is set" in out
    orch, room = classroom.setup(["openai"], announce=False)
    assert room.mode == "real"


def test_ask_key_with_nothing_typed(monkeypatch, capsys):
    monkeypatch.setattr(classroom.getpass, "getpass", lambda prompt: "")
    classroom.ask_key("claude")
    assert "ANTHROPIC_API_KEY" not in __import__("os").environ
    assert "unchanged" in capsys.readouterr().out
    with pytest.raises(vessel_nb.ConfigError):
        classroom.ask_key("ollama")


def test_import_has_no_side_effects():
    code = (
        "import sys, vessel_nb.classroom; "
        "bad = [m for m in ('tornado', 'pandas', 'vessel_nb.practice', 'IPython') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_practice_pace_from_the_environment(monkeypatch):
    _, room = classroom.setup(["ollama"], announce=False)
    assert room.fleet["ollama"].pace == 0.02  # slow enough to see the answer stream in
    monkeypatch.setenv(classroom.PACE_ENV, "0")
    _, room = classroom.setup(["ollama"], announce=False)
    assert room.fleet["ollama"].pace == 0.0

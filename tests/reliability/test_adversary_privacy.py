"""Adversarial privacy checks of the surfaces added after the first trust pass: the chat
panel's options and heartbeat turns, prompt-set runs (``orch.map``: routed, comparison,
pacing retries, resume, budget stop), ``%%ask --over``, and practice mode's stand-ins.

The cloud vessels are byte-counting traps on 127.0.0.1 posing as cloud (``local=False``,
see traps.py); connections off loopback are refused and recorded. A private or heartbeat
prompt, or any turn of a private exchange, must put zero bytes of itself into any trap.
"""

from __future__ import annotations

import uuid

import pytest

import vessel_nb as vnb
from vessel_nb import OllamaAdapter, Timeouts, pacing, session, standins
from vessel_nb.practice.fleet import MODELS
from vessel_nb.routing import Task

from .traps import cloud_adapters

LIMITS = Timeouts(connect=5.0, first_token=20.0, idle=20.0, total=60.0)


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture
def canary():
    return f"PRIVATE-CANARY-{uuid.uuid4().hex}"


@pytest.fixture
def orch(fleet, traps, tmp_path):
    srv = fleet["ollama"]
    srv.clear_fault()
    if not srv.running:
        srv.start()
    for trap in traps.values():
        trap.reset()
    vessels = {"ollama": OllamaAdapter(model=MODELS["ollama"], base_url=srv.base_url), **cloud_adapters(fleet, traps)}
    o = vnb.AIOrchestrator(vessels, log_path=tmp_path / "calls.sqlite3", timeouts=LIMITS)
    yield o
    srv.clear_fault()
    session.reset()
    o.close()


def trapped(traps) -> bytes:
    return b"".join(t.received for t in traps.values())


# --- the chat panel ---------------------------------------------------------------------------
def test_a_heartbeat_turn_of_the_chat_panel_never_follows_the_conversation_to_the_cloud(orch, fleet, traps, canary):
    panel = vnb.ChatPanel(orch)
    try:
        beat = panel.ask(f"heartbeat: {canary}", task={"heartbeat": True}).result(30)
        assert beat.vessel == "ollama" and beat.private
        fleet["ollama"].set_fault("down")
        reply = panel.ask("an open question").result(30)
    finally:
        panel.close()
    assert reply.vessel == "claude" and reply.withheld == 2
    assert b"an open question" in trapped(traps) and canary.encode() not in trapped(traps)


def test_a_task_given_to_panel_ask_adds_to_the_private_toggle_never_undoes_it(orch, fleet, traps, canary):
    fleet["ollama"].set_fault("down")
    panel = vnb.ChatPanel(orch)
    panel.private = True
    try:
        call = panel.ask(f"secret: {canary}", task={"needs_thinking": False})
        with pytest.raises(vnb.NoLocalVessel):
            call.result(30)
        assert panel.transcript[-1]["asked"]["private"] is True
    finally:
        panel.close()
    assert trapped(traps) == b"" and all(t.connections == 0 for t in traps.values())


def test_panel_ask_takes_a_task_object_as_the_orchestrator_does(orch):
    panel = vnb.ChatPanel(orch)
    try:
        reply = panel.ask("hello", task=Task(heartbeat=True)).result(30)
    finally:
        panel.close()
    assert reply.vessel == "ollama" and reply.private


# --- prompt-set runs ----------------------------------------------------------------------------
@pytest.fixture
def short_pauses(monkeypatch):
    monkeypatch.setattr(pacing, "_FIRST_BACKOFF", 0.02)


@pytest.mark.parametrize("fault", ["down", "status"])
def test_a_private_run_puts_zero_bytes_into_any_trap_through_pacing_retries(
    orch, fleet, traps, canary, short_pauses, fault
):
    fleet["ollama"].set_fault(fault, **({"code": 503} if fault == "status" else {}))
    prompts = [f"q{i} {canary}" for i in range(6)]
    routed = orch.map(prompts, task={"private": True}, retries=2, progress=False).wait(timeout=60)
    compared = orch.map(prompts, vessels=["ollama", "claude"], task={"heartbeat": True}, retries=2, progress=False)
    compared.wait(timeout=60)
    assert trapped(traps) == b"" and all(t.connections == 0 for t in traps.values())
    assert "ok" not in set(routed.df.outcome) | set(compared.df.outcome)
    cloud = compared.df[compared.df.vessel == "claude"]
    assert (cloud.outcome == "refused").all() and cloud.error.str.contains("not a local vessel").all()


def test_private_turns_of_a_prompt_set_stay_here_in_a_comparison_and_on_resume(orch, fleet, traps, canary):
    convo = [
        {"role": "user", "content": f"my secret is {canary}", "private": True},
        {"role": "assistant", "content": f"noted: {canary}", "private": True},
        {"role": "user", "content": "an open question"},
    ]
    run = orch.map(
        {"a": convo, "b": convo[:2] + [{"role": "user", "content": "another"}]}, vessels=["ollama", "claude"]
    )
    run.wait(timeout=60)
    assert set(run.df.outcome) == {"ok"}
    assert b"an open question" in trapped(traps) and canary.encode() not in trapped(traps)
    for trap in traps.values():
        trap.reset()
    again = orch.map(
        {"a": convo, "b": convo[:2] + [{"role": "user", "content": "another"}]}, vessels=["ollama", "claude"]
    )
    again.wait(timeout=60)
    assert again.df.resumed.all() and trapped(traps) == b""


def test_over_with_private_sends_nothing_to_the_cloud(orch, traps, canary):
    from IPython.utils.capture import capture_output

    from .loopback import ask_shell

    session.use(orch)
    shells = ask_shell()
    shell = next(shells)
    try:
        shell.user_ns["secrets"] = [f"{canary} one", f"{canary} two"]
        with capture_output():
            shell.run_cell("%%ask --over secrets --private --vessels ollama,claude -o res\nKeep {prompt}")
        run = shell.user_ns.pop("res")
    finally:
        shell.user_ns.pop("secrets", None)
        next(shells, None)
    assert list(run.df[run.df.vessel == "ollama"].outcome) == ["ok", "ok"]
    assert run.df[run.df.vessel == "claude"].error.str.contains("not a local vessel").all()
    assert trapped(traps) == b"" and all(t.connections == 0 for t in traps.values())


# --- practice mode's stand-ins ------------------------------------------------------------------
def test_stand_ins_are_judged_by_address_and_keep_each_vessel_s_locality(orch, fleet, canary):
    mode = standins.start(orch, everything=True, pace=0.0)
    try:
        practice = mode.orch
        local = practice.vessels["ollama"]
        assert local.local and local.is_loopback and local.base_url.startswith("http://127.0.0.1:")
        assert not any(practice.vessels[n].local for n in ("claude", "openai", "gemini"))  # cloud stays cloud
        assert practice.ask(f"keep {canary}", task={"private": True}).vessel == "ollama"
        mode.servers["ollama"].set_fault("down")
        with pytest.raises(vnb.NoLocalVessel):
            practice.ask(f"keep {canary}", task={"private": True})
        sent = b"".join(r.body for n in ("claude", "openai", "gemini") for r in mode.servers[n].requests)
        assert canary.encode() not in sent and sent == b""
    finally:
        standins.stop()

"""Private turns of a conversation never reach a vessel that is not local — enforced by the
orchestrator for every caller (the panels and the magic only mark the turns)."""

from __future__ import annotations

import json

import pytest

import vessel_nb as vnb
from vessel_nb import privacy

SECRET = "my-secret-diagnosis-7f3a"

HISTORY = [
    {"role": "user", "content": f"private question {SECRET}", "private": True},
    {"role": "assistant", "content": f"private answer {SECRET}", "private": True},
    {"role": "user", "content": "open question", "private": False},
    {"role": "assistant", "content": "open answer"},
    {"role": "user", "content": "and now?"},
]


@pytest.fixture
def calm(practice):
    """The practice fleet with patient time limits: these tests are about what is sent, and a
    loaded machine must not turn them into timeouts."""
    o = practice.orchestrator(log_path=False, timeouts=vnb.Timeouts(connect=5, first_token=20, idle=20, total=60))
    yield o
    o.close()


def _sent(srv) -> str:
    return "".join(json.dumps(r.json) for r in srv.requests)


def test_private_turns_are_withheld_from_a_cloud_vessel_with_a_note(calm, practice):
    chunks = []
    with calm.stream_sync(HISTORY, vessel="claude") as it:
        chunks = list(it)
    reply = chunks[-1].reply
    assert SECRET not in _sent(practice["claude"]) and "open question" in _sent(practice["claude"])
    notes = [c for c in chunks if c.event == "withheld"]
    assert len(notes) == 1 and "2 private messages were left out" in notes[0].detail
    assert reply.withheld == 2 and "withheld" in reply._repr_markdown_()
    # the mark itself is not part of any provider's wire format
    assert all("private" not in m for m in practice["claude"].requests[-1].json["messages"])


def test_a_local_vessel_gets_the_whole_conversation(calm, practice):
    reply = calm.ask(HISTORY, vessel="ollama")
    sent = practice["ollama"].requests[-1].json["messages"]
    assert reply.withheld == 0 and len(sent) == 5 and SECRET in json.dumps(sent)
    assert all(set(m) <= {"role", "content"} for m in sent)


def test_fallback_to_the_cloud_withholds_private_turns(calm, practice):
    practice["ollama"].set_fault("down")
    reply = calm.ask(HISTORY)
    assert reply.vessel == "claude" and reply.withheld == 2
    assert SECRET not in _sent(practice["claude"])


def test_asking_a_private_turn_makes_the_call_private(calm, practice):
    msgs = [{"role": "user", "content": SECRET, "private": True}]
    assert calm.ask(msgs).vessel == "ollama"
    with pytest.raises(vnb.NoLocalVessel, match="not a local vessel"):
        calm.ask(msgs, vessel="claude")
    practice["ollama"].set_fault("down")
    with pytest.raises(vnb.NoLocalVessel):
        calm.ask(msgs)
    for name in ("claude", "openai", "gemini"):
        assert practice[name].requests == []


def test_the_mark_must_be_a_bool(calm):
    with pytest.raises(vnb.ConfigError, match="'private' must be True or False, not str"):
        calm.ask([{"role": "user", "content": "x", "private": "false"}])


def test_the_last_line_of_defence_refuses_a_local_only_call_to_a_cloud_vessel(calm):
    with pytest.raises(vnb.NoLocalVessel, match="nothing was sent"):
        privacy.outgoing([{"role": "user", "content": "x"}], calm.vessels["claude"], local_only=True)


def test_chat_panel_keeps_a_private_turn_off_the_cloud_once_private_is_unticked(calm, practice):
    from vessel_nb.widgets import ChatPanel

    panel = ChatPanel(calm)
    panel.private = True
    assert panel.ask(f"private question {SECRET}").result(10).vessel == "ollama"
    panel.private = False
    panel.vessel = "claude"
    reply = panel.ask("summarise what we said").result(10)
    assert reply.vessel == "claude" and reply.withheld == 2
    assert SECRET not in _sent(practice["claude"])
    assert [e["kind"] for e in panel.transcript[-1]["events"]] == ["withheld"]
    panel.vessel = "ollama"  # a local vessel still gets the whole conversation
    panel.ask("and locally?").result(10)
    assert SECRET in json.dumps(practice["ollama"].requests[-1].json)
    panel.close()


def test_ask_chat_shows_that_private_turns_were_withheld(calm, practice):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from vessel_nb import session
    from vessel_nb.magic import load_ipython_extension, unload_ipython_extension

    shell = InteractiveShell.instance()
    session.use(calm)
    load_ipython_extension(shell)
    try:
        shell.run_cell(f"%%ask --private --new\nprivate question {SECRET}")
        with capture_output() as cap:
            shell.run_cell("%%ask --chat --vessel claude\nand now?")
    finally:
        unload_ipython_extension(shell)
        session.reset()
    final = [o for o in cap.outputs if not o.update][-1]
    assert "2 private messages withheld" in final.data["text/markdown"]
    assert final.metadata["vessel_nb"]["withheld"] == 2
    assert SECRET not in _sent(practice["claude"])

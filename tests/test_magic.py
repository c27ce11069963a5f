"""%%ask in an IPython InteractiveShell, against the practice servers on loopback.

What a notebook would receive is captured with IPython's capture_output (display data,
updates of the live display, printed text); interrupts are simulated in the kernel
thread itself (the real signal is exercised in test_magic_kernel.py).
"""

from __future__ import annotations

import base64
import json

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import vessel_nb
from vessel_nb import session
from vessel_nb.magic import AskMagics, args, compare, live, load_ipython_extension, render, unload_ipython_extension
from vessel_nb.magic.history import ChatHistory
from vessel_nb.practice import PracticeFleet

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
LONG = " ".join(f"word{i}" for i in range(3000))


@pytest.fixture(scope="module")
def fleet():
    with PracticeFleet(pace=0.002) as f:
        yield f


@pytest.fixture
def orch(fleet, tmp_path):
    for srv in fleet:
        srv.clear_fault()
        if not srv.running:
            srv.restart()
    o = vessel_nb.use(fleet.orchestrator(log_path=tmp_path / "calls.sqlite3"))
    yield o
    session.reset()
    o.close()


@pytest.fixture
def ip(orch):
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    yield shell
    unload_ipython_extension(shell)
    for name in ("answer", "img", "n", "obj", "cmp"):
        shell.user_ns.pop(name, None)


def magics(shell) -> AskMagics:
    return shell.magics_manager.registry["AskMagics"]


def ask(shell, line: str, cell: str):
    """Run a %%ask cell; returns (captured outputs, ExecutionResult)."""
    with capture_output() as cap:
        result = shell.run_cell(f"%%ask {line}\n{cell}")
    return cap, result


def final(cap):
    """The last ordinary (not update) display: the answer."""
    shown = [o for o in cap.outputs if not o.update]
    return shown[-1]


# --- options, interpolation ----------------------------------------------------------------
class Obj:
    shape = (12, 3)
    name = "results"


def test_interpolation_fills_names_attributes_and_indexes():
    ns = {"n": 42, "obj": Obj(), "xs": [1, 2, 3]}
    assert args.interpolate("{n} rows of {obj.name}: {obj.shape[0]} × {xs[2]}", ns) == "42 rows of results: 12 × 3"
    assert args.interpolate("{n:>4}|{obj.name!r}", ns) == "  42|'results'"


def test_interpolation_leaves_unknown_names_and_code_alone_and_unescapes_braces():
    ns = {"n": 1}
    text = 'unknown {missing} json {"a": 1} set {1, 2} attr {n.nope} {{n}} }} lone } {'
    assert args.interpolate(text, ns) == 'unknown {missing} json {"a": 1} set {1, 2} attr {n.nope} {n} } lone } {'


def test_parse_accepts_the_forms_users_know():
    a = args.parse(AskMagics.ask, '--vessel=ollama --system "Answer in Korean." -o answer -t 0.2 --max-tokens 50')
    assert (a.vessel, a.system, a.out, a.temperature, a.max_tokens) == (
        "ollama",
        "Answer in Korean.",
        "answer",
        0.2,
        50,
    )
    assert args.parse(AskMagics.ask, "-v claude -f code").format == "code"


@pytest.mark.parametrize(
    "line, words",
    [
        ("--bogus", "unrecognized arguments"),
        ('--system "unclosed', "cannot read the options"),
        ("--compare a,b --vessel a", "not both"),
        ("-o 2bad", "variable name"),
        ("--format html", "invalid choice"),
        ("--chat --new", "not both"),
    ],
)
def test_bad_options_are_usage_errors(line, words):
    with pytest.raises(UsageError, match=words):
        args.parse(AskMagics.ask, line)


def test_call_options_map_to_the_core_routes():
    a = args.parse(AskMagics.ask, "--private --think --vision img -s 'Be brief.'")
    opts = args.call_options(a, {"img": PNG})
    assert opts == {
        "task": {"private": True, "needs_vision": True, "needs_thinking": True},
        "system": "Be brief.",
        "images": [PNG],
    }
    assert args.call_options(args.parse(AskMagics.ask, "--vision ./x.png"), {})["images"] == ["./x.png"]


def test_braces_in_the_options_are_filled_by_ipython(ip, fleet):
    ip.user_ns["n"] = 7
    ask(ip, "-v ollama -s 'Use {n} words.'", "hi")
    assert fleet["ollama"].requests[-1].json["messages"][0]["content"] == "Use 7 words."


def test_help_lists_the_options():
    doc = AskMagics.ask.__doc__
    for option in ("--vessel", "--private", "--vision", "--think", "--format", "--out", "--compare", "--chat"):
        assert option in doc


def test_history_is_bounded_by_turns_and_characters():
    h = ChatHistory()
    for i in range(10):
        h.record(f"q{i}", "a" * 100)
    msgs = h.messages("now", max_turns=3, max_chars=10_000)
    assert [m["content"] for m in msgs[::2]] == ["q7", "q8", "q9", "now"]
    assert len(h.messages("now", max_turns=99, max_chars=250)) == 2 * 2 + 1


def test_a_cut_off_code_fence_is_closed_before_the_marks():
    assert render.answer_md("see:\n```python\nx = 1") == "see:\n\n```python\nx = 1\n```"
    assert render.answer_md("```\nx\n```") == "```\nx\n```"
    md = render.stopped_bundle("```python\nx = 1", "ollama", "markdown")["text/markdown"]
    assert md.index("\n```\n\n**Stopped — you interrupted") > 0


def test_code_is_taken_from_fenced_blocks():
    assert render.code_from("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```") == "x = 1\n\ny = 2"
    assert render.code_from("print(1)\n") == "print(1)"


# --- one call --------------------------------------------------------------------------------
def test_answer_streams_then_ends_neutral_and_is_shown_with_provenance(ip, orch, fleet):
    ip.user_ns["n"] = 42
    cap, result = ask(ip, "-o answer", "How many rows? {n} {{literal}}")
    assert result.success
    outputs = cap.outputs  # a new list of new objects on every access
    first, updates = outputs[0], [o for o in outputs if o.update]
    assert first.data == render.NEUTRAL and not first.update
    assert updates[-1].data == render.NEUTRAL, "the live display must end as it began (nbval)"
    assert any("streaming from ollama" in u.data.get("text/plain", "") for u in updates)
    reply = ip.user_ns["answer"]
    out = final(cap)
    assert out.data["text/markdown"].startswith(reply.text)
    assert "How many rows? 42 {literal}" in reply.text
    meta = out.metadata["vessel_nb"]
    assert (meta["vessel"], meta["model"], meta["reason"], meta["call_id"]) == (
        "ollama",
        "llama3.2",
        "priority",
        reply.call_id,
    )
    assert meta["tokens"]["out"] and meta["ttft_s"] is not None and meta["fallback_chain"] == []
    assert "practice-key" not in json.dumps([o.data for o in cap.outputs]) + json.dumps(meta)
    assert fleet["ollama"].requests[-1].json["messages"][-1]["content"] == "How many rows? 42 {literal}"
    assert orch.log.rows[-1]["outcome"] == "ok"


def test_updates_are_coalesced_and_the_final_text_is_complete(ip, fleet):
    fleet["ollama"].pace = 0.0
    try:
        magics(ip).max_updates_per_second = 5
        cap, _ = ask(ip, "-o answer --raw", "x")
    finally:
        fleet["ollama"].pace = 0.002
    ip.user_ns["answer"]  # noqa: B018
    out = magics(ip).last_output
    assert out.updates <= 4, "thousands of chunks must not mean thousands of updates"
    assert final(cap).data["text/plain"].startswith(ip.user_ns["answer"].text)


def test_fallback_is_shown_in_the_footer_and_metadata(ip, fleet):
    fleet["ollama"].stop()
    cap, result = ask(ip, "", "Hello")
    assert result.success
    out = final(cap)
    md = out.data["text/markdown"]
    assert "claude · claude-practice · fell back (ollama: connection refused → claude)" in md
    assert "ollama: connection refused → claude" in out.data["text/plain"]
    assert out.metadata["vessel_nb"]["reason"] == "fallback"
    assert out.metadata["vessel_nb"]["fallback_chain"][0].startswith("ollama: connection refused")
    assert any(
        "ollama: connection refused → trying the next vessel" in o.data.get("text/plain", "") for o in cap.outputs
    )
    fleet["ollama"].restart()
    cap, _ = ask(ip, "", "Hello again")
    assert final(cap).metadata["vessel_nb"]["vessel"] == "ollama", "a restarted local vessel is used at once"


def test_reasoning_then_failure_falls_back_and_the_live_display_drops_the_reasoning(ip, fleet):
    # claude streams two pieces of reasoning, then its error event: no answer was shown, so
    # the call falls back, and the live display must not keep showing that reasoning.
    fleet["anthropic"].set_fault("error_mid_stream", after=2)
    cap, result = ask(ip, "--think", "Why?")
    assert result.success
    updates = [o.data.get("text/markdown", "") for o in cap.outputs if o.update]
    at_fallback = next(u for u in updates if "trying the next vessel" in u)
    assert any("thinking…" in u for u in updates[: updates.index(at_fallback)]), "the reasoning was shown live"
    assert "thinking…" not in at_fallback
    meta = final(cap).metadata["vessel_nb"]
    assert meta["vessel"] == "openai" and meta["fallback_chain"][0].startswith("claude: ")
    assert "reasoning shown was discarded" in meta["fallback_chain"][0]


@pytest.mark.parametrize(
    "line, vessel, reason",
    [
        ("--vessel claude", "claude", "explicit"),
        ("--private", "ollama", "private"),
        ("--think", "claude", "thinking"),
        ("--vision img", "claude", "vision"),
    ],
)
def test_routing_options(ip, fleet, line, vessel, reason):
    ip.user_ns["img"] = PNG
    cap, result = ask(ip, line, "Look")
    assert result.success
    meta = final(cap).metadata["vessel_nb"]
    assert (meta["vessel"], meta["reason"]) == (vessel, reason)
    if "vision" in line:
        assert "I received 1 image" in final(cap).data["text/markdown"]
    if "think" in line:
        assert final(cap).data["text/markdown"].startswith("<details><summary>thinking</summary>")
        assert any("thinking…" in o.data.get("text/markdown", "") for o in cap.outputs if o.update)


def test_private_never_leaves_the_machine(ip, fleet):
    fleet["ollama"].stop()
    before = {s.provider: len(s.requests) for s in fleet}
    cap, result = ask(ip, "--private", "secret")
    assert isinstance(result.error_in_exec, vessel_nb.NoLocalVessel)
    assert "NoLocalVessel" in cap.stdout and "ollama serve" in cap.stdout
    assert "Traceback" not in cap.stdout
    assert {s.provider: len(s.requests) for s in fleet if s.provider != "ollama"} == {
        p: n for p, n in before.items() if p != "ollama"
    }


def test_explicit_vessel_with_model_and_options(ip, fleet):
    cap, result = ask(ip, "-v openai -m gpt-other -t 0.5 --max-tokens 7 -s 'Be brief.'", "hi")
    assert result.success
    body = fleet["openai"].requests[-1].json
    assert (body["model"], body["temperature"], body["messages"][0]["content"]) == ("gpt-other", 0.5, "Be brief.")
    assert final(cap).metadata["vessel_nb"]["model"] == "gpt-other"


def test_format_code_offers_a_new_cell(ip, fleet):
    fleet["ollama"].reply = "Here you are:\n```python\nprint('hi')\n```\n"
    try:
        cap, result = ask(ip, "--format code", "code please")
    finally:
        fleet["ollama"].reply = None
    assert result.success
    assert ip.rl_next_input == "print('hi')"
    assert "in a new cell below" in final(cap).data["text/markdown"]
    assert fleet["ollama"].requests[-1].json["messages"][0]["role"] == "system"


def test_format_text_is_plain(ip):
    cap, _ = ask(ip, "-f text", "hi")
    assert set(final(cap).data) == {"text/plain"}


def test_chat_continues_with_bounded_history(ip, fleet):
    ask(ip, "", "first question")
    ask(ip, "", "second question")
    magics(ip).history_turns = 1
    ask(ip, "--chat", "third question")
    msgs = fleet["ollama"].requests[-1].json["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == "second question" and msgs[2]["content"] == "third question"
    ask(ip, "--new", "fresh")
    assert len(fleet["ollama"].requests[-1].json["messages"]) == 1
    assert len(magics(ip).history) == 1


def test_chat_never_carries_a_private_exchange_to_the_cloud(ip, fleet):
    ask(ip, "--private", "my secret diagnosis")
    ask(ip, "--vessel claude --chat", "go on")
    sent = json.dumps(fleet["claude"].requests[-1].json)
    assert "secret" not in sent
    ask(ip, "--private --chat", "go on privately")
    assert "my secret diagnosis" in json.dumps(fleet["ollama"].requests[-1].json)


# --- errors ----------------------------------------------------------------------------------
def test_all_failed_is_a_short_message_and_tb_still_works(ip, fleet):
    for srv in fleet:
        srv.set_fault("status", code=503)
    cap, result = ask(ip, "", "hi")
    err = result.error_in_exec
    assert isinstance(err, vessel_nb.AllVesselsFailed)
    assert "all 4 vessels failed" in cap.stdout and "What to do" in cap.stdout
    assert cap.stdout.count("•") == 4 and "Traceback" not in cap.stdout
    assert len(cap.stdout.splitlines()) < 15
    with capture_output() as tb:
        ip.run_line_magic("tb", "")
    assert "Traceback" in tb.stdout or "File" in tb.stdout, "%tb shows the real traceback afterwards"
    with capture_output() as tb2:
        ip.run_line_magic("ask", "tb")
    assert "AllVesselsFailed" in tb2.stdout and "vessel_nb/fallback.py" in tb2.stdout


def test_traceback_flag_and_trait(ip, fleet):
    fleet["ollama"].stop()
    cap, result = ask(ip, "--traceback -v ollama", "hi")
    assert isinstance(result.error_in_exec, vessel_nb.AllVesselsFailed)
    assert "magics.py" in cap.stdout or "Traceback" in cap.stdout
    magics(ip).raise_errors = False
    cap, result = ask(ip, "-v ollama", "hi")
    assert result.success
    box = final(cap)
    assert (
        "connection refused" in box.data["text/markdown"] and box.metadata["vessel_nb"]["error"] == "AllVesselsFailed"
    )


def test_missing_key_names_the_variable(ip, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    orch = vessel_nb.use(vessel_nb.AIOrchestrator({"claude": vessel_nb.ClaudeAdapter()}, log_path=False))
    cap, result = ask(ip, "", "hi")
    assert isinstance(result.error_in_exec, vessel_nb.AllVesselsFailed)
    assert "ANTHROPIC_API_KEY is not set" in cap.stdout and "environment variable" in cap.stdout
    orch.close()


@pytest.mark.parametrize(
    "line, words",
    [
        ("-v olama", "unknown vessel 'olama'"),
        ("-m other", "give vessel= too"),
        ("-t 5", "temperature must be between 0 and 2"),
        ("--vision nothere.png", "image file not found"),
    ],
)
def test_bad_input_is_a_one_line_config_error(ip, line, words):
    cap, result = ask(ip, line, "hi")
    assert isinstance(result.error_in_exec, vessel_nb.ConfigError)
    assert words in cap.stdout and len(cap.stdout.strip().splitlines()) == 1
    assert not cap.outputs, "nothing is displayed for a call that was never sent"


def test_empty_cell_and_unknown_option_are_usage_errors(ip):
    for cell, line in (("   ", ""), ("hi", "--nope")):
        cap, result = ask(ip, line, cell)
        assert isinstance(result.error_in_exec, UsageError)


def test_broken_stream_keeps_the_partial_text(ip, fleet):
    fleet["ollama"].set_fault("error_mid_stream", after=5)
    cap, result = ask(ip, "", "hi")
    assert isinstance(result.error_in_exec, vessel_nb.StreamInterrupted)
    shown = final(cap).data["text/markdown"]
    assert shown.startswith("This is the practice") and "ollama broke off" in shown
    assert "partial answer is shown above" in cap.stdout


# --- interrupt -------------------------------------------------------------------------------
@pytest.fixture
def interrupt_after(monkeypatch):
    """Make a KeyboardInterrupt land in the kernel thread after n chunks, as a real one does."""

    def arm(n: int):
        original = live.RichStream.add
        seen = []

        def add(self, *a, **kw):
            original(self, *a, **kw)
            seen.append(1)
            if len(seen) == n:
                raise KeyboardInterrupt

        monkeypatch.setattr(live.RichStream, "add", add)

    return arm


def test_interrupt_cancels_the_call_and_marks_the_partial_text(ip, orch, fleet, interrupt_after):
    fleet["ollama"].reply = LONG
    interrupt_after(20)
    disconnects = fleet["ollama"].disconnects
    try:
        cap, result = ask(ip, "-o answer", "long please")
    finally:
        fleet["ollama"].reply = None
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    # One message: the KeyboardInterrupt line says what stopped; the answer is not marked too.
    assert "%%ask stopped — you interrupted the answer from ollama after" in cap.stdout
    assert "Traceback" not in cap.stdout and cap.stdout.count("stopped") == 1
    out = final(cap)
    assert out.data["text/markdown"].startswith("word0 word1") and "topped" not in out.data["text/markdown"]
    assert out.metadata["vessel_nb"]["stopped"] is True
    assert [o.data for o in cap.outputs if o.update][-1] == render.NEUTRAL
    assert orch.log.rows[-1]["outcome"] == "cancelled", "the call has stopped before the cell ends"
    fleet["ollama"].wait_for(lambda: fleet["ollama"].disconnects > disconnects, timeout=5)
    assert "answer" not in ip.user_ns
    cap, result = ask(ip, "", "next cell")
    assert result.success and final(cap).metadata["vessel_nb"]["vessel"] == "ollama"


def test_interrupt_can_end_the_cell_cleanly(ip, fleet, interrupt_after):
    magics(ip).reraise_interrupt = False
    fleet["ollama"].reply = LONG
    interrupt_after(3)
    try:
        cap, result = ask(ip, "", "long please")
    finally:
        fleet["ollama"].reply = None
    md = final(cap).data["text/markdown"]
    assert result.success and "**Stopped — you interrupted the answer from ollama after" in md
    assert "stopped" not in cap.stdout, "the mark is the one message"


# --- compare ---------------------------------------------------------------------------------
def test_compare_plain_table(ip, orch):
    magics(ip).compare_widget = False
    cap, result = ask(ip, "--compare ollama,claude -o cmp", "Compare me")
    assert result.success
    out = final(cap)
    assert "<table class='vessel-nb-compare'>" in out.data["text/html"]
    assert "practice ollama vessel" in out.data["text/html"] and "practice claude vessel" in out.data["text/html"]
    assert set(ip.user_ns["cmp"]) == {"ollama", "claude"}
    cid = out.metadata["vessel_nb"]["compare_id"]
    assert {r["vessel"] for r in orch.log.rows if r["compare_id"] == cid} == {"ollama", "claude"}
    assert [o.data for o in cap.outputs if o.update][-1] == render.NEUTRAL


def test_compare_one_failing_column(ip, fleet):
    magics(ip).compare_widget = False
    fleet["claude"].stop()
    cap, result = ask(ip, "--compare ollama,claude -o cmp", "Compare me")
    assert result.success
    assert isinstance(ip.user_ns["cmp"]["claude"], vessel_nb.AllVesselsFailed)
    assert "failed: claude" in final(cap).data["text/plain"]


def test_compare_uses_the_widget_when_available(ip):
    cap, result = ask(ip, "--compare ollama,gemini -o cmp", "Compare me")
    assert result.success
    assert {n: r.vessel for n, r in ip.user_ns["cmp"].items()} == {"ollama": "ollama", "gemini": "gemini"}
    assert any("application/vnd.jupyter.widget-view+json" in o.data for o in cap.outputs)


def test_compare_widget_interrupt_ends_after_the_calls_stopped(ip, orch, fleet, monkeypatch):
    from vessel_nb.widgets import compare as widget_compare

    fleet["ollama"].reply = fleet["claude"].reply = LONG
    sent = {n: len(fleet[n].requests) for n in ("ollama", "claude")}

    def interrupted_wait(event, timeout, on_interrupt):
        """An interrupt landing in the widget's wait once both columns stream."""
        fleet["ollama"].wait_for(lambda: all(len(fleet[n].requests) > k for n, k in sent.items()), timeout=5)
        on_interrupt()
        raise KeyboardInterrupt

    monkeypatch.setattr(widget_compare, "wait_event", interrupted_wait)
    try:
        cap, result = ask(ip, "--compare ollama,claude", "long")
    finally:
        fleet["ollama"].reply = fleet["claude"].reply = None
    assert isinstance(result.error_in_exec, KeyboardInterrupt) and "--compare stopped" in cap.stdout
    assert sorted(r["outcome"] for r in orch.log.rows) == ["cancelled", "cancelled"]


def test_compare_bad_names(ip):
    _, result = ask(ip, "--compare ollama", "x")
    assert isinstance(result.error_in_exec, UsageError)
    _, result = ask(ip, "--compare ollama,nope", "x")
    assert "unknown vessel 'nope'" in str(result.error_in_exec)


def test_compare_interrupt_cancels_every_column(ip, orch, fleet, monkeypatch):
    magics(ip).compare_widget = False
    fleet["ollama"].reply = fleet["claude"].reply = LONG
    calls = []
    original = compare.table_bundle

    def table(*a, **kw):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(*a, **kw)

    monkeypatch.setattr(compare, "table_bundle", table)
    try:
        cap, result = ask(ip, "--compare ollama,claude", "long")
    finally:
        fleet["ollama"].reply = fleet["claude"].reply = None
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert sorted(r["outcome"] for r in orch.log.rows) == ["cancelled", "cancelled"]
    assert "stopped" in final(cap).data["text/plain"]


# --- line commands ---------------------------------------------------------------------------
def test_status_vessels_config(ip, fleet):
    fleet["ollama"].stop()
    status = ip.run_line_magic("ask", "status")
    rows = {r[0]: r for r in status.rows}
    assert rows["ollama"][2] == "✗" and "connection refused" in rows["ollama"][4]
    assert rows["claude"][2] == "✓" and rows["claude"][1] == "cloud"
    assert "<table>" in status._repr_html_()
    vessels = ip.run_line_magic("ask", "vessels")
    assert [r[1] for r in vessels.rows] == ["ollama", "claude", "openai", "gemini"]
    assert vessels.rows[2][2] == "openai: chat (auto)"  # the practice OpenAI is not OpenAI's host
    assert "practice-key" not in repr(vessels) + repr(status)
    config = repr(ip.run_line_magic("ask", "config"))
    assert "AskMagics.max_updates_per_second" in config and "practice-key" not in config


def test_use_and_log(ip, orch):
    with capture_output() as cap:
        ip.run_line_magic("ask", "use gemini")
    assert orch.active == "gemini" and "gemini" in cap.stdout
    c, _ = ask(ip, "", "hi")
    assert final(c).metadata["vessel_nb"]["vessel"] == "gemini"
    ip.run_line_magic("ask", "use auto")
    assert orch.active is None
    ask(ip, "", "hi")
    df = ip.run_line_magic("ask", "log")
    assert list(df["vessel"][:2]) == ["ollama", "gemini"], "most recent first"
    assert len(ip.run_line_magic("ask", "log 1")) == 1
    with pytest.raises(UsageError):
        ip.run_line_magic("ask", "use nope")


def test_unknown_command_forget_help(ip):
    with pytest.raises(UsageError, match="unknown command"):
        ip.run_line_magic("ask", "stats")
    with capture_output() as cap:
        ip.run_line_magic("ask", "")
        ip.run_line_magic("ask", "forget")
    assert "%ask status" in cap.stdout and "Forgot 0 exchanges" in cap.stdout


def test_unload_removes_the_magic(ip):
    unload_ipython_extension(ip)
    assert ip.find_cell_magic("ask") is None and ip.find_line_magic("ask") is None
    assert "AskMagics" not in ip.magics_manager.registry
    load_ipython_extension(ip)  # for the fixture's own unload
    assert ip.find_cell_magic("ask") is not None


def test_traits_are_configurable(ip):
    ip.run_line_magic("config", "AskMagics.max_updates_per_second = 3")
    assert magics(ip).max_updates_per_second == 3
    assert magics(ip) in ip.configurables


def test_terminal_mode_prints_the_stream(ip, capsys):
    magics(ip).display_mode = "text"
    result = ip.run_cell("%%ask -o answer\nhello terminal")
    printed = capsys.readouterr().out
    assert result.success
    assert ip.user_ns["answer"].text in printed and "— ollama · llama3.2 · first in priority" in printed


def test_text_held_back_by_coalescing_is_shown_during_a_pause(monkeypatch):
    """A burst, then silence: the pause's tick shows the held-back text without waiting for the next chunk."""
    from vessel_nb.magic import live

    pushed = []
    stream = live.RichStream("markdown", max_rate=10)
    monkeypatch.setattr(stream, "_handle", object())
    monkeypatch.setattr(
        stream,
        "_push",
        lambda: (pushed.append(stream.text), setattr(stream, "_dirty", False), setattr(stream, "_last", clock[0])),
    )
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    stream.add("Hello")  # the first token shows at once
    stream.add(" there")  # within 0.1 s: held back
    stream.tick()
    assert pushed == ["Hello"]
    clock[0] += 0.15  # a pause in the stream; the loop ticks
    stream.tick()
    assert pushed == ["Hello", "Hello there"]
    stream.tick()
    assert len(pushed) == 2  # nothing new: no update


def test_stream_sync_ticks_while_the_vessel_is_silent(fleet):
    import vessel_nb

    orch = fleet.orchestrator(log_path=False)
    fleet["ollama"].set_fault("slow_first_token", delay=0.35)
    try:
        with orch.stream_sync("hi", vessel="ollama", ticks=True) as chunks:
            items = list(chunks)
    finally:
        fleet["ollama"].clear_fault()
        orch.close()
    first_text = next(i for i, c in enumerate(items) if c is not None)
    assert first_text >= 2 and all(c is None for c in items[:first_text])
    assert isinstance(items[-1], vessel_nb.Chunk) and items[-1].done


# --- small things: reasons in words, {name} warnings, the --vision thumbnail, glyphs --------
def test_the_footer_says_why_in_words(ip, orch):
    _, _ = ask(ip, "", "first")
    cap, _ = ask(ip, "--vessel claude", "chosen")
    assert " · claude-practice · you chose it · first token" in final(cap).data["text/markdown"]
    assert final(cap).metadata["vessel_nb"]["reason"] == "explicit", "the metadata keeps the code"
    cap, _ = ask(ip, "--private", "secret")
    assert "ollama · llama3.2 · private: stays on this machine ·" in final(cap).data["text/markdown"]
    cap, _ = ask(ip, "", "plain")
    assert "ollama · llama3.2 · first in priority ·" in final(cap).data["text/markdown"]


def test_an_undefined_name_is_named_in_a_warning_and_still_sent(ip, fleet):
    ip.user_ns["n"] = 3
    cap, result = ask(ip, "", "Show {n} rows of {tabel} and {n.real} {obj.nope}")
    assert result.success
    assert "%%ask warning: {tabel}, {obj.nope} are not defined here" in cap.stderr
    assert "{{tabel}}" in cap.stderr and "--raw" in cap.stderr and "--strict" in cap.stderr
    sent = fleet["ollama"].requests[-1].json["messages"][-1]["content"]
    assert sent == "Show 3 rows of {tabel} and 3 {obj.nope}"
    cap, _ = ask(ip, "", 'JSON {"a": 1} and {{escaped}} stay quiet')
    assert cap.stderr == ""


def test_strict_makes_an_undefined_name_an_error_and_sends_nothing(ip, fleet):
    before = len(fleet["ollama"].requests)
    cap, result = ask(ip, "--strict", "About {topic}")
    assert isinstance(result.error_in_exec, UsageError)
    assert "{topic} is not defined here" in str(result.error_in_exec) and "nothing was sent" in str(
        result.error_in_exec
    )
    assert len(fleet["ollama"].requests) == before
    magics(ip).strict = True
    try:
        _, result = ask(ip, "--raw", "About {topic}")  # --raw fills nothing in, so nothing is missing
        assert result.success
        _, result = ask(ip, "", "About {topic}")
        assert isinstance(result.error_in_exec, UsageError)
    finally:
        magics(ip).strict = False


def test_vision_shows_a_thumbnail_of_what_was_sent(ip, fleet, tmp_path):
    from PIL import Image as PILImage

    big = tmp_path / "photo.png"
    PILImage.new("RGB", (800, 400), (30, 120, 200)).save(big)
    cap, result = ask(ip, f"--vision {big}", "What is this?")
    assert result.success
    shown = [o for o in cap.outputs if not o.update]
    thumb_out = shown[0]
    assert "image/png" in thumb_out.data and "photo.png (PNG" in thumb_out.data["text/plain"]
    with PILImage.open(__import__("io").BytesIO(base64.b64decode(thumb_out.data["image/png"]))) as im:
        assert max(im.size) == 160, "scaled down: the notebook file keeps a thumbnail, not the photo"
    assert thumb_out.metadata["vessel_nb"]["sent_image"]["bytes"] == big.stat().st_size
    assert shown[-1].data["text/markdown"].startswith("This is the practice")
    sent = fleet["ollama"].requests[-1].json if fleet["ollama"].requests else None
    assert sent is not None


def test_thumbnail_without_pillow_keeps_small_images_and_names_big_ones(monkeypatch):
    from vessel_nb.images import load_image
    from vessel_nb.magic import thumb

    monkeypatch.setattr(thumb, "_scaled", lambda data: None)
    data, meta = thumb.bundle(load_image(PNG), "img")
    assert data["image/png"] == base64.b64encode(PNG).decode() and meta["image/png"] == {"width": thumb.SIDE}
    huge = PNG + b"\0" * (thumb.MAX_RAW + 1)
    data, meta = thumb.bundle(load_image(huge), "big.png")
    assert list(data) == ["text/plain"] and "big.png (PNG, 200 KB)" in data["text/plain"]


def test_magic_output_uses_only_glyphs_that_stock_fonts_draw():
    """DejaVu Sans (Debian's default) has no U+23F9 "stop" glyph: it showed as an empty box."""
    from pathlib import Path

    drawn = set("—–→…▌⚠✂✓✗·•«»")  # all in DejaVu Sans
    for path in Path(vessel_nb.__file__).parent.joinpath("magic").glob("*.py"):
        odd = {c for c in path.read_text("utf-8") if ord(c) > 127} - drawn
        assert not odd, f"{path.name} uses {sorted(odd)}; use plain words or a glyph from the list"


def test_log_shows_the_columns_a_person_reads_newest_first(ip, orch, fleet):
    from vessel_nb.magic import logview

    with capture_output() as cap:
        assert ip.run_line_magic("ask", "log") is None
    assert "No calls logged yet in this session" in cap.stdout
    fleet["ollama"].stop()
    ask(ip, "", "A question that is rather long, so the log view has to shorten it for the table")
    fleet["ollama"].restart()
    ask(ip, "--vessel gemini", "second")
    df = ip.run_line_magic("ask", "log")
    assert list(df.columns) == logview.COLUMNS
    first, fell_back, failed = df.to_dict("records")
    assert (first["vessel"], first["reason"], first["prompt"]) == ("gemini", "you chose it", "second")
    assert (fell_back["vessel"], fell_back["fallback from"], fell_back["reason"]) == (
        "claude",
        "ollama",
        "first in priority",
    )
    assert failed["outcome"].startswith("error: connection refused") and failed["tokens"] == ""
    assert fell_back["prompt"].endswith("…") and len(fell_back["prompt"]) == logview.PROMPT_CHARS
    assert fell_back["total"].endswith(" s") and len(fell_back["total"].split(".")[1]) == 4  # "0.12 s"
    assert fell_back["tokens"].endswith(" out") and ":" in first["time"]
    assert len(ip.run_line_magic("ask", "log 2")) == 2
    every = ip.run_line_magic("ask", "log 1 --all")
    assert len(every) == 1 and {"call_id", "error_kind", "session_id", "started_at"} <= set(every.columns)
    assert every["vessel"][0] == "gemini" and every["ttft_s"][0] == orch.log.rows[-1]["ttft_s"], "not rounded"
    assert len(ip.run_line_magic("ask", "log --saved")) >= 3
    with pytest.raises(UsageError, match="--all"):
        ip.run_line_magic("ask", "log many")

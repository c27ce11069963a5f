"""%%ask --over, attacked: an interrupt mid-run, and options that cannot go with it."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import vessel_nb
from vessel_nb import progress, session
from vessel_nb.magic import load_ipython_extension, unload_ipython_extension


@pytest.fixture
def shell(orch):
    vessel_nb.use(orch)
    sh = InteractiveShell.instance()
    load_ipython_extension(sh)
    yield sh
    unload_ipython_extension(sh)
    for name in ("qs", "res"):
        sh.user_ns.pop(name, None)
    session.reset()


def run_cell(shell, line: str, cell: str):
    with capture_output() as cap:
        result = shell.run_cell(f"%%ask {line}\n{cell}")
    shown = cap.stdout + cap.stderr + "".join(str(o.data) for o in cap.outputs)
    return cap, result, shown


def test_an_interrupt_mid_run_shows_what_finished_and_says_so_once(shell, orch, practice, monkeypatch):
    practice["claude"].set_fault("hang_headers")  # claude's pairs never finish: the run is mid-way
    original = progress.TerminalProgress.draw

    def draw(self, snap, *, final=False):
        original(self, snap, final=final)
        if not final and snap.finished >= 1:
            raise KeyboardInterrupt  # lands in the waiting kernel thread, as a real one does

    monkeypatch.setattr(progress.TerminalProgress, "draw", draw)
    shell.user_ns["qs"] = ["q1 hi", "q2 hi"]
    cap, result, shown = run_cell(shell, "--over qs --vessels ollama,claude -o res", "Say {prompt}")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "%%ask --over stopped — you interrupted the run after" in cap.stdout
    assert "Traceback" not in cap.stdout and "runs.py" not in cap.stdout
    run = shell.user_ns["res"]
    assert run.status == "stopped" and run.done()
    assert any("text/html" in o.data and "prompt_id" in o.data["text/html"] for o in cap.outputs)  # what finished
    assert "ok" in set(run.df.outcome)


def test_over_takes_vessel_for_one_vessel(shell, practice):
    shell.user_ns["qs"] = ["q5 hi"]
    _, result, shown = run_cell(shell, "--over qs --vessel claude -o res", "Say {prompt}")
    assert result.error_in_exec is None, shown
    assert list(shell.user_ns["res"].df.vessel) == ["claude"]


@pytest.mark.parametrize(
    "line, says",
    [
        ("--over qs --compare ollama,claude", "cannot go with --compare"),
        ("--over qs --chat", "cannot go with --chat"),
        ("--over qs --vessel ollama --vessels ollama,claude", "not both"),
        ("--vessels ollama,claude", "--vessels goes with --over"),
    ],
)
def test_options_that_cannot_go_with_over_are_one_clear_error_and_nothing_runs(shell, orch, line, says):
    shell.user_ns["qs"] = ["q6 hi"]
    before = len(orch.log.rows)
    _, result, shown = run_cell(shell, line, "Say {prompt}")
    assert result.error_in_exec is not None and says in shown, shown
    assert len(orch.log.rows) == before

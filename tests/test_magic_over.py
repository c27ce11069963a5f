"""%%ask --over VAR --vessels A,B: the cell as a template over a list or DataFrame (orch.map)."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import vessel_nb
from vessel_nb import session
from vessel_nb.magic import load_ipython_extension, unload_ipython_extension


@pytest.fixture
def shell(orch):
    vessel_nb.use(orch)
    sh = InteractiveShell.instance()
    load_ipython_extension(sh)
    yield sh
    unload_ipython_extension(sh)
    for name in ("fruit", "qs", "res"):
        sh.user_ns.pop(name, None)
    session.reset()


def test_over_a_dataframe_on_two_vessels(shell, practice):
    shell.user_ns["fruit"] = pd.DataFrame({"name": ["q1 apple", "q2 pear"]})
    with capture_output() as cap:
        shell.run_cell("%%ask --over fruit --vessels ollama,claude --out res\nDescribe {name} in a word.")
    run = shell.user_ns["res"]
    assert run.status == "done" and len(run.df) == 4 and set(run.df.outcome) == {"ok"}
    assert run.df.prompt[0] == "Describe q1 apple in a word." and list(run.df.vessel[:2]) == ["ollama", "claude"]
    assert any("text/html" in o.data and "Describe" not in o.data["text/html"] for o in cap.outputs)  # the table


def test_over_a_list_routed_and_bad_names(shell, practice):
    shell.user_ns["qs"] = ["q3 hi", "q4 hi"]
    with capture_output():
        shell.run_cell("%%ask --over qs --out res\n{prompt}")
    assert list(shell.user_ns["res"].df.outcome) == ["ok", "ok"]
    with capture_output() as cap:
        shell.run_cell("%%ask --over nothing_here\nx {prompt}")
    assert "no variable 'nothing_here'" in cap.stderr + cap.stdout + "".join(str(o.data) for o in cap.outputs)
    with capture_output() as cap:
        shell.run_cell("%%ask --over qs --vessels ollama,nope\nSay {prompt}")
    assert "unknown vessel 'nope'" in cap.stderr + cap.stdout + "".join(str(o.data) for o in cap.outputs)

"""CompareWidget showing a prompt-set run as a live table (widgets/_runtable.py): cells sent
as deltas while the run goes, the whole table once at its end, answers rendered safely, a
snapshot for a late view, routed runs, failures, Stop, and the static fallback."""

from __future__ import annotations

import json
import re

import pytest

import vessel_nb as vnb
from vessel_nb.widgets import CompareWidget
from vessel_nb.widgets._runtable import SNIPPET_CHARS, snippet
from vessel_nb.widgets._static import FALLBACK_ROWS, STATIC

from .test_widgets import FakeOllama, Wire, _compare_orch, poll


@pytest.fixture
def pair():
    fakes = {n: FakeOllama([f" {n}", " says", " **hello**."], pace=0.005) for n in ("a", "b")}
    o = _compare_orch(fakes)
    yield o, fakes
    o.close()


def _run(cmp: CompareWidget, prompts, **kw):
    run = cmp.map(prompts, progress=False, **kw).wait(timeout=60)
    cmp._follower.wait(10)
    return run


def _cells_sent(wire: Wire) -> list[tuple[int, int]]:
    return [(r, c) for m in wire.custom("cells") for r, c, _ in m["cells"]]


def test_a_run_fills_the_table_by_deltas_then_puts_it_whole_in_the_trait_once(pair):
    o, fakes = pair
    cmp = CompareWidget(o, vessels=["a", "b"])
    wire = Wire(cmp)
    run = _run(cmp, [f"question {i}" for i in range(30)], per_vessel=2)
    assert run.status == "done"
    sent = _cells_sent(wire)
    assert sorted(sent) == [(r, c) for r in range(30) for c in range(2)]  # each pair once
    messages = wire.custom("cells")
    assert 1 <= len(messages) < 60, "cells are gathered per update, not one message each"
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    tables = [u["table"] for u in wire.updates() if "table" in u]
    assert len(tables) == 2 and tables[0]["cells"] is None and len(tables[1]["cells"]) == 30
    table = cmp.table
    assert table["cols"] == ["a", "b"] and table["rows"][3] == ["3", "question 3"]
    cell = table["cells"][3][1]
    assert cell["outcome"] == "ok" and cell["html"] == "<p>b says <strong>hello</strong>.</p>\n"
    assert cell["latency_s"] >= cell["ttft_s"] > 0 and cell["tokens_out"] == 3 and "vessel" not in cell
    assert cmp.table_progress["status"] == "done" and cmp.table_progress["finished"] == 60
    assert cmp.table_progress["slots"]["a"] == {
        "total": 30, "done": 30, "failed": 0, "cancelled": 0, "in_flight": 0, "paused_s": 0,
    }  # fmt: skip


def test_cells_in_flight_are_marked_while_the_run_goes(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 0.05
    cmp = CompareWidget(o, vessels=["a", "b"])
    cmp.table_interval = 0.05
    wire = Wire(cmp)
    _run(cmp, [f"q{i}" for i in range(6)], per_vessel=1)
    asking = [m["asking"] for m in wire.custom("cells")]
    assert any(asking), "no update said which pairs were being asked"
    assert all(len([a for a in now if a[1] == c]) <= 1 for now in asking for c in (0, 1))  # per_vessel=1
    assert asking[-1] == []


def test_bytes_on_the_wire_grow_with_the_table_not_its_square(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 0.0

    def per_pair(n: int) -> float:
        cmp = CompareWidget(o, vessels=["a", "b"])
        wire = Wire(cmp)
        _run(cmp, [f"prompt number {i} of {n}" for i in range(n)], per_vessel=8)
        return wire.total / (2 * n)

    small, large = per_pair(50), per_pair(400)
    assert large < 1.5 * small, f"{small:.0f} bytes a pair for 50 prompts, {large:.0f} for 400"


def test_answers_are_untrusted_and_reach_the_table_inert():
    hostile = FakeOllama(
        [
            "<script>alert(1)</script>\n\n",
            "A [bad link](javascript:void(0)).\n\n",
            "![p](http://127.0.0.1:9/p.png)\n\n",
            "<img src=x onerror=alert(1)>",
        ]
    )
    o = _compare_orch({"h": hostile})
    cmp = CompareWidget(o, vessels=["h"])
    _run(cmp, ["hi"])
    html = cmp.table["cells"][0][0]["html"]
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "href" not in html and "vnb-link-dropped" in html
    assert "<img" not in html and "[image: p]" in html
    fallback = cmp._fallback["text/html"]
    assert "<script" not in fallback and "<img" not in fallback
    o.close()


def test_a_long_answer_shows_its_beginning():
    text, cut = snippet("word " * 200)
    assert cut and len(text) <= SNIPPET_CHARS + 2 and text.endswith(" …")
    assert snippet("short answer") == ("short answer", False)


def test_a_failed_pair_is_shown_as_failed_and_the_others_go_on():
    fakes = {"good": FakeOllama(), "gone": FakeOllama(fail="refused")}
    o = _compare_orch(fakes)
    cmp = CompareWidget(o, vessels=["good", "gone"])
    run = _run(cmp, ["one", "two"])
    assert list(run.df.outcome) == ["ok", "error", "ok", "error"]
    good, gone = cmp.table["cells"][1]
    assert good["outcome"] == "ok" and gone["outcome"] == "error" and "gone" in gone["error"]
    assert cmp.table_progress["slots"]["gone"]["failed"] == 2
    assert "failed" in cmp._fallback["text/html"] and "failed" in cmp._fallback["text/plain"]
    o.close()


def test_a_routed_run_has_one_column_naming_the_vessel_that_answered():
    fakes = {"first": FakeOllama(fail="refused"), "second": FakeOllama()}
    o = _compare_orch(fakes)
    cmp = CompareWidget(o, vessels=["first", "second"])
    _run(cmp, ["one", "two"], vessels=None)
    assert cmp.table["cols"] == ["routed"] and cmp.table["slots"] == ["auto"] and cmp.table["local"] == [None]
    assert [row[0]["vessel"] for row in cmp.table["cells"]] == ["second", "second"]
    o.close()


def test_a_view_opening_mid_run_gets_every_cell_so_far(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 0.03
    cmp = CompareWidget(o, vessels=["a", "b"])
    cmp.table_interval = 0.05
    wire = Wire(cmp)
    run = cmp.map([f"q{i}" for i in range(16)], per_vessel=1, progress=False)
    poll(lambda: len(_cells_sent(wire)) >= 3, what="a few cells")
    cmp._handle_custom_msg({"t": "table-sync"}, [])
    snap = wire.custom("table-snapshot")[-1]
    assert snap["table"] == cmp.table["key"]
    upto = [m for m in wire.custom("cells") if m["seq"] <= snap["seq"]]
    assert sorted((r, c) for r, c, _ in snap["cells"]) == sorted((r, c) for m in upto for r, c, _ in m["cells"])
    run.wait(timeout=60)


def test_show_attaches_a_run_that_already_exists(pair):
    o, _ = pair
    run = o.map(["x", "y"], vessels=["a"], progress=False).wait(timeout=60)
    cmp = CompareWidget(o, vessels=["a", "b"])
    assert cmp.show(run) is run
    cmp._follower.wait(10)
    assert cmp.table["cols"] == ["a"] and all(row[0]["outcome"] == "ok" for row in cmp.table["cells"])
    # the same run shown again is a new table for the views (resumed: every pair from the log)
    first_key = cmp.table["key"]
    again = o.map(["x", "y"], vessels=["a"], progress=False)
    assert again.run_id == run.run_id
    cmp.show(again.wait(timeout=60))
    cmp._follower.wait(10)
    assert cmp.table["key"] != first_key


def test_stop_from_the_view_stops_the_run_and_keeps_what_finished(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 0.05
    cmp = CompareWidget(o, vessels=["a", "b"])
    wire = Wire(cmp)
    run = cmp.map([f"q{i}" for i in range(40)], per_vessel=1, progress=False)
    poll(lambda: _cells_sent(wire), what="a first cell")
    cmp._handle_custom_msg({"t": "stop"}, [])
    run.wait(timeout=30)
    cmp._follower.wait(10)
    assert run.status == "stopped" and cmp.table_progress["status"] == "stopped"
    flat = [c for row in cmp.table["cells"] for c in row]
    assert any(c is None for c in flat) and any(c is not None and c["outcome"] == "ok" for c in flat)


def test_a_pair_stopped_mid_call_shows_cancelled_as_run_df_and_the_log_say(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 30.0  # the first word never comes before the stop
    cmp = CompareWidget(o, vessels=["a", "b"])
    run = cmp.map(["q0", "q1", "q2"], per_vessel=1, progress=False)
    poll(lambda: all(len(f.requests) == 1 for f in fakes.values()), what="one call sent to each vessel")
    cmp._handle_custom_msg({"t": "stop"}, [])
    run.wait(timeout=30)
    cmp._follower.wait(10)
    assert list(run.df.outcome) == ["cancelled", "cancelled"] + ["not run (stopped)"] * 4
    assert [r["outcome"] for r in o.log.rows] == ["cancelled", "cancelled"]
    first, *rest = cmp.table["cells"]
    assert [c["outcome"] for c in first] == ["cancelled", "cancelled"] and rest == [[None, None], [None, None]]
    assert first[0]["error"] == "stopped by the caller"
    assert cmp.table_progress["slots"]["a"] | cmp.table_progress["slots"]["b"] == {
        "total": 3, "done": 0, "failed": 0, "cancelled": 1, "in_flight": 0, "paused_s": 0,
    }  # fmt: skip
    text = cmp._fallback["text/plain"]
    assert "a: cancelled: stopped by the caller" in text and "failed" not in text
    assert "<strong>cancelled</strong>" in cmp._fallback["text/html"]


def test_busy_widgets_refuse_clearly_and_one_prompt_brings_the_columns_back(pair):
    o, fakes = pair
    cmp = CompareWidget(o, vessels=["a", "b"])
    with pytest.raises(vnb.ConfigError, match="the run orch.map"):
        cmp.show("not a run")
    for f in fakes.values():
        f.pace = 0.05
    run = cmp.map([f"q{i}" for i in range(6)], per_vessel=1, progress=False)
    with pytest.raises(vnb.ConfigError, match="still running"):
        cmp.run("one prompt")
    with pytest.raises(vnb.ConfigError, match="still running"):
        cmp.map(["other"], progress=False)
    run.wait(timeout=60)
    cmp._follower.wait(10)
    for f in fakes.values():
        f.pace = 0.0
    cmp.run("one prompt")  # the columns again
    assert cmp.table == {} and cmp.table_progress == {} and cmp.columns["a"]["status"] == "done"


def test_the_static_fallback_is_the_table_and_keeps_a_bounded_number_of_rows(pair):
    o, fakes = pair
    for f in fakes.values():
        f.pace = 0.0
    cmp = CompareWidget(o, vessels=["a"])
    _run(cmp, [f"prompt {i}" for i in range(FALLBACK_ROWS + 5)], per_vessel=8)
    data, _meta = cmp._repr_mimebundle_()
    page = data["text/html"]
    assert page == cmp._fallback["text/html"] and cmp._fallback["model_id"] == cmp.model_id
    assert "prompt 0" in page and f"prompt {FALLBACK_ROWS - 1}<" in page and f"prompt {FALLBACK_ROWS}<" not in page
    assert "5 more rows" in page and "<strong>hello</strong>" in page
    assert "a says hello." in data["text/plain"]
    json.dumps(cmp.get_state())  # the whole state is plain JSON (saved with the notebook)


def test_the_table_view_is_part_of_the_comparison_module_and_loads_nothing():
    esm, css = CompareWidget._esm, CompareWidget._css
    assert "function createTableStore" in esm and "function buildRunTable" in esm
    assert not re.search(r"^\s*import\b", esm, re.M) and not re.search(r"import\s*\(", esm)
    assert len(re.findall(r"^export default\b", esm, re.M)) == 1
    table_js = (STATIC / "runtable.js").read_text()
    assert not re.findall(r"https?://", table_js) and "innerHTML" not in table_js  # HTML only via safeFragment
    assert ".vnb-rt-table" in css and "@import" not in css and "url(" not in css


def test_the_bench_measures_the_table_and_reports_it():
    from bench import panels, report

    sec = panels.table_cost(prompts=20, vessels=2, per_tick=8)
    assert sec["cells"] == 40 and sec["messages"] == 5 and sec["delta_bytes_per_cell"] > 100
    assert sec["final_table_kb"] > 0 and sec["fallback_kb"] > 0
    assert "40 cells" in "\n".join(report._run_table("run_table", sec))


def test_a_cell_previews_code_uncoloured_and_leaves_out_what_is_absent():
    from vessel_nb.widgets._markdown import render
    from vessel_nb.widgets._runtable import cell_of

    code = "```python\ndef f(x):\n    return x\n```"
    assert '<span class="k">def</span>' in render(code)  # the panels colour code...
    cell = cell_of({"outcome": "ok", "text": code, "ttft_s": 0.1, "latency_s": 0.2, "cost_usd": None}, False)
    # ...a preview does not
    assert '<div class="vnb-code" data-lang="python">' in cell["html"] and "<span" not in cell["html"]
    assert "def f(x):" in cell["html"] and not {"cost_usd", "cut", "resumed", "error", "vessel"} & set(cell)

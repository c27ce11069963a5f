"""A prompt set in the CompareWidget's live table, in a real JupyterLab: a small run fills
the table as pairs finish (a failed pair shown as such, progress in the header and under
the cell that runs it), a routed run has one column naming who answered, a run stopped
mid-call shows that pair cancelled and the other not run, light and dark themes, then the
saved notebook reopened without a kernel shows the table again — from the saved widget
state, and as the static HTML a viewer without widgets gets. Last, lesson 4 itself, Run All
in a practice-mode kernel as ``make lab`` gives it; and the table in Notebook 7.

The tests are steps on one shared page, in order: a failure names its step and the page is
dumped under that name (test-artifacts/failure-<step>.*).
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import nbformat
import pytest

from vessel_nb.practice.fleet import practice_key

from .conftest import ROOT, reopen_without_its_kernel, saved_views_have_state, set_theme
from .test_frontends import ALL_RAN, CODE_PROMPTS, cell, no_error_outputs, prompts
from .test_frontends import run_all as run_all_when
from .test_panels_browser import notebook_source, run_all

pytestmark = pytest.mark.browser

WAIT = 90_000
PROMPTS = 10
VESSELS = ["ollama", "claude", "openai"]
REPLY = "**Short** answer:\n\n- one\n- two\n\n<script>window.__vnbPwned = true</script>"

# Counts the first table's finished cells every 50 ms, from before the table exists; and, per
# table, the most finished cells it showed while its run was still going.
COUNTER = """
window.__rtCounts = [];
window.__rtWhileRunning = {};
setInterval(() => {
  const n = document.querySelectorAll('.vnb-rt-cell[data-outcome="ok"], .vnb-rt-cell[data-outcome="error"]').length;
  const last = window.__rtCounts[window.__rtCounts.length - 1];
  if (last !== n) window.__rtCounts.push(n);
  document.querySelectorAll('.vnb-rt[data-status="running"]').forEach((rt, i) => {
    const title = rt.closest('.vnb-cmp').querySelector('.vnb-title').textContent;
    const ok = rt.querySelectorAll('.vnb-rt-cell[data-outcome="ok"]').length;
    window.__rtWhileRunning[title] = Math.max(window.__rtWhileRunning[title] || 0, ok);
  });
}, 50);
"""


def table_notebook(fleet) -> nbformat.NotebookNode:
    cells = [
        notebook_source(fleet).cells[0],
        nbformat.v4.new_code_cell(f'table = vnb.CompareWidget(orch, vessels={VESSELS!r}, title="prompt set")\ntable'),
        nbformat.v4.new_code_cell(
            f'run = table.map([f"Question {{i}}: why?" for i in range({PROMPTS})], per_vessel=2)\nrun.wait();'
        ),
        nbformat.v4.new_code_cell('routed = vnb.CompareWidget(orch, title="routed set")\nrouted'),
        nbformat.v4.new_code_cell('routed.map(["one", "two", "three"], vessels=None, progress=False).wait();'),
        # a view that opens while its run goes, after some pairs finished: it shows them at
        # once (from the widget model's store), then follows
        nbformat.v4.new_code_cell(
            'late = vnb.CompareWidget(orch, vessels=["claude"], title="late view")\n'
            'late_run = late.map([f"Late {i}" for i in range(8)], per_vessel=1, progress=False)\n'
            "import time\n"
            'while (late_run.df.outcome == "ok").sum() < 2:\n'
            "    time.sleep(0.05)\n"
            "late"
        ),
        nbformat.v4.new_code_cell("late_run.wait();"),
        # a run stopped while its first call is mid-answer (a practice server of the kernel's
        # own that sends one piece, then waits): that pair is cancelled, the other never sent
        nbformat.v4.new_code_cell(
            "import time\n"
            "from vessel_nb.practice import PracticeServer\n"
            'hanging = PracticeServer("ollama", vessel="hanging").start()\n'
            'hanging.set_fault("hang_mid_stream", after=1)\n'
            'stop_orch = AIOrchestrator({"hanging": OllamaAdapter(model=orch.vessels["ollama"].model, '
            "base_url=hanging.base_url)}, log_path=False)\n"
            'stopped = vnb.CompareWidget(stop_orch, title="stopped set")\n'
            'stopped_run = stopped.map(["Stop 0", "Stop 1"], per_vessel=1, progress=False)\n'
            'while not any(r.path == "/api/chat" for r in hanging.requests):\n'
            "    time.sleep(0.05)\n"
            "stopped_run.stop()\n"
            "hanging.clear_fault()\n"
            "hanging.stop()\n"
            "stopped"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def table_page(browser, lab, slow_fleet, artifacts):
    """The notebook written, opened and run (Run All); the steps below share the page."""
    base, root = lab
    for name in slow_fleet.names:
        slow_fleet[name].reply = REPLY
    slow_fleet["openai"].set_fault("status", code=401, times=1)  # one failed pair
    nbformat.write(table_notebook(slow_fleet), root / "table.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.vnb_console = []
    page.on("console", lambda m: page.vnb_console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: page.vnb_console.append(f"pageerror: {e}"))
    page.add_init_script(COUNTER)
    page.set_default_timeout(WAIT)
    state = SimpleNamespace(base=base, root=root, page=page)
    try:
        page.goto(f"{base}/lab/tree/table.ipynb?reset")
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=WAIT)
        run_all(page)
        yield state
    finally:
        with contextlib.suppress(Exception):  # the theme is the server's: later tests share it
            set_theme(page, "JupyterLab Light")
        context.close()
        slow_fleet["openai"].clear_fault()
        for name in slow_fleet.names:
            slow_fleet[name].reply = None


@pytest.fixture
def step(request, table_page):
    request.node.vnb_page = table_page.page  # for the failure dump in conftest
    return table_page


def test_a_small_run_fills_the_table_as_pairs_finish(step, artifacts):
    page = step.page
    table = page.locator(".vnb-cmp.vnb-table-mode").first
    table.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
    cells = table.locator(".vnb-rt-cell")
    assert cells.count() == PROMPTS * len(VESSELS)
    assert table.locator(".vnb-cols").is_hidden() and table.locator("textarea.vnb-prompt").is_hidden()
    assert table.locator('.vnb-rt-cell[data-outcome="ok"]').count() == PROMPTS * len(VESSELS) - 1
    failed = table.locator('.vnb-rt-cell[data-outcome="error"]')
    assert failed.count() == 1 and "failed" in failed.text_content()
    counts = page.evaluate("window.__rtCounts")
    between = [n for n in counts if 0 < n < PROMPTS * len(VESSELS)]
    assert len(between) >= 3, f"the table did not fill in step by step: {counts}"
    # header: progress for the run and each column; rows in prompt order
    assert f"{PROMPTS * len(VESSELS)}/{PROMPTS * len(VESSELS)} pairs" in table.locator(".vnb-rt-progress").inner_text()
    heads = table.locator(".vnb-rt-headrow .vnb-rt-col")
    assert heads.count() == 3 and heads.nth(0).locator(".vnb-col-name").inner_text() == "ollama"
    assert heads.nth(2).locator(".vnb-rt-counts").inner_text().startswith(f"{PROMPTS - 1}/{PROMPTS} · 1 failed")
    assert table.locator(".vnb-rt-body .vnb-rt-prompt").nth(3).text_content() == "Question 3: why?"
    # the answer's Markdown, rendered and inert (text_content: rows off screen are not laid
    # out, and innerText of what is not laid out is empty)
    first = cells.first
    assert first.locator("strong").first.text_content() == "Short" and first.locator("li").count() == 2
    assert "<script>" in first.text_content()
    assert page.evaluate("window.__vnbPwned || null") is None
    assert page.locator(".vnb-rt script").count() == 0
    assert "first" in first.locator(".vnb-rt-meta").text_content()
    # progress also under the cell that ran it (orch.map's own display)
    run_cell = page.locator(".jp-Notebook .jp-Cell").nth(2)
    assert "done" in run_cell.locator(".jp-OutputArea").inner_text()
    table.scroll_into_view_if_needed()
    table.screenshot(path=str(artifacts / "runtable-light.png"))


def test_a_routed_run_has_one_column_naming_who_answered(step, artifacts):
    page = step.page
    routed = page.locator(".vnb-cmp.vnb-table-mode").nth(1)
    routed.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
    assert routed.locator(".vnb-rt-headrow .vnb-rt-col .vnb-col-name").all_inner_texts() == ["routed"]
    assert routed.locator(".vnb-rt-vessel").all_text_contents() == ["ollama"] * 3
    routed.screenshot(path=str(artifacts / "runtable-routed-light.png"))


def test_a_view_opened_mid_run_catches_up_then_follows(step):
    page = step.page
    late = page.locator(".vnb-cmp.vnb-table-mode", has=page.locator(".vnb-title", has_text="late view"))
    late.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
    assert late.locator('.vnb-rt-cell[data-outcome="ok"]').count() == 8
    while_running = page.evaluate("window.__rtWhileRunning")["late view"]
    assert while_running >= 2, f"the late view showed {while_running} cells while its run went on"


def test_a_run_stopped_mid_call_shows_the_pair_cancelled_and_the_rest_not_run(step, artifacts):
    page = step.page
    view = page.locator(".vnb-cmp.vnb-table-mode", has=page.locator(".vnb-title", has_text="stopped set"))
    view.locator('.vnb-rt[data-status="stopped"]').wait_for(timeout=WAIT)
    view.scroll_into_view_if_needed()
    cancelled = view.locator('.vnb-rt-cell[data-outcome="cancelled"]')
    cancelled.locator(".vnb-rt-cancelled").wait_for(timeout=WAIT)  # filled once its row is near
    assert cancelled.count() == 1
    assert cancelled.locator(".vnb-rt-cancelled").text_content() == "cancelled: stopped by the caller"
    not_run = view.locator('.vnb-rt-cell[data-outcome="not-run"]')
    assert not_run.count() == 1 and view.locator(".vnb-rt-cell").count() == 2
    assert not_run.evaluate("el => getComputedStyle(el, '::before').content") == '"not run"'
    assert view.locator(".vnb-rt-counts").inner_text() == "0/2 · 1 cancelled"
    view.screenshot(path=str(artifacts / "runtable-stopped.png"))


def test_dark_theme(step, artifacts):
    page = step.page
    set_theme(page, "JupyterLab Dark")
    page.wait_for_timeout(500)  # the theme's CSS transition
    table = page.locator(".vnb-cmp.vnb-table-mode").first
    table.scroll_into_view_if_needed()
    table.screenshot(path=str(artifacts / "runtable-dark.png"))
    set_theme(page, "JupyterLab Light")


def test_reopened_without_a_kernel_the_table_is_still_there(step, artifacts):
    page, base, root = step.page, step.base, step.root
    page.keyboard.press("Control+s")
    page.locator(".jp-mod-dirty").first.wait_for(state="detached")
    saved = json.loads((root / "table.ipynb").read_text())
    state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    tables = [m["state"]["table"] for m in state.values() if m["state"].get("table")]
    assert len(tables) == 4 and all(t["cells"] for t in tables)
    outputs = [o for c in saved["cells"] for o in c.get("outputs", [])]
    fallbacks = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    static = next(f for f in fallbacks if "prompt set" in f and "Question 3: why?" in f)
    for provider in ("anthropic", "openai", "gemini"):  # only the setup cell's source holds a key
        assert practice_key(provider) not in json.dumps(state) + json.dumps(outputs)
    saved_views_have_state(saved)
    reopen_without_its_kernel(
        page, base, "table.ipynb", '.vnb-cmp.vnb-table-mode .vnb-rt[data-status="done"]', artifacts
    )
    reopened = page.locator(".vnb-cmp.vnb-table-mode").first
    reopened.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
    assert reopened.locator('.vnb-rt-cell[data-outcome="ok"]').count() == PROMPTS * len(VESSELS) - 1
    assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    reopened.scroll_into_view_if_needed()
    reopened.screenshot(path=str(artifacts / "runtable-reopened.png"))
    # what a viewer without widgets (GitHub, nbviewer) shows: the static table (in a page of
    # its own: this one stays JupyterLab, whose theme the fixture puts back)
    viewer = page.context.new_page()
    try:
        viewer.set_content(f"<html><body>{static}</body></html>")
        rows = viewer.locator("tbody tr")
        assert rows.count() == PROMPTS and "Question 3: why?" in rows.nth(3).inner_text()
        assert viewer.locator("tbody strong", has_text="Short").count() == PROMPTS * len(VESSELS) - 1
        assert viewer.locator("script").count() == 0
        viewer.screenshot(path=str(artifacts / "runtable-static.png"), full_page=True)
    finally:
        viewer.close()


LESSON_4 = ROOT / "notebooks" / "04-compare.ipynb"
LESSON_LIMIT = 180_000  # ms for the lesson's Run All: ~30 s alone, slower on a loaded machine


def test_lesson_4_runs_clean_with_its_prompt_set_table(lab, practice_kernel, fresh_page, artifacts):
    base, root = lab
    kernel, _log = practice_kernel
    nb = nbformat.read(LESSON_4, as_version=4)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (vessel_nb practice)", "language": "python"}
    nbformat.write(nb, root / "lesson-04.ipynb")
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "table.map(prompts)" in c.source)
    page = fresh_page
    page.goto(f"{base}/lab/tree/lesson-04.ipynb?reset")
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
    run_all_when(page, page.locator('[title^="Change kernel for"]', has_text="| Idle"))
    try:
        page.wait_for_function(ALL_RAN, arg=[CODE_PROMPTS, n_code], timeout=LESSON_LIMIT)
    except Exception as exc:
        raise AssertionError(f"lesson 4 did not finish; code cell prompts: {prompts(page)}") from exc
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
    no_error_outputs(page)
    run_cell = cell(page, at)
    table = run_cell.locator(".vnb-cmp.vnb-table-mode")
    table.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
    assert table.locator('.vnb-rt-cell[data-outcome="ok"]').count() == 5 * 4
    assert "practice ollama vessel" in table.locator(".vnb-rt-cell").first.text_content()
    progress = run_cell.locator(".jp-OutputArea-output", has_text="20/20").last
    assert "done" in progress.inner_text()  # orch.map's own progress, in the cell that ran it
    run_cell.scroll_into_view_if_needed()
    run_cell.screenshot(path=str(artifacts / "runtable-lesson4.png"))


def test_notebook7_fills_the_table(browser, notebook7, slow_fleet, fresh_page, artifacts):
    base, root = notebook7
    nb = table_notebook(slow_fleet)
    nb.cells = nb.cells[:3]
    nbformat.write(nb, root / "table7.ipynb")
    for name in slow_fleet.names:
        slow_fleet[name].reply = REPLY
    page = fresh_page
    try:
        page.goto(f"{base}/notebooks/table7.ipynb")
        run_all_when(page, page.locator(".jp-NotebookKernelStatus-fade:not(.jp-NotebookKernelStatus-info)"))
        table = page.locator(".vnb-cmp.vnb-table-mode")
        table.locator('.vnb-rt[data-status="done"]').wait_for(timeout=WAIT)
        assert table.locator('.vnb-rt-cell[data-outcome="ok"]').count() == PROMPTS * len(VESSELS)
        assert table.locator(".vnb-rt-cell").first.locator("strong").first.text_content() == "Short"
        assert page.evaluate("window.__vnbPwned || null") is None
        no_error_outputs(page)
        table.scroll_into_view_if_needed()
        table.screenshot(path=str(artifacts / "runtable-notebook7.png"))
    finally:
        for name in slow_fleet.names:
            slow_fleet[name].reply = None

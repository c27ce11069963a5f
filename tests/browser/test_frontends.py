"""Whole notebooks in the two Jupyter frontends, run the way a person runs them: Run All.

1. Lesson 2 (the fallback exercise) in JupyterLab, with a kernel in practice mode: every
   code cell must finish — nest_asyncio was measured to leave "Run All" hanging with cells
   stuck at ``[*]`` — with no error, the ``%%ask`` after the practice Ollama is stopped must
   say it fell back, and the last one must come from Ollama again.
2. Jupyter Notebook 7: a ``%%ask`` answer with its footer, and a ChatPanel that renders and
   streams an answer sent from a cell, with its badge.

A screenshot of each final page goes to test-artifacts/.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from vessel_nb.practice.fleet import MODELS

from .test_panels_browser import SAMPLER, grew, notebook_source

pytestmark = pytest.mark.browser

LESSON_2 = Path(__file__).resolve().parents[2] / "notebooks" / "02-fallback.ipynb"
WAIT = 60_000  # ms: generous, a loaded CI machine is slow to start a kernel
RUN_ALL_LIMIT = 45_000  # ms for a whole Run All; the lesson takes a few seconds
CODE_PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputPrompt"

# True once every code cell shows an execution count ([3]:), none [*]: or [ ]:
ALL_RAN = r"""([selector, n]) => {
  const prompts = [...document.querySelectorAll(selector)].map((e) => e.textContent.trim());
  return prompts.length === n && prompts.every((p) => /^\[\d+\]:?$/.test(p));
}"""


def prompts(page) -> list[str]:
    return [p.strip() for p in page.locator(CODE_PROMPTS).all_inner_texts()]


def run_all(page, ready) -> None:
    """Wait for ``ready`` (the frontend's sign that the kernel is connected), then Run menu →
    Run All Cells, again if the click landed too early to start the first code cell."""
    ready.wait_for(timeout=WAIT)
    first = page.locator(CODE_PROMPTS).first
    for _attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(
                r"(el) => /\[(\*|\d+)\]/.test(el.textContent)", arg=first.element_handle(), timeout=15_000
            )
            return
        except PlaywrightTimeout:
            page.vnb_console.append("Run All did not start the first code cell; retrying")
    raise AssertionError("Run All never started the notebook")


def wait_all_ran(page, n_code: int) -> None:
    """Every code cell gets its execution count within RUN_ALL_LIMIT, or the test says which hung."""
    try:
        page.wait_for_function(ALL_RAN, arg=[CODE_PROMPTS, n_code], timeout=RUN_ALL_LIMIT)
    except PlaywrightTimeout:
        raise AssertionError(
            f"Run All did not finish in {RUN_ALL_LIMIT / 1000:.0f} s; code cell prompts: {prompts(page)}"
        ) from None


STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"  # tracebacks too


def no_error_outputs(page) -> None:
    errors = page.locator(STDERR)
    assert errors.count() == 0, f"error output: {errors.all_inner_texts()}"
    ours = [m for m in page.vnb_console if m.startswith(("error", "pageerror")) and ("anywidget" in m or "vnb" in m)]
    assert not ours, ours


def cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def ask_answer(page, index: int):
    """The final (Markdown) output of the ``%%ask`` cell at ``index``."""
    return cell(page, index).locator(".jp-OutputArea-output[data-mime-type='text/markdown']").last


def test_run_all_of_lesson_2_in_jupyterlab_finishes_and_falls_back(lab, practice_kernel, fresh_page, artifacts):
    base, root = lab
    kernel, log = practice_kernel
    nb = nbformat.read(LESSON_2, as_version=4)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (vessel_nb practice)", "language": "python"}
    nbformat.write(nb, root / "lesson-02.ipynb")
    sources = [c.source for c in nb.cells]
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    asks = [i for i, s in enumerate(sources) if s.startswith("%%ask")]
    stop = next(i for i, s in enumerate(sources) if '["ollama"].stop()' in s)
    start = next(i for i, s in enumerate(sources) if '["ollama"].start()' in s)
    after_stop = next(i for i in asks if stop < i < start)
    assert asks[-1] > start, "the lesson's last %%ask should come after the practice Ollama is started again"

    page = fresh_page
    page.goto(f"{base}/lab/tree/lesson-02.ipynb?reset")
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
    run_all(page, page.locator('[title^="Change kernel for"]', has_text="| Idle"))
    wait_all_ran(page, n_code)
    counts = [int(p.strip("[]:")) for p in prompts(page)]
    assert counts == sorted(counts) and len(set(counts)) == n_code, f"cells ran out of order: {counts}"
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
    no_error_outputs(page)

    first = ask_answer(page, asks[0])
    # the lesson's vessels are practice servers, and every footer says so
    assert first.locator("sub").inner_text().startswith("ollama (practice server) · "), first.inner_text()

    fell_back = ask_answer(page, after_stop)
    footer = fell_back.locator("sub").inner_text()
    assert "ollama: connection refused → claude" in footer, footer
    assert (
        footer.startswith("claude (practice server) · ") and "fell back (ollama: connection refused → claude)" in footer
    ), footer
    assert "practice claude vessel" in fell_back.inner_text()

    last = ask_answer(page, asks[-1])
    footer = last.locator("sub").inner_text()
    assert footer.startswith(f"ollama (practice server) · {MODELS['ollama']} · "), footer
    assert "→" not in footer and "connection refused" not in footer, footer
    assert "practice ollama vessel" in last.inner_text()

    # the nbval-checked cells that print who answered agree with the footers
    printed = " ".join(page.locator(".jp-Notebook .jp-CodeCell .jp-OutputArea").all_inner_texts())
    assert "answered by claude" in printed and "answered by ollama | local: True" in printed, printed

    # the kernel really ran in practice mode and logged to the temporary VESSEL_NB_LOG
    with sqlite3.connect(log) as db:
        outcomes = db.execute("SELECT vessel, outcome FROM attempts ORDER BY rowid").fetchall()
    assert ("ollama", "error") in outcomes and ("claude", "ok") in outcomes, outcomes
    assert outcomes[-1] == ("ollama", "ok"), outcomes

    no_error_outputs(page)
    cell(page, after_stop).scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "frontends-lab-lesson2.png"))
    cell(page, after_stop).screenshot(path=str(artifacts / "frontends-lab-lesson2-fallback.png"))
    cell(page, asks[-1]).screenshot(path=str(artifacts / "frontends-lab-lesson2-back-to-ollama.png"))


def notebook7_source(fleet) -> nbformat.NotebookNode:
    """Setup over the practice fleet (the panel tests' cell), %%ask, a ChatPanel and a send."""
    cells = [
        notebook_source(fleet).cells[0],
        nbformat.v4.new_code_cell("%load_ext vessel_nb"),
        nbformat.v4.new_code_cell("%%ask\nSay hello to Notebook 7."),
        nbformat.v4.new_code_cell("panel = vnb.ChatPanel(orch)\npanel"),
        nbformat.v4.new_code_cell('call = panel.ask("hi")'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_notebook7_runs_ask_and_streams_a_chat_panel(fresh_page, notebook7, slow_fleet, artifacts):
    base, root = notebook7
    nb = notebook7_source(slow_fleet)
    nbformat.write(nb, root / "frontends.ipynb")
    page = fresh_page
    page.add_init_script(SAMPLER)
    page.goto(f"{base}/notebooks/frontends.ipynb")
    # Notebook 7 has no status bar: its kernel status is blank (with only the -fade class) once
    # the kernel is idle or busy, and says "Kernel Starting"/"Connecting" before
    ready = page.locator(".jp-NotebookKernelStatus-fade:not(.jp-NotebookKernelStatus-info)")
    # record the chat answer's length from before the view exists: it streams during Run All
    page.evaluate("window.__vnbSample('chat', '.vnb-chat .vnb-entry:first-child .vnb-text')")
    run_all(page, ready)
    wait_all_ran(page, len(nb.cells))
    no_error_outputs(page)

    answer = ask_answer(page, 2)
    answer.wait_for(timeout=WAIT)
    assert "practice ollama vessel" in answer.inner_text() and "Say hello to Notebook 7." in answer.inner_text()
    footer = answer.locator("sub").inner_text()
    assert footer.startswith(f"ollama · {MODELS['ollama']} · first in priority · first token "), footer
    assert "tok/s" in footer, footer

    view = page.locator(".vnb-chat")
    view.wait_for(timeout=WAIT)
    assert view.count() == 1
    assert view.locator(".vnb-title").inner_text() == "vessel_nb chat"
    entry = view.locator(".vnb-entry").first
    # the answer finishes on vessel_nb's loop after the cell has returned: an error it hits
    # lands in the last cell's output, so stop waiting as soon as one shows
    page.wait_for_function(
        """([entry, error]) => {
          const e = document.querySelector(entry);
          return (e && e.dataset.status !== "streaming") || document.querySelector(error);
        }""",
        arg=[".vnb-chat .vnb-entry:first-child", STDERR],
        timeout=WAIT,
    )
    no_error_outputs(page)
    assert entry.get_attribute("data-status") == "done", entry.inner_text()
    distinct, span = grew(page.evaluate("window.__vnbStop('chat')"))
    assert distinct >= 5 and span >= 0.5, f"the answer did not stream: {distinct} sizes over {span:.2f} s"
    assert view.locator(".vnb-entry").count() == 1
    assert entry.locator(".vnb-q-text").inner_text() == "hi"
    assert entry.get_attribute("data-vessel") == "ollama"
    text = entry.locator(".vnb-text").inner_text()
    assert text.startswith("This is the practice ollama vessel") and "«hi»" in text, text
    badge = entry.locator(".vnb-badge").inner_text()
    for part in ("ollama", MODELS["ollama"], "local", "first token", "total", "tok/s"):
        assert part in badge, f"{part!r} missing from the badge: {badge!r}"
    view.locator('.vnb-light[data-vessel="ollama"][data-state="up"]').wait_for(timeout=WAIT)

    view.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "frontends-notebook7.png"))
    view.screenshot(path=str(artifacts / "frontends-notebook7-chat.png"))

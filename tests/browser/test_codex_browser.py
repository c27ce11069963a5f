"""A Codex model (OpenAI's Responses API, on the practice OpenAI) in both panels, in a real
JupyterLab and Chromium: the chat panel shows its reasoning summary and its tokens/s, the
comparison finishes its column with every metric."""

from __future__ import annotations

import nbformat
import pytest

from vessel_nb.practice.fleet import MODELS, practice_key

from .conftest import watch_console
from .test_panels_browser import WAIT, run_all, send_from_panel

pytestmark = pytest.mark.browser


def codex_notebook(fleet) -> nbformat.NotebookNode:
    url = {name: fleet[name].base_url for name in fleet.names}
    setup = f"""\
import vessel_nb as vnb
from vessel_nb import AIOrchestrator, ClaudeAdapter, OpenAIAdapter

# practice servers started by the test (labelled practice; any key is accepted)
orch = AIOrchestrator(
    {{
        "codex": OpenAIAdapter(model="gpt-5-codex", api="responses", base_url={url["openai"]!r}, api_key={practice_key("openai")!r}),
        "claude": ClaudeAdapter(model={MODELS["anthropic"]!r}, base_url={url["anthropic"]!r}, api_key={practice_key("anthropic")!r}),
    }},
    log_path=False,
)
vnb.use(orch)"""
    cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell("panel = vnb.ChatPanel(orch, health_interval=1.0)\npanel"),
        nbformat.v4.new_code_cell('cmp = vnb.CompareWidget(orch, vessels=["codex", "claude"])\ncmp'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def codex_page(browser, lab, slow_fleet):
    base, root = lab
    nbformat.write(codex_notebook(slow_fleet), root / "codex.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    watch_console(pg)
    pg.set_default_timeout(WAIT)
    pg.goto(f"{base}/lab/tree/codex.ipynb?reset")
    pg.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=WAIT)
    run_all(pg)
    pg.locator(".vnb-cmp").wait_for(timeout=WAIT)
    yield pg
    context.close()


@pytest.fixture(autouse=True)
def _mark_page(request, codex_page):
    request.node.vnb_page = codex_page  # for the failure dump in conftest
    yield


def test_codex_in_the_chat_panel_shows_reasoning_and_tokens_per_second(codex_page, artifacts):
    page = codex_page
    view = page.locator(".vnb-chat").first
    view.scroll_into_view_if_needed()
    view.locator("select.vnb-vessel").select_option("codex")
    view.locator("input.vnb-thinking").check()
    cid = send_from_panel(page, "Why is the sky blue?")
    entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
    entry.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    assert "practice openai vessel" in entry.locator(".vnb-text").inner_text()
    badge = entry.locator(".vnb-badge").inner_text()
    assert "codex" in badge and "gpt-5-codex" in badge and "tok/s" in badge, badge
    thinking = entry.locator(".vnb-thinking-box")
    thinking.locator("summary").click()  # folded once the answer is done
    assert "Practice reasoning" in thinking.inner_text()
    view.screenshot(path=str(artifacts / "codex-chat.png"))


def test_codex_column_of_the_comparison_finishes_with_its_metrics(codex_page, artifacts):
    page = codex_page
    cmp = page.locator(".vnb-cmp").first
    cmp.scroll_into_view_if_needed()
    box = cmp.locator("textarea.vnb-prompt")
    box.click()
    box.press_sequentially("Which of you answers first?", delay=5)
    cmp.locator("button.vnb-run").click()
    column = cmp.locator('.vnb-col[data-vessel="codex"]')
    column.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    assert "practice openai vessel" in column.locator(".vnb-text").inner_text()
    values = column.locator(".vnb-metric-value").all_inner_texts()
    assert all(v.strip() not in ("–", "…", "") for v in values), values
    cmp.screenshot(path=str(artifacts / "codex-compare.png"))

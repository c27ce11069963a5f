"""The render notebook of test_panels_render.py in Jupyter Notebook 7, on one shared page.

Steps, in order (a failure names its step and dumps the page under that name): the chat's
Markdown and a hostile answer made inert; every comparison column; the ``%%ask`` output of
the same hostile answer; Copy (a code block, a whole answer); Insert cell; a view scrolled
up offers "Jump to latest"; the dark theme (screenshots, and the contrast of text, table
rules and controls measured); a view shown again (its cell run again) opens at the end,
follows the next answer and, scrolled up, offers "Jump to latest"; the console check can
fail; save, stop the kernel and reopen.
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import nbformat
import pytest

from vessel_nb.practice.fleet import practice_key

from .conftest import _api, _get, check_console, set_theme, vnb_errors
from .test_frontends import run_all
from .test_panels_render import (
    CODE,
    HOSTILE_MD,
    WAIT,
    WATCH_RAW,
    ask_in_view,
    ask_output,
    assert_ask_rendered,
    assert_inert,
    assert_rendered,
    cell_index_of,
    distance_from_end,
    hostile_fleet,  # noqa: F401 — the module fixture, shared
    jump_to_latest,
    open_page,
    render_notebook,
    scroll_up_while_answering,
)

pytestmark = pytest.mark.browser

# Notebook 7 has no status bar: its kernel status is blank (only the -fade class) once the
# kernel is idle or busy, and says "Kernel Starting"/"Connecting" before
READY = ".jp-NotebookKernelStatus-fade:not(.jp-NotebookKernelStatus-info)"

# WCAG contrast of an element's colour (or border colour) against what is behind it, the
# colours composited on a 1-pixel canvas (color-mix() and alpha resolve as drawn)
CONTRAST = """([el, prop]) => {
  const px = (...colors) => {
    const c = document.createElement("canvas"); c.width = c.height = 1;
    const x = c.getContext("2d");
    for (const col of colors) { x.fillStyle = col; x.fillRect(0, 0, 1, 1); }
    return [...x.getImageData(0, 0, 1, 1).data].slice(0, 3);
  };
  const behind = [];  // the backgrounds under el, from the page's down to its parent's
  for (let n = el.parentElement; n; n = n.parentElement) {
    const b = getComputedStyle(n).backgroundColor;
    if (b && b !== "rgba(0, 0, 0, 0)" && b !== "transparent") behind.unshift(b);
  }
  behind.unshift("rgb(255, 255, 255)");
  const bg = px(...behind, getComputedStyle(el).backgroundColor);
  const fg = px(...behind, getComputedStyle(el).backgroundColor, getComputedStyle(el)[prop]);
  const lum = (rgb) => { const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}"""


def contrast(locator, prop: str = "color") -> float:
    return locator.evaluate(f"(el) => ({CONTRAST})([el, {json.dumps(prop)}])")


@pytest.fixture(scope="module")
def nb7_page(browser, notebook7, hostile_fleet):  # noqa: F811
    """The render notebook open and run (Run All) in Notebook 7; the steps below share it."""
    base, root = notebook7
    nbformat.write(render_notebook(hostile_fleet), root / "render7.ipynb")
    requests: list[str] = []
    context, page = open_page(browser, base, "/notebooks/render7.ipynb", requests)
    state = SimpleNamespace(base=base, root=root, page=page, requests=requests, cid=None)
    try:
        run_all(page, page.locator(READY))
        state.views, state.cmp = page.locator(".vnb-chat"), page.locator(".vnb-cmp")
        state.views.nth(1).wait_for(timeout=WAIT)
        yield state
    finally:
        with contextlib.suppress(Exception):  # the theme is the server's: later tests share it
            set_theme(page, "JupyterLab Light")
        context.close()


@pytest.fixture
def nb7(request, nb7_page):
    request.node.vnb_page = nb7_page.page  # for the failure dump and the console check
    return nb7_page


def test_nb7_chat_renders_markdown_and_makes_it_inert(nb7, artifacts):
    page, views = nb7.page, nb7.views
    page.evaluate(WATCH_RAW)
    entry = ask_in_view(page, views.first, "Show me some Markdown.")
    cid = nb7.cid = entry.get_attribute("data-id")
    for i in (0, 1):
        views.nth(i).locator(f'.vnb-entry[data-id="{cid}"][data-status="done"]').wait_for(timeout=WAIT)
        assert_rendered(views.nth(i).locator(f'.vnb-entry[data-id="{cid}"] .vnb-text'))
        assert distance_from_end(views.nth(i)) < 40
    assert_inert(page, nb7.requests)
    assert page.evaluate("window.__vnbRaw") == [], "Markdown shown raw before it was formatted"
    views.first.screenshot(path=str(artifacts / "render-notebook7-chat.png"))


def test_nb7_comparison_renders_every_column(nb7, artifacts):
    page, cmp = nb7.page, nb7.cmp
    cmp.scroll_into_view_if_needed()
    cmp.locator("textarea.vnb-prompt").click()
    cmp.locator("textarea.vnb-prompt").press_sequentially("Markdown, please.", delay=5)
    cmp.locator("button.vnb-run").click()
    page.locator('.vnb-cmp[data-state="done"]').wait_for(timeout=WAIT)
    for i in range(2):
        assert_rendered(cmp.locator(".vnb-col").nth(i).locator(".vnb-text"))
    assert_inert(page, nb7.requests)
    cmp.screenshot(path=str(artifacts / "render-notebook7-compare-light.png"))


def test_nb7_ask_answer_is_inert(nb7, artifacts):
    out = ask_output(nb7.page)
    assert_ask_rendered(out)
    assert_inert(nb7.page, nb7.requests)
    out.screenshot(path=str(artifacts / "render-notebook7-ask-light.png"))


# Puts a marker on the clipboard, so a Copy that wrote nothing cannot pass on what an
# earlier step left there
MARK = "vnb: nothing copied yet"


def copied_after_click(page, button) -> str:
    """Click a Copy button and return the clipboard text once the button says it copied."""
    page.evaluate("(m) => navigator.clipboard.writeText(m)", MARK)
    assert page.evaluate("navigator.clipboard.readText()") == MARK
    button.click()
    page.wait_for_function("(b) => b.textContent === 'Copied'", arg=button.element_handle())
    return page.evaluate("navigator.clipboard.readText()")


def test_nb7_copy_code_block_and_answer(nb7, artifacts):
    page, views, cid = nb7.page, nb7.views, nb7.cid
    assert cid, "needs the chat answer of the first step"
    entry = views.first.locator(f'.vnb-entry[data-id="{cid}"]')
    entry.scroll_into_view_if_needed()
    code_copy = entry.locator(".vnb-code .vnb-copy").first
    assert copied_after_click(page, code_copy) == CODE
    entry.locator(".vnb-code").first.screenshot(path=str(artifacts / "render-notebook7-copy-code.png"))
    assert copied_after_click(page, entry.locator(".vnb-badge .vnb-copy")) == HOSTILE_MD


def test_nb7_insert_cell(nb7):
    page, views, cid = nb7.page, nb7.views, nb7.cid
    assert cid, "needs the chat answer of the first step"
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    panel_cell = cell_index_of(page, views.first)
    views.first.locator(f'.vnb-entry[data-id="{cid}"] .vnb-code .vnb-insert').first.click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {cells_before + 1}")
    inserted = page.locator(".jp-Notebook .jp-Cell").nth(panel_cell + 1)
    assert CODE.splitlines()[0] in inserted.locator(".jp-InputArea").inner_text()


def test_nb7_views_follow_and_one_scrolled_up_offers_jump_to_latest(nb7):
    page, views = nb7.page, nb7.views
    scroll_up_while_answering(page, views.first, views.nth(1), "And again.")
    assert distance_from_end(views.first) < 40, "the view did not follow the answer"
    assert distance_from_end(views.nth(1)) > 200, "a view scrolled up was pulled down"
    views.nth(1).locator(".vnb-jump").wait_for(state="visible")
    # left up there: the dark step photographs "Jump to latest", then uses it


def test_nb7_dark_theme_reads(nb7, artifacts):
    page, views, cmp = nb7.page, nb7.views, nb7.cmp
    set_theme(page, "JupyterLab Dark")
    # the theme's CSS transition: wait until the panel's own background has turned dark
    page.wait_for_function(
        "(el) => { const [r, g, b] = getComputedStyle(el).backgroundColor.match(/\\d+/g).map(Number); return r + g + b < 200; }",
        arg=views.first.element_handle(),
    )
    entry = views.first.locator(f'.vnb-entry[data-id="{nb7.cid}"]')
    readings = {
        "answer text": contrast(entry.locator(".vnb-text p").last),
        "table rule (chat)": contrast(entry.locator(".vnb-text td").first, "borderTopColor"),
        "table rule (comparison)": contrast(cmp.locator(".vnb-col .vnb-text td").first, "borderTopColor"),
        "code": contrast(entry.locator(".vnb-code code").first),
        "Copy button": contrast(entry.locator(".vnb-code .vnb-copy").first),
        "Jump to latest": contrast(views.nth(1).locator(".vnb-jump")),
    }
    out = ask_output(page)
    readings["%%ask answer"] = contrast(out.locator("p").first)
    readings["%%ask table rule"] = contrast(out.locator("th").first, "borderBottomColor")
    for name, size in (("table rule (chat)", 2.0), ("table rule (comparison)", 2.0), ("%%ask table rule", 1.5)):
        assert readings[name] >= size, f"{name}: contrast {readings[name]:.2f} < {size} in the dark theme; {readings}"
    for name in ("answer text", "code", "Copy button", "Jump to latest", "%%ask answer"):
        assert readings[name] >= 4.5, f"{name}: contrast {readings[name]:.2f} < 4.5 in the dark theme; {readings}"
    views.first.scroll_into_view_if_needed()
    views.first.screenshot(path=str(artifacts / "render-notebook7-chat-dark.png"))
    views.nth(1).scroll_into_view_if_needed()
    views.nth(1).screenshot(path=str(artifacts / "render-notebook7-chat-jump-dark.png"))
    cmp.scroll_into_view_if_needed()
    cmp.screenshot(path=str(artifacts / "render-notebook7-compare-dark.png"))
    out.scroll_into_view_if_needed()
    out.screenshot(path=str(artifacts / "render-notebook7-ask-dark.png"))
    jump_to_latest(page, views.nth(1))
    set_theme(page, "JupyterLab Light")


def test_nb7_view_shown_again_opens_at_the_end_and_follows(nb7, artifacts):
    page, views = nb7.page, nb7.views
    # run the "panel  # shown again" cell again: Notebook 7 replaces its output with a new view
    entries = views.first.locator(".vnb-entry").count()
    old = views.nth(1).element_handle()
    cell = page.locator(".jp-Notebook .jp-Cell").nth(cell_index_of(page, views.nth(1)))
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("(el) => !el.isConnected", arg=old)
    again = views.nth(1)
    page.wait_for_function(
        "([t, n]) => t.isConnected && t.querySelectorAll('.vnb-entry').length === n"
        " && t.scrollHeight > t.clientHeight && t.scrollHeight - t.scrollTop - t.clientHeight < 40",
        arg=[again.locator(".vnb-transcript").element_handle(), entries],
    )
    assert again.locator(".vnb-jump").is_hidden()
    # the next answer, asked in the first view, streams into the view shown again: it follows
    third = ask_in_view(page, views.first, "Once more.")
    tid = third.get_attribute("data-id")
    again.locator(f'.vnb-entry[data-id="{tid}"][data-status="done"]').wait_for(timeout=WAIT)
    assert distance_from_end(again) < 40, "the view shown again did not follow the answer"
    assert again.locator(".vnb-jump").is_hidden()
    again.scroll_into_view_if_needed()
    again.screenshot(path=str(artifacts / "render-notebook7-chat-shown-again.png"))
    # scrolled up while the next answer streams: it stays put and offers "Jump to latest"
    scroll_up_while_answering(page, views.first, again, "And the last one.")
    assert distance_from_end(again) > 200, "a view shown again, scrolled up, was pulled down"
    jump = again.locator(".vnb-jump")
    jump.wait_for(state="visible")
    again.scroll_into_view_if_needed()
    again.screenshot(path=str(artifacts / "render-notebook7-chat-shown-again-jump.png"))
    jump_to_latest(page, again)
    jump.wait_for(state="hidden")


def test_nb7_console_check_can_fail(nb7):
    page = nb7.page
    check_console(page)  # nothing so far
    # an error thrown by a module loaded from a blob: URL, as anywidget loads the views
    with page.expect_event("pageerror", lambda e: "vnb self-test" in str(e)):
        page.evaluate(
            """() => import(URL.createObjectURL(new Blob(
                 ['setTimeout(() => { throw new Error("vnb self-test") })'], { type: "text/javascript" })))"""
        )
    errors = vnb_errors(page)  # taken here, so the step's own check after it stays clean
    assert any("vnb self-test" in e and "blob:" in e for e in errors), errors


def test_nb7_saved_notebook_reopens_without_a_kernel(nb7, artifacts):
    page, base, root = nb7.page, nb7.base, nb7.root
    # save with Notebook 7's own command; binder/overrides.json (installed like `make lab`
    # does) turns the widget manager's saveState on here too: the state is in the file
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = json.loads((root / "render7.ipynb").read_text())
    widgets = saved["metadata"].get("widgets", {})
    assert "application/vnd.jupyter.widget-state+json" in widgets, "Notebook 7 saved no widget state"
    state = widgets["application/vnd.jupyter.widget-state+json"]["state"]
    transcripts = [m["state"]["transcript"] for m in state.values() if "transcript" in m["state"]]
    assert transcripts and "<h2>Markdown check</h2>" in transcripts[0][0]["html"]
    outputs = [o for c in saved["cells"][1:] for o in c.get("outputs", [])]
    fallbacks = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    assert any("<h2>Markdown check</h2>" in f for f in fallbacks), fallbacks
    for provider in ("anthropic", "openai", "gemini"):  # only the setup cell's source holds a key
        assert practice_key(provider) not in json.dumps(state) + json.dumps(outputs)
    # as many entries as were asked (2 in the first steps, 2 more in the shown-again step)
    asked = page.locator(".vnb-chat").first.locator(".vnb-entry").count()
    assert asked >= 2
    for session in json.loads(_get(base + "/api/sessions")):  # stop the kernel: its widgets are gone
        if session["path"].endswith("render7.ipynb"):
            _api(base, "DELETE", f"/api/sessions/{session['id']}")
    page.reload()
    # the saved widget state shows the panels again (the widget view, not the HTML fallback)
    page.locator(".vnb-chat .vnb-entry .vnb-text h2").first.wait_for(timeout=WAIT)
    page.locator(".vnb-cmp .vnb-col .vnb-text h2").first.wait_for(timeout=WAIT)
    notebook = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in notebook and "model not found" not in notebook
    assert " object at 0x" not in notebook
    assert page.locator(".vnb-chat").first.locator(".vnb-entry").count() == asked
    page.screenshot(path=str(artifacts / "render-notebook7-reopened-without-kernel.png"), full_page=True)

"""Answers rendered in the panels, in a real browser: Markdown in the chat and in every
comparison column (also while streaming), a hostile answer made inert (there and in a
``%%ask`` output), Copy and Insert cell, a chat view shown again that follows the newest
message, light and dark themes, and a saved notebook reopened without a kernel — in
JupyterLab; test_notebook7_render.py runs the same notebook in Notebook 7.

The practice servers are told to answer with HOSTILE_MD: Markdown with a heading, a list,
a table and code, plus a <script>, an <img onerror>, a javascript: link and a remote image
on 127.0.0.1:9 (nothing listens there; the page's requests are recorded instead).
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import nbformat
import pytest

from vessel_nb.practice.fleet import practice_key

from .conftest import reopen_without_its_kernel, saved_views_have_state, set_theme, watch_console
from .test_panels_browser import notebook_source, run_all

pytestmark = pytest.mark.browser

WAIT = 60_000
HOSTILE_MD = """\
## Markdown check

1. first item
2. second item

| vessel | local |
|:-------|:-----:|
| ollama | yes   |

```python
def double(x):
    return x * 2  # twice
```

<script>window.__vnbPwned = (window.__vnbPwned || []).concat("script")</script>

<img src="http://127.0.0.1:9/onerror.png" onerror="window.__vnbPwned = (window.__vnbPwned || []).concat('img')">

A [bad link](javascript:window.__vnbPwned=['link']) and a remote image ![pixel](http://127.0.0.1:9/pixel.png).

The **end**.
"""
CODE = "def double(x):\n    return x * 2  # twice"

# Where answers show: both panels, and the output of the %%ask cell (marked by the test)
ANSWERS = ".vnb-chat, .vnb-cmp, [data-vnb-ask]"
INERT = """(scope) => {
  const all = (sel) => [...document.querySelectorAll(scope.split(",").map((s) => `${s} ${sel}`).join(","))];
  return {
    scripts: all("script").length,
    images: all("img").length,
    jsLinks: all("a").filter((a) => !/^(https?:|mailto:|#)/.test(a.getAttribute("href") || "")).length,
    handlers: all("*").filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
    pwned: window.__vnbPwned || null,
  };
}"""


def render_notebook(fleet) -> nbformat.NotebookNode:
    cells = [
        notebook_source(fleet).cells[0],
        nbformat.v4.new_code_cell("panel = vnb.ChatPanel(orch, health_interval=5.0)\npanel"),
        nbformat.v4.new_code_cell('cmp = vnb.CompareWidget(orch, vessels=["ollama", "claude"])\ncmp'),
        nbformat.v4.new_code_cell("panel  # shown again"),
        nbformat.v4.new_code_cell("%load_ext vessel_nb"),
        nbformat.v4.new_code_cell("%%ask\nShow me some Markdown."),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def hostile_fleet(slow_fleet):
    for name in slow_fleet.names:
        slow_fleet[name].reply = HOSTILE_MD
    yield slow_fleet
    for name in slow_fleet.names:
        slow_fleet[name].reply = None


def open_page(browser, base: str, path: str, requests: list[str]):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    pg = context.new_page()
    watch_console(pg)
    pg.on("request", lambda r: requests.append(r.url))
    pg.set_default_timeout(WAIT)
    pg.goto(base + path)
    return context, pg


# Records any text shown raw (a .vnb-pending span, not rendered yet) that holds Markdown
# markup: while an answer streams, ## or ** must never flash before it is formatted. (Inside
# a code block raw text is what the block shows anyway: only its highlighting comes later.)
WATCH_RAW = """() => {
  window.__vnbRaw = [];
  const seen = (el) => { const t = el.textContent; if (/[#*|`]/.test(t) && !el.closest(".vnb-code")) window.__vnbRaw.push(t); };
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
      for (const p of [el?.closest?.(".vnb-pending"), ...(el?.querySelectorAll?.(".vnb-pending") || [])]) if (p) seen(p);
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


def ask_in_view(page, view, text: str):
    """Type a question into a chat view and send it; returns the new entry (in that view)."""
    view.scroll_into_view_if_needed()
    before = view.locator(".vnb-entry").count()
    box = view.locator("textarea.vnb-prompt")
    box.click()
    box.press_sequentially(text, delay=5)
    view.locator("button.vnb-send").click()
    entry = view.locator(".vnb-entry").nth(before)
    entry.wait_for()
    return entry


def assert_rendered(scope) -> None:
    assert scope.locator("h2").first.inner_text() == "Markdown check"
    assert scope.locator("ol > li").count() == 2
    assert scope.locator("table th").all_inner_texts() == ["vessel", "local"]
    code = scope.locator(".vnb-code")
    assert code.locator("span.k").first.inner_text() == "def"  # highlighted
    assert code.locator("code").first.inner_text() == CODE
    assert scope.locator("strong", has_text="end").count() == 1
    assert "[image: pixel]" in scope.inner_text() and "bad link" in scope.inner_text()
    assert "<script>" in scope.inner_text()  # shown as text, not run


def assert_inert(page, requests: list[str]) -> None:
    found = page.evaluate(INERT, ANSWERS)
    assert found == {"scripts": 0, "images": 0, "jsLinks": 0, "handlers": 0, "pwned": None}, found
    assert not [u for u in requests if "127.0.0.1:9/" in u], "a remote image was fetched"


def ask_output(page):
    """The final answer of the render notebook's %%ask cell (its last cell), once it is shown;
    the output area is marked data-vnb-ask so the inertness check covers it."""
    last = page.locator(".jp-Notebook .jp-CodeCell").last
    page.wait_for_function(
        r"(el) => /\[\d+\]/.test(el.textContent)", arg=last.locator(".jp-InputPrompt").element_handle(), timeout=WAIT
    )
    out = last.locator(".jp-OutputArea-output[data-mime-type='text/markdown']").last
    out.locator("sub").wait_for()
    out.evaluate("(el) => el.closest('.jp-OutputArea').setAttribute('data-vnb-ask', '')")
    return out


def assert_ask_rendered(out) -> None:
    """The %%ask answer shows the structure, and the hostile parts as words."""
    assert out.locator("h2").first.inner_text().startswith("Markdown check")
    assert out.locator("ol > li").count() == 2 and out.locator("table th").count() == 2
    assert "def double(x):" in out.locator("pre").first.inner_text()
    text = out.inner_text()
    assert "<script>" in text and "onerror=" in text and "[image: pixel]" in text and "bad link" in text, text


def cell_index_of(page, locator) -> int:
    return locator.evaluate(
        "(el) => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].indexOf(el.closest('.jp-Cell'))"
    )


def distance_from_end(view) -> float:
    return view.locator(".vnb-transcript").evaluate("(t) => t.scrollHeight - t.scrollTop - t.clientHeight")


def scroll_up_while_answering(page, asker, watched, prompt: str) -> str:
    """Ask ``prompt`` in the chat view ``asker``; as the answer starts streaming in the view
    ``watched``, scroll that view's transcript to the top, as a reader going back would.
    Returns the entry's id once the answer is done in both views (the steps that check
    following and "Jump to latest" in JupyterLab and Notebook 7)."""
    entry = ask_in_view(page, asker, prompt)
    eid = entry.get_attribute("data-id")
    watched.locator(f'.vnb-entry[data-id="{eid}"][data-status="streaming"]').wait_for()
    watched.locator(".vnb-transcript").evaluate("(t) => { t.scrollTop = 0; t.dispatchEvent(new Event('scroll')); }")
    for view in (asker, watched):
        view.locator(f'.vnb-entry[data-id="{eid}"][data-status="done"]').wait_for(timeout=WAIT)
    return eid


def jump_to_latest(page, view) -> None:
    """Click the view's "Jump to latest" and wait until its transcript shows the end."""
    view.locator(".vnb-jump").click()
    page.wait_for_function(
        "(t) => t.scrollHeight - t.scrollTop - t.clientHeight < 40",
        arg=view.locator(".vnb-transcript").element_handle(),
    )


# --- JupyterLab ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab_page(browser, lab, hostile_fleet):
    """The render notebook open and run in JupyterLab; the tests below share it, in order
    (each a step: a failure names the step, and the page is dumped under that name)."""
    base, root = lab
    nbformat.write(render_notebook(hostile_fleet), root / "render.ipynb")
    requests: list[str] = []
    context, page = open_page(browser, base, "/lab/tree/render.ipynb?reset", requests)
    state = SimpleNamespace(base=base, root=root, page=page, requests=requests, cid=None)
    try:
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=WAIT)
        run_all(page)
        views = page.locator(".vnb-chat")
        views.nth(1).wait_for()
        state.views, state.cmp = views, page.locator(".vnb-cmp")
        yield state
    finally:
        with contextlib.suppress(Exception):  # the theme is the server's: later tests share it
            set_theme(page, "JupyterLab Light")
        context.close()


@pytest.fixture
def lab_state(request, lab_page):
    request.node.vnb_page = lab_page.page  # for the failure dump in conftest
    return lab_page


def test_lab_chat_renders_markdown_while_streaming_and_makes_it_inert(lab_state, artifacts):
    page, views, requests = lab_state.page, lab_state.views, lab_state.requests
    # chat: Markdown while streaming, then the final render, in both views
    page.evaluate(WATCH_RAW)
    entry = ask_in_view(page, views.first, "Show me some Markdown.")
    cid = lab_state.cid = entry.get_attribute("data-id")
    page.locator(f'.vnb-entry[data-id="{cid}"][data-status="streaming"] .vnb-text h2').first.wait_for()
    for i in (0, 1):
        views.nth(i).locator(f'.vnb-entry[data-id="{cid}"][data-status="done"]').wait_for(timeout=WAIT)
        assert_rendered(views.nth(i).locator(f'.vnb-entry[data-id="{cid}"] .vnb-text'))
    assert_inert(page, requests)
    assert page.evaluate("window.__vnbRaw") == [], "Markdown shown raw before it was formatted"
    views.first.screenshot(path=str(artifacts / "render-chat-light.png"))


def test_lab_comparison_renders_every_column(lab_state, artifacts):
    page, requests = lab_state.page, lab_state.requests
    # comparison: every column rendered
    cmp = page.locator(".vnb-cmp")
    cmp.scroll_into_view_if_needed()
    cmp.locator("textarea.vnb-prompt").click()
    cmp.locator("textarea.vnb-prompt").press_sequentially("Markdown, please.", delay=5)
    cmp.locator("button.vnb-run").click()
    page.locator('.vnb-cmp[data-state="done"]').wait_for(timeout=WAIT)
    for i in range(2):
        assert_rendered(cmp.locator(".vnb-col").nth(i).locator(".vnb-text"))
    assert_inert(page, requests)
    cmp.screenshot(path=str(artifacts / "render-compare-light.png"))


def test_lab_ask_answer_is_inert(lab_state, artifacts):
    page, requests = lab_state.page, lab_state.requests
    # the same hostile answer as the output of a %%ask cell: Markdown, and nothing runs
    out = ask_output(page)
    assert_ask_rendered(out)
    assert_inert(page, requests)
    out.screenshot(path=str(artifacts / "render-ask-light.png"))


def test_lab_copy_code_copy_answer_and_insert_cell(lab_state):
    page, views, cid = lab_state.page, lab_state.views, lab_state.cid
    assert cid, "needs the chat answer of the first test"
    # copy a code block, copy the answer, insert the code into a new cell below the panel
    chat_entry = views.first.locator(f'.vnb-entry[data-id="{cid}"]')
    chat_entry.locator(".vnb-code .vnb-copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == CODE
    chat_entry.locator(".vnb-badge .vnb-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE_MD
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    panel_cell = cell_index_of(page, views.first)
    chat_entry.locator(".vnb-code .vnb-insert").first.click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {cells_before + 1}")
    inserted = page.locator(".jp-Notebook .jp-Cell").nth(panel_cell + 1)
    assert CODE.splitlines()[0] in inserted.locator(".jp-InputArea").inner_text()


def test_lab_views_follow_the_newest_message_and_a_view_shown_again_opens_at_the_end(lab_state, artifacts):
    page, views = lab_state.page, lab_state.views
    # follow the newest message: both views end at the bottom; scrolled up, a view stays
    # put and offers "Jump to latest"; a view shown again opens at the bottom
    scroll_up_while_answering(page, views.first, views.nth(1), "And again.")
    assert distance_from_end(views.first) < 40, "the view did not follow the answer"
    assert distance_from_end(views.nth(1)) > 200, "a view scrolled up was pulled down"
    jump = views.nth(1).locator(".vnb-jump")
    assert jump.is_visible()
    jump_to_latest(page, views.nth(1))
    assert not jump.is_visible()
    shown_again = page.locator(".jp-Notebook .jp-Cell").nth(cell_index_of(page, views.nth(1)))
    shown_again.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('.vnb-chat').length === 2 && document.querySelectorAll('.vnb-chat')[1].querySelectorAll('.vnb-entry').length === 2"
    )
    page.wait_for_function(
        "() => { const t = document.querySelectorAll('.vnb-chat')[1].querySelector('.vnb-transcript'); return t.scrollHeight > t.clientHeight && t.scrollHeight - t.scrollTop - t.clientHeight < 40; }"
    )
    views.nth(1).screenshot(path=str(artifacts / "render-chat-shown-again.png"))


def test_lab_dark_theme(lab_state, artifacts):
    page, views, cmp = lab_state.page, lab_state.views, lab_state.cmp
    # dark theme, then back to light (the theme is a setting of the server, which later
    # tests share: lab_page restores it if anything here fails)
    set_theme(page, "JupyterLab Dark")
    page.wait_for_timeout(500)  # the theme's CSS transition
    views.first.scroll_into_view_if_needed()
    views.first.screenshot(path=str(artifacts / "render-chat-dark.png"))
    cmp.scroll_into_view_if_needed()
    cmp.screenshot(path=str(artifacts / "render-compare-dark.png"))
    out = ask_output(page)
    out.scroll_into_view_if_needed()
    out.screenshot(path=str(artifacts / "render-ask-dark.png"))
    set_theme(page, "JupyterLab Light")


def test_lab_saved_notebook_reopens_without_a_kernel(lab_state, artifacts):
    page, base, root = lab_state.page, lab_state.base, lab_state.root
    # save; the widget state is in the file, without a key; stop the kernel and reopen
    page.keyboard.press("Control+s")
    page.locator(".jp-mod-dirty").first.wait_for(state="detached")
    saved = json.loads((root / "render.ipynb").read_text())
    state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    transcripts = [m["state"]["transcript"] for m in state.values() if "transcript" in m["state"]]
    assert transcripts and "<h2>Markdown check</h2>" in transcripts[0][0]["html"]
    outputs = [o for c in saved["cells"][1:] for o in c.get("outputs", [])]
    fallbacks = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    # the fallback for viewers without widgets was brought up to date at the save
    assert any("<h2>Markdown check</h2>" in f and "And again." in f for f in fallbacks), fallbacks
    assert any("Markdown, please." in f for f in fallbacks), fallbacks
    for provider in ("anthropic", "openai", "gemini"):  # only the setup cell's source holds a key
        assert practice_key(provider) not in json.dumps(state) + json.dumps(outputs)
    saved_views_have_state(saved)
    reopen_without_its_kernel(page, base, "render.ipynb", ".vnb-chat .vnb-entry .vnb-text h2", artifacts)
    page.locator(".vnb-chat .vnb-entry .vnb-text h2").first.wait_for(timeout=WAIT)
    assert page.locator(".vnb-chat").first.locator(".vnb-entry").count() == 2
    assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    page.screenshot(path=str(artifacts / "render-reopened-without-kernel.png"))

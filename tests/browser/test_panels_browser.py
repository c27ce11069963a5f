"""The panels in a real JupyterLab, driven through Chromium like a person would.

One notebook (written by the test into the server's temporary root) wires an orchestrator
to the practice servers and displays a ChatPanel, a CompareWidget, the same ChatPanel a
second time, and runs a comparison from a cell. The tests run in order on that one page:
Run All, chat streaming, Stop, Ollama going down, comparison, dark theme. Screenshots of
each panel go to test-artifacts/.
"""

from __future__ import annotations

import base64

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from vessel_nb.practice.fleet import MODELS, practice_key

from .conftest import PACE, set_theme, watch_console

pytestmark = pytest.mark.browser

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WAIT = 60_000  # ms: generous, a loaded CI machine is slow to start a kernel

# Samples the text length of every element matching a selector every 25 ms, in the page.
SAMPLER = """
window.__vnbSamples = {};
window.__vnbTimers = {};
window.__vnbSample = (name, selector) => {
  const samples = (window.__vnbSamples[name] = []);
  const t0 = performance.now();
  window.__vnbTimers[name] = setInterval(() => {
    samples.push([performance.now() - t0, [...document.querySelectorAll(selector)].map((el) => el.textContent.length)]);
  }, 25);
};
window.__vnbStop = (name) => { clearInterval(window.__vnbTimers[name]); return window.__vnbSamples[name]; };
"""


def notebook_source(fleet) -> nbformat.NotebookNode:
    """The fixture notebook: practice vessels wired explicitly, both panels displayed."""
    url = {name: fleet[name].base_url for name in fleet.names}
    setup = f"""\
import vessel_nb as vnb
from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter

# practice servers started by the test (labelled practice; any key is accepted)
orch = AIOrchestrator(
    {{
        "ollama": OllamaAdapter(model={MODELS["ollama"]!r}, base_url={url["ollama"]!r}),
        "claude": ClaudeAdapter(model={MODELS["anthropic"]!r}, base_url={url["anthropic"]!r}, api_key={practice_key("anthropic")!r}),
        "openai": OpenAIAdapter(model={MODELS["openai"]!r}, base_url={url["openai"]!r}, api_key={practice_key("openai")!r}),
        "gemini": GeminiAdapter(model={MODELS["gemini"]!r}, base_url={url["gemini"]!r}, api_key={practice_key("gemini")!r}),
    }},
    priority=["ollama", "claude", "openai", "gemini"],
    log_path=False,
)
vnb.use(orch)"""
    cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell("panel = vnb.ChatPanel(orch, health_interval=1.0)\npanel"),
        nbformat.v4.new_code_cell(
            'cmp = vnb.CompareWidget(orch, vessels=["ollama", "claude", "openai", "gemini"])\ncmp'
        ),
        nbformat.v4.new_code_cell("panel  # the same panel, displayed a second time"),
        nbformat.v4.new_code_cell(
            'results = cmp.run("Which of you answers first?")  # blocks; the view above streams meanwhile\n'
            "{name: type(r).__name__ for name, r in results.items()}"
        ),
        nbformat.v4.new_code_cell('call = panel.ask("Sent from a cell")  # returns at once; the views stream it'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def grew(samples: list, index: int = 0) -> tuple[int, float]:
    """(distinct increasing lengths seen, seconds between the first and last change) of one element."""
    lengths = [(t, lens[index]) for t, lens in samples if len(lens) > index]
    changes = [(t, n) for (t, n), (_, prev) in zip(lengths[1:], lengths[:-1], strict=True) if n != prev]
    values = [n for _, n in changes]
    assert values == sorted(values), f"the text shrank while streaming: {values}"
    span = (changes[-1][0] - changes[0][0]) / 1000 if len(changes) > 1 else 0.0
    return len(set(values)), span


@pytest.fixture(scope="module")
def page(browser, lab, slow_fleet, request):
    """JupyterLab with the fixture notebook opened and run (Run All)."""
    base, root = lab
    nbformat.write(notebook_source(slow_fleet), root / "panels.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    watch_console(pg)
    pg.add_init_script(SAMPLER)
    pg.set_default_timeout(WAIT)
    pg.goto(f"{base}/lab/tree/panels.ipynb?reset")
    pg.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=WAIT)
    # record the comparison's columns from before they exist: cell 5 streams during Run All
    pg.evaluate("window.__vnbSample('cmp-cell', '.vnb-cmp .vnb-col .vnb-text')")
    pg.evaluate("window.__vnbSample('chat-cell', '.vnb-chat .vnb-entry:first-child .vnb-text')")
    run_all(pg)
    yield pg
    context.close()


def run_all(pg) -> None:
    """Run All once the kernel is connected (the indicator alone can say idle too early)."""
    pg.locator('[title^="Change kernel for"]', has_text="| Idle").wait_for(timeout=WAIT)
    first_prompt = pg.locator(".jp-Cell").first.locator(".jp-InputPrompt")
    for _attempt in range(3):
        pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        pg.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            pg.wait_for_function(
                r"(el) => /\[(\*|\d+)\]/.test(el.textContent)", arg=first_prompt.element_handle(), timeout=15_000
            )
            return
        except PlaywrightTimeout:  # the click landed before the kernel was really connected
            pg.vnb_console.append("Run All did not start the first cell; retrying")
    raise AssertionError("Run All never started the notebook")


@pytest.fixture(autouse=True)
def _mark_page(request, page):
    request.node.vnb_page = page  # for the failure dump in conftest
    yield


def chat_views(page):
    return page.locator(".vnb-chat")


def send_from_panel(page, text: str) -> str:
    """Type into the first chat view and click Send; returns the new entry's id."""
    view = chat_views(page).first
    view.scroll_into_view_if_needed()
    before = view.locator(".vnb-entry").count()
    box = view.locator("textarea.vnb-prompt")
    box.click()
    box.press_sequentially(text, delay=5)
    view.locator("button.vnb-send").click()
    view.locator(".vnb-entry").nth(before).wait_for()
    return view.locator(".vnb-entry").nth(before).get_attribute("data-id")


def test_run_all_renders_both_panels_and_the_cell_comparison_streams(page, artifacts):
    page.locator('.vnb-cmp[data-state="done"]').wait_for(timeout=WAIT)
    samples = page.evaluate("window.__vnbStop('cmp-cell')")
    assert chat_views(page).count() == 2, "the panel displayed twice must give two views"
    cols = page.locator(".vnb-cmp .vnb-col")
    assert cols.count() == 4
    for i in range(4):
        col = cols.nth(i)
        assert col.get_attribute("data-status") in ("done",), col.inner_text()
        values = col.locator(".vnb-metric-value").all_inner_texts()
        assert all(v.strip() not in ("–", "…", "") for v in values), f"{col.get_attribute('data-vessel')}: {values}"
        assert "practice" in col.locator(".vnb-text").inner_text()
        distinct, span = grew(samples, i)
        assert distinct >= 5 and span >= 0.5, f"column {i} did not stream: {distinct} sizes over {span:.2f}s"
    # the cell's result: every column answered
    out = page.locator(".jp-Cell").nth(4).locator(".jp-OutputArea-output").last
    out.wait_for()
    assert out.inner_text().count("Reply") == 4
    rows = page.locator(".vnb-cmp .vnb-summary-table tbody tr")
    assert rows.count() == 4
    # "fastest" only for a clear difference (compare.fastest_vessel); equal-paced practice
    # servers may or may not show one, but never two
    assert page.locator(".vnb-cmp .vnb-col.vnb-fastest").count() <= 1
    page.locator(".vnb-cmp").scroll_into_view_if_needed()
    page.locator(".vnb-cmp").screenshot(path=str(artifacts / "compare-cell-run.png"))


def test_panel_send_from_a_cell_streams_into_both_views(page):
    entries = page.locator(".vnb-chat .vnb-entry").filter(has_text="Sent from a cell")
    entries.nth(1).wait_for(timeout=WAIT)
    for i in (0, 1):
        entries.nth(i).and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    samples = page.evaluate("window.__vnbStop('chat-cell')")
    for view in (0, 1):
        distinct, span = grew(samples, view)
        assert distinct >= 5 and span >= 0.5, f"view {view}: {distinct} sizes over {span:.2f}s — not streaming"
    assert "practice ollama vessel" in entries.first.locator(".vnb-text").inner_text()
    assert "first token" in entries.first.locator(".vnb-badge").inner_text()


def test_chat_send_streams_into_both_views_with_a_badge(page, artifacts):
    page.evaluate("window.__vnbSample('chat', '.vnb-chat .vnb-entry:last-child .vnb-text')")
    cid = send_from_panel(page, "What does a vessel do?")
    entries = page.locator(f'.vnb-entry[data-id="{cid}"]')
    entries.first.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    entries.nth(1).and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    samples = page.evaluate("window.__vnbStop('chat')")
    for view in (0, 1):
        distinct, span = grew(samples, view)
        assert distinct >= 5 and span >= 0.5, f"view {view}: {distinct} sizes over {span:.2f}s — not streaming"
    texts = [entries.nth(i).locator(".vnb-text").inner_text() for i in (0, 1)]
    assert texts[0] == texts[1] and "practice ollama vessel" in texts[0] and "What does a vessel do?" in texts[0]
    badge = entries.first.locator(".vnb-badge").inner_text()
    for part in ("ollama", MODELS["ollama"], "local", "first token", "total", "tok/s"):
        assert part in badge, f"{part!r} missing from the badge: {badge!r}"
    assert entries.first.get_attribute("data-vessel") == "ollama"
    light = chat_views(page).first.locator('.vnb-light[data-vessel="ollama"]')
    assert light.get_attribute("data-state") == "up"
    assert "ms" in light.get_attribute("title")


LONG_STORY = " ".join(f"word{i}" for i in range(800))
"""the practice Ollama's answer to the Stop test: 800 words at PACE s a word is 40 s, so Stop
lands mid-stream however slowly a loaded machine delivers the click"""


@pytest.fixture
def long_story(slow_fleet):
    slow_fleet["ollama"].reply = LONG_STORY
    yield LONG_STORY
    slow_fleet["ollama"].reply = None


def test_stop_mid_stream_stops_the_text_and_closes_the_connection(page, slow_fleet, long_story, artifacts):
    disconnects = slow_fleet["ollama"].disconnects
    cid = send_from_panel(page, "Tell me a long story.")
    view = chat_views(page).first
    entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
    text = entry.locator(".vnb-text")
    page.wait_for_function(
        "(id) => (document.querySelector(`.vnb-entry[data-id='${id}'] .vnb-text`) || {}).textContent?.length > 40",
        arg=cid,
    )
    # while the text streams, Stop is enabled in both views (a click waits for an enabled
    # button, so a Stop left disabled would show only as a timeout: check it first)
    assert entry.get_attribute("data-status") == "streaming"
    for i in (0, 1):
        assert chat_views(page).nth(i).locator("button.vnb-stop").is_enabled(), f"Stop disabled in view {i}"
    view.screenshot(path=str(artifacts / "chat-streaming.png"))
    view.locator("button.vnb-stop").click(timeout=5_000)
    page.locator(f'.vnb-entry[data-id="{cid}"]:is([data-status="stopped"], [data-status="done"])').first.wait_for()
    assert entry.get_attribute("data-status") == "stopped", "the answer finished before Stop took effect"
    stopped_at = len(text.inner_text())
    slow_fleet["ollama"].wait_for(lambda: slow_fleet["ollama"].disconnects > disconnects, timeout=10)
    page.wait_for_timeout(1000)  # not waiting for a server: checking that nothing more arrives
    assert len(text.inner_text()) == stopped_at
    assert 0 < stopped_at < len(LONG_STORY)
    assert "stopped by you" in entry.locator(".vnb-badge").inner_text()
    assert view.locator("button.vnb-stop").is_disabled() and root_busy(view) == "false"
    view.locator(".vnb-log summary").click()
    view.locator(".vnb-log tr.vnb-row-cancelled").first.wait_for(timeout=WAIT)
    view.screenshot(path=str(artifacts / "chat-after-stop.png"))


def root_busy(view) -> str | None:
    return view.get_attribute("data-busy")


def test_ollama_down_turns_its_light_red_and_the_answer_falls_back(page, slow_fleet, artifacts):
    view = chat_views(page).first
    view.scroll_into_view_if_needed()
    slow_fleet["ollama"].stop()
    try:
        light = view.locator('.vnb-light[data-vessel="ollama"]')
        view.locator('.vnb-light[data-vessel="ollama"][data-state="down"]').wait_for(timeout=WAIT)
        assert "down" in light.get_attribute("title")
        cid = send_from_panel(page, "Is anyone there?")
        entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
        entry.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
        assert entry.get_attribute("data-vessel") == "claude"
        assert "practice claude vessel" in entry.locator(".vnb-text").inner_text()
        badge = entry.locator(".vnb-badge").inner_text()
        assert "ollama ✕" in badge and "claude" in badge and "cloud" in badge
        event = entry.locator(".vnb-event-fallback")
        assert event.count() == 1 and "ollama" in event.inner_text()
        assert view.locator(".vnb-log tr.vnb-row-fallback").count() >= 1
        assert light.get_attribute("data-state") == "down"
        assert view.locator('.vnb-light[data-vessel="claude"]').get_attribute("data-state") == "up"
        view.screenshot(path=str(artifacts / "chat-fallback.png"))
    finally:
        slow_fleet["ollama"].start()
    view.locator('.vnb-light[data-vessel="ollama"][data-state="up"]').wait_for(timeout=WAIT)


def test_compare_from_the_widget_finishes_every_column_with_timings(page, artifacts):
    cmp = page.locator(".vnb-cmp")
    cmp.scroll_into_view_if_needed()
    old_prompt = cmp.locator(".vnb-cmp-prompt").inner_text()
    box = cmp.locator("textarea.vnb-prompt")
    box.click()
    box.press_sequentially("Describe yourself in one line.", delay=5)
    page.evaluate("window.__vnbSample('cmp-ui', '.vnb-cmp .vnb-col .vnb-text')")
    cmp.locator("button.vnb-run").click()
    page.locator('.vnb-cmp[data-state="running"]').wait_for()
    page.locator('.vnb-cmp[data-state="done"]').wait_for(timeout=WAIT)
    samples = page.evaluate("window.__vnbStop('cmp-ui')")
    assert cmp.locator(".vnb-cmp-prompt").inner_text() != old_prompt
    cols = cmp.locator(".vnb-col")
    for i in range(cols.count()):
        assert cols.nth(i).get_attribute("data-status") == "done"
        assert "Describe yourself" in cols.nth(i).locator(".vnb-text").inner_text()
        distinct, _ = grew(samples, i)
        assert distinct >= 3
    summary = cmp.locator(".vnb-summary-table tbody tr")
    assert summary.count() == 4
    for i in range(4):
        cells = summary.nth(i).locator("td").all_inner_texts()
        assert cells[1].endswith(" s") and cells[2].endswith(" s"), cells
    cmp.screenshot(path=str(artifacts / "compare-widget.png"))


def test_image_attach_and_thinking_toggle(page, artifacts, tmp_path):
    view = chat_views(page).first
    view.scroll_into_view_if_needed()
    png = tmp_path / "dot.png"
    png.write_bytes(PNG_1PX)
    view.locator("input.vnb-file").set_input_files(str(png))
    assert "dot.png" in view.locator(".vnb-files").inner_text()
    view.locator("input.vnb-thinking").check()
    cid = send_from_panel(page, "What is in this picture?")
    entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
    entry.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    assert "dot.png" in entry.locator(".vnb-q").inner_text()
    assert "I received 1 image" in entry.locator(".vnb-text").inner_text()
    thinking = entry.locator(".vnb-thinking-box")
    thinking.locator("summary").click()  # folded once the answer is done
    assert "Practice reasoning" in thinking.inner_text()
    assert view.locator(".vnb-files").inner_text() == ""  # sent, so no longer attached
    view.locator("input.vnb-thinking").uncheck()
    view.screenshot(path=str(artifacts / "chat-image-thinking.png"))


def test_private_call_to_a_cloud_vessel_is_refused_in_the_panel(page, slow_fleet, artifacts):
    view = chat_views(page).first
    view.scroll_into_view_if_needed()
    requests = len(slow_fleet["anthropic"].requests)
    view.locator("select.vnb-vessel").select_option("claude")
    view.locator("input.vnb-private").check()
    try:
        # the second view of the same panel follows the selector and the toggle
        other = chat_views(page).nth(1)
        page.wait_for_function("(el) => el.value === 'claude'", arg=other.locator("select.vnb-vessel").element_handle())
        assert other.locator("input.vnb-private").is_checked()
        cid = send_from_panel(page, "My secret plan")
        entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
        entry.and_(page.locator('[data-status="error"]')).wait_for(timeout=WAIT)
        error = entry.locator(".vnb-error").inner_text()
        assert "not a local vessel" in error and "Nothing was sent" in error
        assert "private" in entry.locator(".vnb-q").inner_text()
        assert len(slow_fleet["anthropic"].requests) == requests
        entry.screenshot(path=str(artifacts / "chat-error-entry.png"))
    finally:
        view.locator("select.vnb-vessel").select_option("auto")
        view.locator("input.vnb-private").uncheck()


def test_reload_mid_stream_shows_the_whole_answer(page, slow_fleet):
    ollama = slow_fleet["ollama"]
    ollama.pace = 0.5  # long enough (~20 s) to reload the page in the middle, on a loaded machine too
    try:
        before = chat_views(page).first.locator(".vnb-entry").count()
        cid = send_from_panel(page, "Keep talking while the page reloads.")
        page.wait_for_function(
            "(id) => (document.querySelector(`.vnb-entry[data-id='${id}'] .vnb-text`) || {}).textContent?.length > 20",
            arg=cid,
        )
        page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
        page.locator('.lm-Menu-item[data-command="docmanager:save"]').click()
        page.locator(".jp-mod-dirty").first.wait_for(state="detached")
        page.reload()
        view = chat_views(page).first
        entry = view.locator(f'.vnb-entry[data-id="{cid}"]')
        entry.wait_for(timeout=WAIT)
        # still streaming after the reload: the view asked for a snapshot and goes on from there
        assert entry.get_attribute("data-status") == "streaming", "the reload took longer than the answer"
        page.wait_for_function(
            "(id) => (document.querySelector(`.vnb-entry[data-id='${id}'] .vnb-text`) || {}).textContent?.length > 20",
            arg=cid,
        )
        entry.and_(page.locator('[data-status="done"]')).wait_for(timeout=WAIT)
    finally:
        ollama.pace = PACE
    text = entry.locator(".vnb-text").inner_text()
    assert text.startswith("This is the practice ollama vessel") and text.rstrip().endswith("real answer.")
    assert "Keep talking while the page reloads." in text
    assert view.locator(".vnb-entry").count() == before + 1  # every earlier answer is back too
    assert chat_views(page).nth(1).locator(f'.vnb-entry[data-id="{cid}"] .vnb-text').inner_text() == text
    page.locator('.vnb-cmp[data-state="done"]').wait_for()


@pytest.fixture
def dark(page):
    """JupyterLab Dark for one test, then Light again: the theme is a setting of the server,
    and the tests after this one (other files too) share that server."""
    set_theme(page, "JupyterLab Dark")
    yield
    set_theme(page, "JupyterLab Light")


def test_dark_theme_reads(page, dark, artifacts):
    view = chat_views(page).first
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the theme's CSS transition
    bg = view.evaluate("el => getComputedStyle(el).backgroundColor")
    fg = view.evaluate("el => getComputedStyle(el).color")
    assert _luminance(bg) < 0.3 < _luminance(fg), (bg, fg)
    view.screenshot(path=str(artifacts / "chat-dark.png"))
    page.locator(".vnb-cmp").screenshot(path=str(artifacts / "compare-dark.png"))
    errors = [m for m in page.vnb_console if "anywidget" in m.lower() and ("error" in m.lower())]
    assert not errors, errors


def _luminance(css: str) -> float:
    nums = [float(x) for x in css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")[:3]]
    r, g, b = (n / 255 for n in nums)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b

"""Answers rendered as safe HTML for the panels (vessel_nb/widgets/_markdown.py), the shared
ES module bundle and the static fallback beside the widget view (_static.py)."""

from __future__ import annotations

import random
import re

import pytest

from vessel_nb.widgets._markdown import MarkdownStream, render
from vessel_nb.widgets._static import bundle, chat_fallback, compare_fallback

HOSTILE = """\
# Plan

<script>alert("script")</script>

<img src="x" onerror="alert('img')">

Click [here](javascript:alert('link')) or [there](JaVaScRiPt:alert(1)) or [data](data:text/html,<b>x</b>).
A remote picture: ![tracker](https://evil.example/pixel.png) and an inline <b onmouseover="alert(2)">tag</b>.
A fine link: [docs](https://example.org/docs "the docs").
"""

DOC = """\
## Steps

1. install
2. run

| name | value |
|:-----|------:|
| a    | `1<2` |

```python
def f(x):
    return x * 2  # double
```

> a *quote* with **bold** and ~~old~~

Last paragraph.
"""


def test_hostile_answer_is_inert():
    out = render(HOSTILE)
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "<img" not in out and "&lt;img" in out
    assert not re.search(r"<[^>]+\son\w+=", out), "an event handler attribute survived"
    assert 'href="javascript' not in out.lower() and 'href="data' not in out.lower()
    assert not any("evil.example" in url for url in re.findall(r'(?:src|href)="([^"]*)"', out))
    assert '<a href="https://example.org/docs" title="the docs">docs</a>' in out
    assert "[image: tracker]" in out


def test_markdown_blocks_and_highlighting():
    out = render(DOC)
    for tag in ("<h2>", "<ol>", "<table>", 'style="text-align:right"', "<blockquote>", "<del>", "<strong>"):
        assert tag in out, tag
    assert '<div class="vnb-code" data-lang="python">' in out
    assert '<span class="k">def</span>' in out  # Pygments classes, coloured by the CSS
    assert "<code>1&lt;2</code>" in out


def test_unknown_language_and_open_fence_are_escaped_and_closed():
    out = render("```nosuchlang\n<b>x</b>\n")  # a cut-off answer: the fence never closes
    assert '<div class="vnb-code" data-lang="nosuchlang"><pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre></div>' in out


@pytest.mark.parametrize("seed", range(5))
def test_stream_gives_the_same_html_as_the_whole_render(seed):
    rng = random.Random(seed)
    text = DOC + "\n" + HOSTILE
    ms = MarkdownStream(interval=0)
    done, i = [], 0
    while i < len(text):
        n = rng.randint(1, 9)
        d, tail = ms.push(text[i : i + n])
        done.append(d)
        i += n
    assert "".join(done) == ms.done_html
    assert ms.done_html + ms.tail_html == render(text)
    assert ms.done_html, "no block was ever complete: every flush re-rendered the whole answer"


def test_renders_are_throttled_and_pending_text_is_kept():
    ms = MarkdownStream(interval=3600)
    assert ms.push("Hello ") is not None  # the first render is immediate
    assert ms.push("wor") is None and ms.push("ld, ") is None  # plain words wait
    assert ms.pending == "world, "
    assert ms.push("**bold**") is not None and ms.pending == ""  # markup does not
    assert ms.push("\n```python\nx = 1") is not None  # a new line does not
    assert ms.push(" * 2\ny = [x]") is None  # inside a code block, text is shown as it is
    assert ms.push("\n```") is not None  # but not a closing fence


def test_no_markup_ever_shows_raw_while_streaming(monkeypatch):
    # A flush every 0.05 s (LiveText's pace), 4 characters each; renders at most every 0.1 s
    # for plain words. Whatever the views show raw (ms.pending) must look the same rendered.
    import vessel_nb.widgets._markdown as md

    clock = iter(i * 0.05 for i in range(10**6))
    monkeypatch.setattr(md.time, "monotonic", lambda: next(clock))
    text = (DOC + "\n" + HOSTILE) * 3
    ms = MarkdownStream(interval=0.1)
    raw_markup, renders, flushes = [], 0, 0
    for i in range(0, len(text), 4):
        flushes += 1
        if ms.push(text[i : i + 4]) is not None:
            renders += 1
        elif re.search(r"[#*`|\[\]~<>!]", ms.pending) and not md._open_fence(ms._tail[: -len(ms.pending)]):
            raw_markup.append(ms.pending)
    assert not raw_markup, f"markup shown raw before its render: {raw_markup[:5]}"
    assert renders < flushes, "every flush rendered: plain words should wait for the 0.1 s pace"


def _stream_cost(text: str) -> int:
    ms = MarkdownStream(interval=0)
    sent = 0
    for i in range(0, len(text), 16):
        d, tail = ms.push(text[i : i + 16])
        sent += len(d) + len(tail)
    return sent


@pytest.mark.parametrize(
    "make",
    [
        lambda n: " ".join(f"word{i % 97}" for i in range(n)),  # one paragraph, no blank line
        lambda n: "```python\n" + "\n".join(f"x{i} = {i}  # c" for i in range(n // 3)) + "\n```\n",  # one code block
        lambda n: "\n\n".join(f"Paragraph {i} with *some* words." for i in range(n // 5)),
    ],
    ids=["long-paragraph", "long-code-block", "many-paragraphs"],
)
def test_stream_rendering_cost_is_linear_in_the_answer(make):
    small, big = make(300), make(3_000)
    ratio = (_stream_cost(big) / len(big)) / (_stream_cost(small) / len(small))
    assert ratio < 1.6, f"HTML sent per character grew {ratio:.1f}x for 10x the answer: not linear"


def test_long_blocks_go_out_as_parts():
    ms = MarkdownStream(interval=0)
    for i in range(0, 3000, 7):
        ms.push(" ".join(f"w{j}" for j in range(3000))[i : i + 7])
    assert '<span class="vnb-para-part">' in ms.done_html
    ms = MarkdownStream(interval=0)
    code = "```python\n" + "\n".join(f"x = {i}" for i in range(200)) + "\n"
    for i in range(0, len(code), 7):
        ms.push(code[i : i + 7])
    assert 'class="vnb-code vnb-code-part"' in ms.done_html
    assert ms.tail_html.startswith('<div class="vnb-code" data-lang="python">')


def test_views_are_one_self_contained_module_each():
    for view in ("chat.js", "compare.js"):
        esm = bundle("shared.js", view)
        assert not re.search(r"^\s*import\b", esm, re.M), "anywidget loads the module from a Blob URL: no imports"
        assert len(re.findall(r"^export default\b", esm, re.M)) == 1
        assert "function createLiveStore" in esm and "function safeFragment" in esm
        assert "STORES" not in esm  # per-model state lives in the factory, not a module-level map


def test_fallbacks_show_the_conversation_as_html_and_text():
    entry = {"prompt": "Why <b>?", "text": "**Because.**", "html": render("**Because.**"), "status": "done",
             "vessel": "ollama", "model": "m", "ttft_s": 0.1, "latency_s": 0.5}  # fmt: skip
    data = chat_fallback("my chat", [entry])
    assert "Why &lt;b&gt;?" in data["text/html"] and "<strong>Because.</strong>" in data["text/html"]
    assert "ollama · m · first token 0.10 s · total 0.50 s" in data["text/html"]
    assert data["text/plain"].startswith("my chat\nYou: Why <b>?")
    assert "No messages yet" in chat_fallback("empty", [])["text/html"]
    cmp = compare_fallback("cmp", "Hi", ["a", "b"], {"a": {"status": "done", "text": "A!", "html": "<p>A!</p>\n"}})
    assert "<h5>a</h5><p>A!</p>" in cmp["text/html"] and "[b]" in cmp["text/plain"]

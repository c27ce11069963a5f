"""What %%ask hands the notebook's Markdown renderer: the answer's structure, none of its
HTML. Checked by rendering the result with a Markdown renderer that KEEPS raw HTML (as
JupyterLab does for a trusted output): no tag, handler, image or unsafe link may come out."""

from __future__ import annotations

import re

import mistune
import pytest

from vessel_nb.magic import render
from vessel_nb.magic.safemd import safe_markdown

# a renderer as permissive as JupyterLab's for trusted output: raw HTML passes through
PERMISSIVE = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])

HOSTILE = [
    "<script>alert(1)</script>",
    "text <img src=x onerror=alert(1)> more",
    "<div>\n<iframe src=http://127.0.0.1:9/></iframe>\n</div>",
    "![pixel](http://127.0.0.1:9/p.png) and ![ref][r]\n\n[r]: http://127.0.0.1:9/r.png",
    "[click](javascript:alert(1)) [ref][j]\n\n[j]: javascript:alert(2)",
    r"\[x\](javascript:alert(3)) \!\[y\](http://127.0.0.1:9/q.png)",
    "<javascript:alert(4)> and <svg onload=alert(5)>",
    "> quote <img src=x onerror=alert(6)>\n\n- item <b onclick=alert(7)>b</b>",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(8)> | [x](javascript:alert(9)) |",
    "$[m](javascript:alert(10))$ and $$<img src=x onerror=alert(11)>$$",
    "&lt;script&gt;alert(12)&lt;/script&gt; &#60;img src=x onerror=alert(13)&#62;",
    "````\n```\n<script>alert(14)</script>\n````\n\n```\nopen fence <script>alert(15)</script>",
    "`` a ` <script>alert(16)</script> ``",
]


@pytest.mark.parametrize("answer", HOSTILE)
def test_a_hostile_answer_renders_inert_even_where_raw_html_is_allowed(answer):
    html = PERMISSIVE(safe_markdown(answer))
    assert not re.search(r"<(script|img|iframe|svg|div|b)\b", html), html
    assert not re.search(r"<[a-z][^>]*\son\w+=", html), html  # a handler inside a real tag
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), hrefs
    assert "javascript:" not in "".join(hrefs)


def test_without_escaping_the_same_answers_are_not_inert():
    # the check above can fail: the raw answers do produce tags (mistune itself drops a
    # javascript: href; JupyterLab's renderer, marked, keeps it: see tests/browser)
    raw = "".join(PERMISSIVE(a) for a in HOSTILE)
    assert "<script>" in raw and "<img src=x onerror" in raw and "<iframe" in raw


def test_structure_and_code_survive():
    answer = "## Title\n\n1. one\n2. two\n\n| a | b |\n|:--|:-:|\n| 1 | 2 |\n\n```python\nif a < b and c > d:\n    print('<b>')\n```\n\nUse `x<y` and **bold** and a [link](https://example.org/a_b) and e.g. 5 < 6."
    html = PERMISSIVE(safe_markdown(answer))
    assert "<h2>Title</h2>" in html and html.count("<li>") == 2 and "<th" in html
    assert "if a &lt; b and c &gt; d:" in html and "&lt;b&gt;" in html
    assert '<code class="language-python">' in html
    assert "<code>x&lt;y</code>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.org/a_b">link</a>' in html
    assert "e.g. 5 &lt; 6." in html


def test_images_become_words_and_math_stays_math():
    assert "[image: pixel]" in PERMISSIVE(safe_markdown("![pixel](https://example.org/p.png)"))
    md = safe_markdown("So $a<b$ and $x_1 + y_1$.\n\n$$\n\\frac{1}{2}\n$$")
    assert r"$a\lt b$" in md and "$x_1 + y_1$" in md and "$$\n\\frac{1}{2}\n$$" in md


def test_a_fence_inside_code_cannot_end_the_block_early():
    md = safe_markdown("````\n```\n<script>x</script>\n````")
    assert md.startswith("````\n") and md.endswith("\n````")


def test_every_ask_bundle_carries_the_safe_text():
    bad = "<img src=x onerror=alert(1)>"
    shown = [
        render.live_bundle(bad, "", "streaming", "markdown")["text/markdown"],
        render.stopped_bundle(bad, "ollama", "markdown")["text/markdown"],
        render._thinking_block(bad),
    ]
    for md in shown:
        assert "&lt;img src=x onerror=alert(1)" in PERMISSIVE(md), md

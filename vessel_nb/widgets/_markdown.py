"""A model's answer as safe HTML, rendered in the kernel, also while it streams.

Why here and not in the browser: the views are hand-written ES modules with no imports, so
a JavaScript Markdown library would have to be vendored into them. mistune (the renderer
nbconvert uses, so already installed wherever JupyterLab is) and Pygments (IPython's own
highlighter) are well kept and present in every kernel that runs JupyterLab.

An answer is untrusted text. Raw HTML in it is escaped, a link keeps only an http(s) or
mailto address (anything else becomes plain text), and images are never emitted: an
``<img>`` pointing at a remote host would be fetched the moment it is shown. The views
check the HTML once more against an allow-list before showing it (defence in depth).

Streaming without quadratic cost: :class:`MarkdownStream` renders a block once it is
complete (a blank line, a closed code fence or a heading ends it) and only re-renders the
last, open block on each flush, so the work per flush is bounded by that block, not by the
whole answer. The finished answer is rendered once more, whole, by :func:`render`.
"""

from __future__ import annotations

import html
import re
import time
from functools import lru_cache
from typing import Any

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_OR_INDENT = re.compile(r"^(\s|[-*+] |\d{1,9}[.)] )")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.I)
_MARKUP = re.compile(r"[\n#*_`|\[\]~\\<>&!]")  # what could change when rendered
_FENCE_MARK = re.compile(r"[`~]")  # in a code block, only a closing fence changes anything


@lru_cache(maxsize=2)
def _markdown(highlight: bool = True) -> Any:
    import mistune

    class SafeRenderer(mistune.HTMLRenderer):
        """mistune's HTML renderer, with raw HTML escaped, safe links only and no images."""

        def link(self, text: str, url: str, title: str | None = None) -> str:
            if not _SAFE_LINK.match(url.strip()):
                return f'<span class="vnb-link-dropped" title="link removed: not http(s)">{text}</span>'
            tip = f' title="{html.escape(title)}"' if title else ""
            return f'<a href="{html.escape(url.strip())}"{tip}>{text}</a>'

        def image(self, text: str, url: str, title: str | None = None) -> str:
            where = html.escape(url.strip())
            return f'<span class="vnb-image-ref" title="image not loaded: {where}">[image: {html.escape(text)}]</span>'

        def block_code(self, code: str, info: str | None = None) -> str:
            lang = (info or "").strip().split(None, 1)[0] if info else ""
            return code_block(code, lang) if highlight else code_block(code, lang, highlight=False)

    return mistune.create_markdown(escape=True, renderer=SafeRenderer(escape=True), plugins=["table", "strikethrough"])


def code_block(code: str, lang: str, *, highlight: bool = True) -> str:
    """A code block, highlighted by Pygments when the language is known (and ``highlight``)."""
    body = _highlight(code.rstrip("\n"), lang) if highlight else html.escape(code.rstrip("\n"))
    attr = f' data-lang="{html.escape(lang)}"' if lang else ""
    return f'<div class="vnb-code"{attr}><pre><code>{body}</code></pre></div>\n'


def _highlight(code: str, lang: str) -> str:
    lexer = _lexer(lang.lower()) if lang else None
    if lexer is None:
        return html.escape(code)
    from pygments import highlight

    # nowrap: spans with short classes only (k, s, c1, ...); the panels' CSS colours them
    # from JupyterLab's editor theme variables, so light and dark themes both read well.
    return highlight(code, lexer, _formatter()).rstrip("\n")


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang)
    except ClassNotFound:
        return None


def render(text: str, *, highlight: bool = True) -> str:
    """The whole answer as safe HTML (a code fence left open by a cut-off answer is closed);
    ``highlight=False`` leaves code uncoloured (a preview: a third of the time and bytes)."""
    if not text.strip():
        return ""
    return _markdown(highlight)(_closed(text))


def _closed(text: str) -> str:
    fence = _open_fence(text)
    return text + "\n" + fence if fence else text


def _open_fence(text: str) -> str:
    """The fence marker still open at the end of ``text``, or ''."""
    fence = ""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if not m:
            continue
        mark = m.group(1)
        if not fence:
            fence = mark
        elif _closes(mark, fence, line):
            fence = ""
    return fence


def _closes(mark: str, fence: str, line: str) -> bool:
    """Whether ``line`` (starting with ``mark``) closes the open ``fence``."""
    return mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :].strip()


class MarkdownStream:
    """Incremental rendering of a streaming answer: finished blocks once, the open one each time.

    ``push(text)`` takes new text and returns ``(done, tail)``: HTML for blocks that became
    complete (to append) and HTML for the open block at the end (to replace the previous
    tail) — or None when the last render is less than ``interval`` seconds old and the new
    text looks the same raw (plain words, or text inside a code block): the views then show
    it as it is, at the end of the open block, until the next render (so a flush every few
    milliseconds does not re-send the open block each time). Text that would look different
    raw (``##``, ``**``, a table row, a new line) is rendered at once: no raw flash.
    ``done_html`` + ``tail_html`` + ``pending`` is everything so far (for a view that joins
    late).

    A block that keeps growing (one long paragraph, a long code block) would make the tail,
    and so each flush, grow with the answer. Past :attr:`limit` characters its start is sent
    as a finished part: a paragraph as an inline ``vnb-para-part`` span that the next part
    continues, a code block as a ``vnb-code-part`` whose fence the tail reopens. The views
    show the parts joined; the final render of the whole answer replaces them.
    """

    limit = 1000
    """characters of an open paragraph past which its start is sent as a finished part"""
    code_limit = 400
    """the same for an open code block (highlighting costs ~30 µs a character)"""

    def __init__(self, interval: float = 0.1) -> None:
        self._interval = interval
        self._tail = ""
        self._done: list[str] = []
        self._para_open = False  # the tail continues a paragraph already partly sent
        self._rendered_at = float("-inf")
        self.pending = ""
        """text pushed since the last render (shown as is by the views)"""
        self.tail_html = ""

    @property
    def done_html(self) -> str:
        """HTML of the complete blocks so far."""
        return "".join(self._done)

    def push(self, text: str) -> tuple[str, str] | None:
        """Add streamed text; returns (HTML of newly complete blocks, HTML of the open block),
        or None if the last render is too recent."""
        self._tail += text
        self.pending += text
        now = time.monotonic()
        if now - self._rendered_at < self._interval and self._looks_the_same_raw():
            return None
        self._rendered_at = now
        self.pending = ""
        parts = []
        cut = _last_cut(self._tail)
        if cut > 0:
            parts.append(self._paragraph_end(render(self._tail[:cut])))
            self._tail = self._tail[cut:]
        if len(self._tail) > self.code_limit:
            parts.append(self._split_long_block())
        done = "".join(parts)
        if done:
            self._done.append(done)
        tail = render(self._tail)
        self.tail_html = _as_part(tail) if self._para_open and _one_paragraph(tail) else tail
        return done, self.tail_html

    def _looks_the_same_raw(self) -> bool:
        """Whether the pending text, shown as it is at the end of the open block, looks as it
        will once rendered: plain words in a line already begun, or anything inside an open
        code block. Anything else (a new line, ``**``, a backtick, ``|``...) is rendered at
        once, so no ``##`` or ``**`` ever flashes raw; plain prose keeps the 0.1 s pace."""
        before = self._tail[: len(self._tail) - len(self.pending)]
        if _open_fence(before):
            return not _FENCE_MARK.search(self.pending)
        if not before or before.endswith("\n"):
            return False  # the pending text starts a line: it may start a block
        return not _MARKUP.search(self.pending)

    def reset(self) -> None:
        """Forget everything (the answer restarts)."""
        self.__init__(self._interval)

    def _paragraph_end(self, html_: str) -> str:
        # The first block completes a paragraph whose start went out as parts.
        if self._para_open:
            self._para_open = False
            m = re.match(r"<p>(.*?)</p>\n", html_, re.S)
            if m:
                return _as_part(m.group(0)) + html_[m.end() :]
        return html_

    def _split_long_block(self) -> str:
        tail = self._tail
        fence = _open_fence(tail)
        first, _, rest = tail.partition("\n")
        if fence and _FENCE.match(first) and not first.startswith(" "):
            nl = rest.rfind("\n")
            if nl <= 0:
                return ""
            piece = rest[: nl + 1]
            self._tail = first + "\n" + rest[nl + 1 :]
            return render(first + "\n" + piece + fence).replace('class="vnb-code"', 'class="vnb-code vnb-code-part"', 1)
        if fence or len(tail) <= self.limit or "\n\n" in tail or _BLOCK_START.match(tail):
            return ""  # not a plain paragraph: rendered whole until it ends
        at = _inline_split(tail)
        if at <= 0:
            return ""
        html_ = render(tail[:at])
        if not _one_paragraph(html_):
            return ""
        self._tail = tail[at:]
        self._para_open = True
        return _as_part(html_)


_BLOCK_START = re.compile(r"^( {0,3}(#|>|\||[-*+] |\d{1,9}[.)] )|\s{4})")


def _inline_split(text: str) -> int:
    """The last space after which ``text`` can be cut without splitting a code span or a link."""
    at = text.rfind(" ", 0, len(text) - 1)
    while at > 0:
        head = text[:at]
        if head.count("`") % 2 == 0 and head.count("[") == head.count("]") and head.count("**") % 2 == 0:
            return at + 1
        at = text.rfind(" ", 0, at)
    return 0


def _one_paragraph(html_: str) -> bool:
    return html_.startswith("<p>") and html_.endswith("</p>\n") and html_.count("<p>") == 1


def _as_part(html_: str) -> str:
    """A paragraph's HTML as an inline part that the next part continues on the same line."""
    m = re.match(r"<p>(.*)</p>\n?$", html_, re.S)
    if not m:
        return html_
    return f'<span class="vnb-para-part">{m.group(1)}</span> '


def _last_cut(text: str) -> int:
    """The last offset where everything before it is complete Markdown blocks (0: none).

    Cuts only outside code fences: after a blank line that is followed by a line that cannot
    continue a list or an indented block, after a closing fence, and around ATX headings.
    Only lines already ended by a newline count; the line being typed never does.
    """
    cut = 0
    pos = 0
    fence = ""
    blank_before = False
    lines = text.split("\n")
    for line in lines[:-1]:  # the last piece has no newline yet
        start, end = pos, pos + len(line) + 1
        pos = end
        m = _FENCE.match(line)
        if fence:
            if m and _closes(m.group(1), fence, line):
                fence = ""
                cut = end
            blank_before = False
            continue
        if m:
            fence = m.group(1)
            if start > 0 and not line.startswith(" "):  # an indented fence may belong to a list item
                cut = max(cut, start)
            blank_before = False
            continue
        if not line.strip():
            blank_before = True
            continue
        if _HEADING.match(line) and not line.startswith(" "):
            cut = end  # an ATX heading is one complete line
            blank_before = False
            continue
        if blank_before and not _LIST_OR_INDENT.match(line):
            cut = max(cut, start)
        blank_before = False
    return cut

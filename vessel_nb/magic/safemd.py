"""A model's answer as Markdown that is safe to hand to a notebook's Markdown renderer.

Why: ``%%ask`` shows its answer as ``text/markdown``, and JupyterLab and Notebook 7 trust
the outputs of a cell run in the session: the Markdown renderer there keeps raw HTML, runs
its ``<script>`` tags, fires ``<img onerror>``, fetches remote images and keeps
``javascript:`` links (all seen in a real browser). A model's answer is untrusted text
(a document it read can tell it what to write), so it is never passed through as it came.

How: the answer is parsed by mistune (the same parser as the panels' renderer) and written
out again as Markdown by mistune's own Markdown renderer, with these changes — so what the
notebook's renderer gets is structure we wrote, not the model's bytes:

- raw HTML (inline and blocks) becomes text: ``<script>`` shows as ``<script>``;
- in plain text, every character that can start markup is backslash-escaped, so no text
  turns into markup on the second parse (no HTML, no link, no image);
- ``$...$`` and ``$$...$$`` stay math, with ``<`` and ``>`` written as TeX's ``\\lt``/``\\gt``;
- a link keeps only an http(s) or mailto address, else it becomes its text;
- an image becomes ``[image: alt]`` (an image would be fetched the moment it is shown);
- code (blocks and spans) is fenced with more backticks than it contains.

Headings, lists, tables, emphasis and code blocks keep their Markdown, so the notebook
renders and highlights them as before.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)
"""the only link targets kept (the panels' renderer keeps the same)"""

# the punctuation that can start markup (HTML, links, images, emphasis, code, blocks, tables)
_PUNCT = re.compile(r"([\\`*_\[\]#+\-!|~=])|<(?=[A-Za-z/!?])|&(?=#?\w+;)")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_BACKTICKS = re.compile(r"`+")


def safe_markdown(text: str) -> str:
    """``text`` (a model's answer) as Markdown with no raw HTML, no image and no link but
    http(s)/mailto; a code fence left open by a cut-off answer is closed."""
    if not text.strip():
        return text
    return _markdown()(text).rstrip("\n")


def _escape(text: str) -> str:
    return _PUNCT.sub(lambda m: "\\" + m.group(0), text)


def _math(tex: str) -> str:
    # TeX's own \lt and \gt instead of < and >, and no "](" (TeX ignores the space): a
    # renderer that does not take $...$ as math must still find no tag and no link in it
    return tex.replace("<", r"\lt ").replace(">", r"\gt ").replace("](", "] (")


def _fence(code: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    return "`" * max(3, longest + 1)


@lru_cache(maxsize=1)
def _markdown() -> Any:
    import mistune
    from mistune.renderers.markdown import MarkdownRenderer

    class SafeMarkdownRenderer(MarkdownRenderer):
        """mistune's Markdown writer, with the model's own markup kept as text (module doc)."""

        def text(self, token: dict[str, Any], state: Any) -> str:
            return _escape(token["raw"])

        def inline_html(self, token: dict[str, Any], state: Any) -> str:
            return _escape(token["raw"])

        def block_html(self, token: dict[str, Any], state: Any) -> str:
            return _escape(token["raw"].strip("\n")) + "\n\n"

        def link(self, token: dict[str, Any], state: Any) -> str:
            text = self.render_children(token, state)
            url = (token.get("attrs") or {}).get("url", "")
            if not SAFE_URL.match(url.strip()):
                return text
            # in <...> with what could end it percent-encoded; a title is dropped
            return f"[{text}](<{quote(url.strip(), safe=_URL_SAFE)}>)"

        def image(self, token: dict[str, Any], state: Any) -> str:
            alt = "".join(c.get("raw", "") for c in token.get("children", []) if c.get("type") == "text")
            return _escape(f"[image: {alt}]")

        def block_code(self, token: dict[str, Any], state: Any) -> str:
            code = token["raw"] if token["raw"].endswith("\n") or not token["raw"] else token["raw"] + "\n"
            info = re.sub(r"[^\w+.#-]", "", (token.get("attrs") or {}).get("info", "").split(" ", 1)[0])
            fence = _fence(code)
            return f"{fence}{info}\n{code}{fence}\n\n"

        def inline_math(self, token: dict[str, Any], state: Any) -> str:
            return f"${_math(token['raw'])}$"

        def block_math(self, token: dict[str, Any], state: Any) -> str:
            return f"$$\n{_math(token['raw'].strip())}\n$$\n\n"

        def render_referrences(self, state: Any) -> Any:
            return []  # links by reference were written inline (or as text) by link()

    return mistune.create_markdown(renderer=SafeMarkdownRenderer(), plugins=["table", "strikethrough", "math"])

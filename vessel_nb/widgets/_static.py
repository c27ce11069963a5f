"""The panels' files for the browser, and what a viewer without widgets shows instead.

anywidget loads a view from a Blob URL, where an ES module cannot import its neighbour, so
:func:`bundle` joins ``static/shared.js`` and the view's own file into one ``_esm`` string.

A notebook opened where widgets cannot run (GitHub, nbviewer without saved state, a
stopped kernel without saved state) shows the other entries of the display data:
:func:`chat_fallback` and :func:`compare_fallback` give the conversation as plain HTML
(answers already rendered and made safe by :mod:`._markdown`) and as text, instead of an
object's repr. Nothing here carries a key: only what the views show.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"


def bundle(*names: str) -> str:
    """The named files of ``static/``, joined in order."""
    return "\n".join((STATIC / name).read_text(encoding="utf-8") for name in names)


def _esc(value: Any) -> str:
    return html.escape(str(value or ""))


def _figures(e: dict[str, Any]) -> str:
    parts = [e.get("vessel") or "", e.get("model") or ""]
    if e.get("status") == "done":
        if e.get("ttft_s") is not None:
            parts.append(f"first token {e['ttft_s']:.2f} s")
        if e.get("latency_s") is not None:
            parts.append(f"total {e['latency_s']:.2f} s")
    elif e.get("status") == "stopped":
        parts.append("stopped")
    elif e.get("status") == "error":
        parts.append("failed: " + (e.get("error") or ""))
    return " · ".join(p for p in parts if p)


def _answer_html(e: dict[str, Any]) -> str:
    if e.get("html"):
        return e["html"]
    return f"<pre>{_esc(e.get('text'))}</pre>" if e.get("text") else ""


def chat_fallback(title: str, transcript: list[dict[str, Any]]) -> dict[str, str]:
    """The transcript as text/html and text/plain."""
    rows = [f"<h4>{_esc(title)}</h4>"]
    lines = [title]
    if not transcript:
        rows.append("<p><em>No messages yet.</em></p>")
        lines.append("(no messages yet)")
    for e in transcript:
        rows.append(f"<p><strong>You:</strong> {_esc(e.get('prompt'))}</p>")
        rows.append(f"<blockquote>{_answer_html(e)}<p><sub>{_esc(_figures(e))}</sub></p></blockquote>")
        lines += [f"You: {e.get('prompt', '')}", e.get("text") or "", f"— {_figures(e)}", ""]
    note = "<p><sub>vessel_nb chat panel, as saved; run the notebook to use it.</sub></p>"
    return {"text/html": "\n".join([*rows, note]), "text/plain": "\n".join(lines).rstrip()}


def compare_fallback(title: str, prompt: str, vessels: list[str], columns: dict[str, Any]) -> dict[str, str]:
    """The last comparison as text/html and text/plain."""
    rows = [f"<h4>{_esc(title)}</h4>"]
    lines = [title]
    if prompt:
        rows.append(f"<p><strong>Prompt:</strong> {_esc(prompt)}</p>")
        lines.append(f"Prompt: {prompt}")
    else:
        rows.append("<p><em>No comparison run yet.</em></p>")
        lines.append("(no comparison run yet)")
    for name in vessels if prompt else []:
        col = {"vessel": name, **(columns.get(name) or {})}
        rows.append(f"<h5>{_esc(name)}</h5>{_answer_html(col)}<p><sub>{_esc(_figures(col))}</sub></p>")
        lines += [f"[{name}]", col.get("text") or "", f"— {_figures(col)}", ""]
    note = "<p><sub>vessel_nb comparison, as saved; run the notebook to use it.</sub></p>"
    return {"text/html": "\n".join([*rows, note]), "text/plain": "\n".join(lines).rstrip()}

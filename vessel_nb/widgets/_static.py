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
import re
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


FALLBACK_ROWS = 200
"""rows of a prompt-set table kept in the static fallback (the widget state holds them all)"""


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def run_progress_line(progress: dict[str, Any]) -> str:
    """The table's header in words: ``done · 40/40 · 0:12 elapsed · $0.0123``."""
    if not progress:
        return ""
    parts = [progress.get("status") or "", f"{progress.get('finished', 0)}/{progress.get('total', 0)}"]
    parts.append(f"{_clock(progress.get('elapsed_s'))} elapsed")
    if progress.get("eta_s") is not None:
        parts.append(f"~{_clock(progress['eta_s'])} left")
    if progress.get("spent_usd"):
        parts.append(f"${progress['spent_usd']:.4f}")
    if progress.get("resumed"):
        parts.append(f"{progress['resumed']} answered before (resumed)")
    return " · ".join(p for p in parts if p)


def cell_figures(cell: dict[str, Any]) -> str:
    """A cell's numbers in words: vessel (routed), times, tokens, cost."""
    parts = [cell.get("vessel") or ""]
    if cell.get("ttft_s") is not None:
        parts.append(f"first {cell['ttft_s']:.2f} s")
    if cell.get("latency_s") is not None:
        parts.append(f"total {cell['latency_s']:.2f} s")
    if cell.get("tokens_out") is not None:
        parts.append(f"{cell.get('tokens_in') or 0}→{cell['tokens_out']} tok")
    if cell.get("cost_usd"):
        parts.append(f"${cell['cost_usd']:.5f}")
    if cell.get("resumed"):
        parts.append("resumed")
    return " · ".join(p for p in parts if p)


_BLOCK_END = re.compile(r"</(?:p|li|h\d|tr|td|th|pre|div|blockquote)>|<br\s*/?>", re.I)


def _words(fragment: str | None, limit: int = 100) -> str:
    """The text of rendered HTML, on one line, shortened (for text/plain)."""
    spaced = _BLOCK_END.sub(" ", fragment or "")  # blocks apart, inline tags (<strong>) joined
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", spaced)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failed_word(cell: dict[str, Any]) -> str:
    # a pair stopped mid-call was not a failure of its vessel: say what the log says
    return "cancelled" if cell.get("outcome") == "cancelled" else "failed"


def _cell_html(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return '<td valign="top"><em>not answered</em></td>'
    if cell.get("outcome") != "ok":
        figures = f"<br><sub>{_esc(cell_figures(cell))}</sub>" if cell_figures(cell) else ""
        return f'<td valign="top"><strong>{_failed_word(cell)}</strong>: {_esc(cell.get("error"))}{figures}</td>'
    return f'<td valign="top">{cell.get("html") or ""}<sub>{_esc(cell_figures(cell))}</sub></td>'


def run_table_fallback(title: str, table: dict[str, Any], progress: dict[str, Any]) -> dict[str, str]:
    """A prompt-set table as text/html and text/plain (the first FALLBACK_ROWS rows)."""
    cols, rows = table.get("cols") or [], table.get("rows") or []
    cells = table.get("cells") or [[None] * len(cols) for _ in rows]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = [
        f'<tr><th valign="top">{_esc(pid)}</th><td valign="top">{_esc(prompt)}</td>'
        + "".join(_cell_html(c) for c in row_cells)
        + "</tr>"
        for (pid, prompt), row_cells in list(zip(rows, cells, strict=False))[:FALLBACK_ROWS]
    ]
    more = len(rows) - FALLBACK_ROWS
    line = run_progress_line(progress)
    parts = [
        f"<h4>{_esc(title)}</h4>",
        f"<p>prompt set <code>{_esc(table.get('run_id'))}</code> · {_esc(line)}</p>",
        f"<table><thead><tr><th>#</th><th>prompt</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    ]
    if more > 0:
        parts.append(f"<p><em>… {more} more rows (run.df has every one).</em></p>")
    if not table.get("cells"):
        parts.append("<p><em>Saved while the run was going: the cells came after.</em></p>")
    parts.append("<p><sub>vessel_nb prompt-set table, as saved; run the notebook to use it.</sub></p>")
    text = [title, f"prompt set {table.get('run_id')} · {line}"]
    for (pid, prompt), row_cells in list(zip(rows, cells, strict=False))[:FALLBACK_ROWS]:
        text.append(f"[{pid}] {prompt}")
        for col, cell in zip(cols, row_cells, strict=False):
            if cell is None:
                shown = "not answered"
            elif cell.get("outcome") != "ok":
                shown = f"{_failed_word(cell)}: {cell.get('error')}"
            else:
                shown = f"{_words(cell.get('html'))} ({cell_figures(cell)})"
            text.append(f"  {col}: {shown}")
    if more > 0:
        text.append(f"… {more} more rows (run.df has every one)")
    return {"text/html": "\n".join(parts), "text/plain": "\n".join(text)}

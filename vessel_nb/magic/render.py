"""What ``%%ask`` shows: the answer with its provenance footer, the metadata saved in the
notebook, the "stopped" mark, the short error message, and small tables.

Pure functions from records to strings and MIME bundles; nothing here displays anything
(see :mod:`.live` for that), so all of it is tested without a kernel.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from IPython import get_ipython

from .. import errors as E

if TYPE_CHECKING:
    from ..types import Attempt, Reply

#: The first and the last payload of the live (streaming) display. nbval keeps a display's
#: first payload and nbclient/JupyterLab its last, so both must be this same neutral bundle;
#: the answer itself is shown by an ordinary display() after it.
NEUTRAL: dict[str, str] = {"text/plain": ""}

CURSOR = "▌"


def short_detail(vessel: str, text: str) -> str:
    """The gist of an error message: 'connection refused', 'ANTHROPIC_API_KEY is not set'."""
    text = text.split(" — ", 1)[0]  # drop the hint; a footer has no room for it
    text = re.sub(rf"^{re.escape(vessel)}( at [^\s:]+(:\d+)?)?: ", "", text)
    text = re.sub(r" at [\w.\-\[\]:]+:\d+\b", "", text)  # the address changes from run to run
    if text.startswith("skipped, cooling down"):
        text = "skipped (cooling down)"
    return text if len(text) <= 70 else text[:67] + "…"


def short_error(attempt: Attempt) -> str:
    """The gist of why an attempt failed."""
    return short_detail(attempt.vessel, attempt.error or attempt.outcome)


def trail(reply: Reply) -> str:
    """'ollama: connection refused → claude' (just the vessel when nothing failed)."""
    failed = [f"{a.vessel}: {short_error(a)}" for a in reply.attempts if a.outcome != "ok"]
    return " → ".join([*failed, reply.vessel])


def why(reply: Reply) -> str:
    """Why this vessel answered, as a code kept in the saved metadata: priority, explicit,
    private, heartbeat, vision, thinking (joined with +), and/or fallback."""
    reason = reply.reason or "priority"
    if _fell_back(reply):
        return "fallback" if reason == "priority" else f"{reason}, fallback"
    return reason


def _fell_back(reply: Reply) -> bool:
    return any(a.outcome != "ok" for a in reply.attempts)


#: routing's reason codes, in words a person reads in the footer
REASON_WORDS = {
    "priority": "first in priority",
    "explicit": "you chose it",
    "private": "private: stays on this machine",
    "heartbeat": "heartbeat: stays on this machine",
    "vision": "it can see images",
    "thinking": "it can reason",
}


def reason_words(reply: Reply) -> str:
    """Why this vessel answered, in English: 'first in priority', 'you chose it',
    'it can see images', 'fell back (ollama: connection refused → claude)'."""
    codes = (reply.reason or "priority").split("+")
    if _fell_back(reply):
        words = [REASON_WORDS.get(c, c) for c in codes if c != "priority"]
        return ", ".join([*words, f"fell back ({trail(reply)})"])
    return ", ".join(REASON_WORDS.get(c, c) for c in codes)


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def footer(reply: Reply, *, timings: bool = True, practice: bool = False) -> str:
    """One line: vessel · model · why (with the fallback trail) · first token · total · tokens/s.
    ``practice``: the vessel is a practice server, and the line says so."""
    parts = [f"{reply.vessel} (practice server)" if practice else reply.vessel, reply.model, reason_words(reply)]
    if reply.withheld:  # private turns of the conversation were left out (see vessel_nb.privacy)
        parts.append(f"{reply.withheld} private message{'s' if reply.withheld > 1 else ''} withheld")
    if timings:
        parts += [f"first token {_secs(reply.ttft_s)}", f"total {_secs(reply.latency_s)}"]
        if reply.tokens_per_s is not None:
            parts.append(f"{reply.tokens_per_s:.0f} tok/s")
    return " · ".join(parts)


def provenance(reply: Reply, **extra: Any) -> dict[str, Any]:
    """The ``vessel_nb`` output metadata: where the answer came from. Never a key."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    meta = {
        "vessel": reply.vessel,
        "model": reply.model,
        "reason": why(reply),
        "local": reply.local,
        "fallback_chain": reply.fallback_chain,
        "ttft_s": r(reply.ttft_s),
        "latency_s": r(reply.latency_s),
        "tokens": {"in": reply.usage.tokens_in, "out": reply.usage.tokens_out},
        "tokens_per_s": r(reply.tokens_per_s),
        "call_id": reply.call_id,
        "withheld": reply.withheld,
    }
    meta.update(extra)
    return meta


def answer_md(text: str) -> str:
    """A model's text as Markdown that is safe to show (no raw HTML, no image, links only to
    http(s)/mailto: see :mod:`.safemd`), a code fence left open by a cut-off answer closed
    so that what follows is not swallowed by it."""
    from .safemd import safe_markdown

    return safe_markdown(text)


def _thinking_block(thinking: str) -> str:
    if not thinking.strip():
        return ""
    return f"<details><summary>thinking</summary>\n\n{answer_md(thinking.strip())}\n\n</details>\n\n"


def answer_bundle(
    reply: Reply, fmt: str, *, show_footer: bool = True, timings: bool = True, practice: bool = False
) -> dict[str, str]:
    """The final output of a cell. Beside Markdown, text/plain carries no timings, so it
    compares as is; ``--format text`` has only text/plain, with the full footer."""
    line = footer(reply, timings=timings, practice=practice)
    plain_line = footer(reply, timings=False, practice=practice)
    if fmt == "code":
        note = f"*The code from {reply.vessel} is in a new cell below.*"
        data = {"text/markdown": note, "text/plain": f"[code from {reply.vessel} placed in the next cell]"}
        if show_footer:
            data["text/markdown"] += f"\n\n<sub>{html.escape(line)}</sub>"
        return data
    body = reply.text
    if fmt == "text":
        return {"text/plain": f"{body}\n\n— {line}" if show_footer else body}
    md = _thinking_block(reply.thinking) + answer_md(body)
    if show_footer:
        md += f"\n\n<sub>{html.escape(line)}</sub>"
    return {"text/markdown": md, "text/plain": f"{body}\n\n— {plain_line}" if show_footer else body}


def live_bundle(text: str, thinking: str, status: str, fmt: str) -> dict[str, str]:
    """What the streaming display shows while the answer arrives."""
    if fmt == "text":
        return {"text/plain": f"{text}{CURSOR}\n\n[{status}]"}
    md = answer_md(text + CURSOR) if text else ""
    if thinking and not text:
        md = f"> *thinking…* {len(thinking)} characters so far"
    md += f"\n\n<sub>{html.escape(status)}</sub>"
    return {"text/markdown": md, "text/plain": f"{text}\n\n[{status}]"}


def stopped_sentence(vessel: str, chars: int) -> str:
    """What an interrupt did, in one sentence."""
    if not chars:
        return "stopped — you interrupted before any answer arrived; the call was cancelled"
    where = f" from {vessel}" if vessel else ""
    return f"stopped — you interrupted the answer{where} after {chars} characters; the call was cancelled"


def stopped_bundle(text: str, vessel: str, fmt: str, *, mark: bool = True) -> dict[str, str]:
    """The partial answer, with the "stopped" sentence when ``mark`` (when the cell raises
    KeyboardInterrupt instead, its one-line message says it, and only once)."""
    line = stopped_sentence(vessel, len(text))
    if fmt == "text":
        return {"text/plain": f"{text}\n\n[{line}]" if mark else text}
    # Plain words, no glyph: U+23F9 (stop) is an empty box in the fonts a stock Debian has.
    md = f"{answer_md(text)}\n\n**{html.escape(line[0].upper() + line[1:])}**" if mark else answer_md(text)
    return {"text/markdown": md, "text/plain": f"{text}\n\n[{line}]" if mark else text}


def code_from(text: str) -> str:
    """The code to put in a new cell: the fenced blocks of the answer, or all of it."""
    blocks = re.findall(r"```[^\n`]*\n(.*?)```", text, flags=re.S)
    return "\n\n".join(b.rstrip("\n") for b in blocks) if blocks else text.strip()


# --- errors ------------------------------------------------------------------------------
def _todo(exc: BaseException, active: str | None) -> list[str]:
    failures: dict[str, E.VesselError] = getattr(exc, "failures", {}) or {}
    errs = list(failures.values())
    todo: list[str] = []
    if isinstance(exc, E.NoLocalVessel):
        todo.append(
            "start a local vessel (`ollama serve`), or drop --private/--heartbeat if the prompt may leave this machine"
        )
    if any(isinstance(e, E.MissingKey) for e in errs):
        todo.append("set the key's environment variable before starting Jupyter, then restart the kernel")
    if any(isinstance(e, E.VesselUnavailable) for e in errs) and not isinstance(exc, E.NoLocalVessel):
        todo.append("start the vessel that is not answering, or ask another one")
    if any(isinstance(e, E.RateLimited) for e in errs):
        todo.append("wait a little, or ask another vessel")
    if _nothing_reachable(exc, errs):
        todo.insert(
            0,
            "no vessel is reachable from here: `%ask practice` starts practice servers on this machine "
            "for the missing ones (canned replies, not a real model) so you can try %%ask now",
        )
    if active:
        todo.append(f"every cell goes to {active} (`%ask use {active}`); `%ask use auto` lets vessel_nb route again")
    elif "chosen explicitly" in str(exc):
        todo.append("drop --vessel to let vessel_nb fall back")
    if isinstance(exc, E.StreamInterrupted):
        todo.append(
            "the partial answer is shown above; run the cell again, or make the orchestrator with "
            "on_interrupt='restart' to retry broken answers on the next vessel"
        )
    todo.append("`%ask status` checks every vessel; `%tb` or `%%ask --traceback` shows the Python traceback")
    return todo


def _nothing_reachable(exc: BaseException, errs: list[E.VesselError]) -> bool:
    """Every vessel failed for want of a server or a key, and practice mode is off."""
    from ..standins import current

    unreachable = (E.VesselUnavailable, E.MissingKey)
    return (
        isinstance(exc, E.AllVesselsFailed)
        and bool(errs)
        and all(isinstance(e, unreachable) for e in errs)
        and current() is None
    )


def error_lines(exc: BaseException, *, active: str | None = None) -> list[str]:
    """A short message for a failed cell: what happened, on which vessels, what to do."""
    lines = [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]
    lines += [f"  {line.strip()}" if line.strip().startswith("•") else line for line in str(exc).splitlines()[1:]]
    if not isinstance(exc, E.ConfigError):
        lines += ["What to do:"] + [f"  → {t}" for t in _todo(exc, active)]
    return lines


def error_bundle(exc: BaseException, *, active: str | None = None) -> dict[str, str]:
    """The error as a displayed box (used when errors do not fail the cell)."""
    lines = error_lines(exc, active=active)
    md = f"**⚠ {html.escape(lines[0])}**\n\n" + "\n".join(
        f"- {html.escape(x.strip().lstrip('•→ '))}" for x in lines[1:] if x.strip() and x != "What to do:"
    )
    return {"text/markdown": md, "text/plain": "\n".join(lines)}


def short_traceback(exc: BaseException, lines: Sequence[str]) -> BaseException:
    """Make IPython show ``lines`` instead of the traceback, once.

    IPython prints ``_render_traceback_()`` when an exception has it. It is removed after
    its first use so that a later ``%tb`` shows the real Python traceback.
    """

    def render() -> list[str]:
        exc.__dict__.pop("_render_traceback_", None)
        head, *rest = lines
        name, _, text = head.partition(": ")
        shell = get_ipython()
        if shell is not None and str(getattr(shell, "colors", "")).lower() == "nocolor":
            return list(lines)
        return [f"\x1b[1;31m{name}\x1b[0m: {text}", *rest]

    exc._render_traceback_ = render  # type: ignore[attr-defined]
    return exc


# --- tables ------------------------------------------------------------------------------
class Table:
    """Rows shown as an HTML table in a notebook and aligned text in a terminal."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> None:
        self.columns = list(columns)
        self.rows = [["" if v is None else str(v) for v in row] for row in rows]
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        cap = f"<caption style='text-align:left'>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*self.columns), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*row) for row in self.rows]
        return "\n".join(([self.caption] if self.caption else []) + [line.rstrip() for line in lines])

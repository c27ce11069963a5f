"""How a run shows its progress: a live block in a notebook, a rewritten line in a terminal.

Both draw the same :class:`Snapshot` — done / failed / in flight per vessel, elapsed time
and an estimate of the time left — at most a few times a second, so a run of thousands of
short calls does not flood the notebook with messages. The notebook form is one IPython
display handle, updated in place; the terminal form rewrites one line on stderr.
"""

from __future__ import annotations

import html
import sys
import time
from dataclasses import dataclass, field
from typing import Any

#: fewest seconds between two redraws
MIN_INTERVAL = 0.25


@dataclass
class SlotCounts:
    """One vessel slot's pairs, by state."""

    total: int = 0
    done: int = 0
    """answered (this time or, resumed, before)"""
    failed: int = 0
    in_flight: int = 0
    paused_s: float = 0.0
    """seconds the vessel asked the run to wait (429), 0 when not paused"""
    cancelled: int = 0
    """sent, then stopped with the run (logged 'cancelled'); pairs never sent are not counted"""


@dataclass
class Snapshot:
    """A run's state at one moment, for drawing."""

    run_id: str
    status: str
    elapsed_s: float
    slots: dict[str, SlotCounts] = field(default_factory=dict)
    spent_usd: float = 0.0
    resumed: int = 0
    """pairs found answered in the log and not asked again"""

    @property
    def finished(self) -> int:
        return sum(c.done + c.failed + c.cancelled for c in self.slots.values())

    @property
    def total(self) -> int:
        return sum(c.total for c in self.slots.values())

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None before the first answer of this session)."""
        asked = self.finished - self.resumed
        if asked <= 0 or self.elapsed_s <= 0 or self.status != "running":
            return None
        return (self.total - self.finished) * self.elapsed_s / asked


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def _money(snap: Snapshot) -> str:
    return f" · ${snap.spent_usd:.4f}" if snap.spent_usd else ""


def line(snap: Snapshot) -> str:
    """The one-line form: ``run 3f2a… running 412/1000 · ollama 103/250 (2 in flight) · … · 0:41 elapsed, ~0:58 left``."""
    parts = []
    for name, c in snap.slots.items():
        extra = []
        if c.failed:
            extra.append(f"{c.failed} failed")
        if c.cancelled:
            extra.append(f"{c.cancelled} cancelled")
        if c.in_flight:
            extra.append(f"{c.in_flight} in flight")
        if c.paused_s:
            extra.append(f"paused {c.paused_s:.0f}s (429)")
        parts.append(f"{name} {c.done}/{c.total}" + (f" ({', '.join(extra)})" if extra else ""))
    eta = snap.eta_s()
    left = f", ~{_clock(eta)} left" if eta is not None else ""
    return (
        f"run {snap.run_id[:8]} {snap.status} {snap.finished}/{snap.total} · "
        + " · ".join(parts)
        + f" · {_clock(snap.elapsed_s)} elapsed{left}{_money(snap)}"
    )


def table_html(snap: Snapshot) -> str:
    """The notebook form: one row per vessel."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{c.done}/{c.total}</td><td>{c.failed}</td><td>{c.cancelled}</td>"
        f"<td>{c.in_flight}</td>"
        f"<td>{f'{c.paused_s:.0f}s (429)' if c.paused_s else ''}</td></tr>"
        for name, c in snap.slots.items()
    )
    eta = snap.eta_s()
    resumed = f" · {snap.resumed} answered before (resumed)" if snap.resumed else ""
    return (
        f"<div><b>run {html.escape(snap.run_id[:8])}</b> {html.escape(snap.status)} · "
        f"{snap.finished}/{snap.total} · {_clock(snap.elapsed_s)} elapsed"
        f"{f', ~{_clock(eta)} left' if eta is not None else ''}{html.escape(_money(snap))}{resumed}"
        "<table><tr><th>vessel</th><th>done</th><th>failed</th><th>cancelled</th><th>in flight</th><th>paused</th></tr>"
        f"{rows}</table></div>"
    )


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a display can be updated in place)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and getattr(shell, "kernel", None) is not None


class NotebookProgress:
    """A display block under the cell, updated in place."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._last = 0.0

    def draw(self, snap: Snapshot, *, final: bool = False) -> None:
        """Show the snapshot (skipped when the last draw was under MIN_INTERVAL ago)."""
        now = time.monotonic()
        if not final and now - self._last < MIN_INTERVAL:
            return
        self._last = now
        from IPython.display import HTML, display

        block = HTML(table_html(snap))
        if self._handle is None:
            self._handle = display(block, display_id=True)
        else:
            self._handle.update(block)


class TerminalProgress:
    """One line on stderr, rewritten in place; a newline when the run ends."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stderr
        self._last = 0.0
        self._width = 0

    def draw(self, snap: Snapshot, *, final: bool = False) -> None:
        """Rewrite the line (skipped when the last draw was under MIN_INTERVAL ago)."""
        now = time.monotonic()
        if not final and now - self._last < MIN_INTERVAL:
            return
        self._last = now
        text = line(snap)
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write("\r" + text + " " * pad + ("\n" if final else ""))
        self._stream.flush()

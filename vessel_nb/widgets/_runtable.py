"""A prompt-set run (``orch.map``) as a live table in the CompareWidget: one row per prompt,
one column per vessel (one "routed" column when each prompt was routed).

Why deltas: a run of 1,000 prompts × 4 vessels is 4,000 cells, and re-sending the table on
each update would cost the square of its size. While the run goes, a :class:`RunFollower`
on vessel_nb's loop looks at the run every ``interval`` seconds and sends, as one custom
message, only the cells finished since its last look and the pairs in flight
(``{"t": "cells", "table": <its key>, "seq", "cells": [[row, col, cell], ...], "asking": [[row, col], ...]}``);
the header's progress is a small trait. A view that opens mid-run asks for every cell so far
(``"table-sync"``). When the run ends, the whole table goes into the ``table`` trait once, so
a reloaded view, the widget state saved with the notebook and the static fallback hold it.

A cell shows the beginning of the answer (``run.df`` has it whole), rendered by
:func:`._markdown.render`: the answer is untrusted, and that path escapes raw HTML, drops
unsafe links and never emits an image.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from .. import loop as bg
from ..runplan import AUTO
from ._live import WIRE_LOCK
from ._markdown import render
from ._rows import short, vessel_rows

if TYPE_CHECKING:
    from ..progress import Snapshot
    from ..runs import Run

SNIPPET_CHARS = 200
"""how much of an answer a cell shows (the whole answer is in ``run.df``)"""
ROUTED = "routed"
"""the column of a routed run"""


def snippet(text: str, limit: int = SNIPPET_CHARS) -> tuple[str, bool]:
    """The answer's beginning, cut at a space or line end near ``limit``; and whether it was cut."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    at = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:at] if at > limit // 2 else cut).rstrip() + " …", True


def _num(value: Any, digits: int | None = None) -> Any:
    if value is None or value != value:  # None or NaN (a column pandas filled)
        return None
    return round(float(value), digits) if digits is not None else int(value)


def cell_of(row: dict[str, Any], routed: bool) -> dict[str, Any]:
    """One finished pair as the view shows it (a ``run.df`` row in, plain JSON out)."""
    text, cut = snippet(row.get("text") or "")
    cell: dict[str, Any] = {
        "outcome": row.get("outcome") or "",
        "html": render(text, highlight=False) if text else "",  # a preview: plain code, fewer bytes
        "ttft_s": _num(row.get("ttft_s"), 3),
        "latency_s": _num(row.get("latency_s"), 3),
        "tokens_in": _num(row.get("tokens_in")),
        "tokens_out": _num(row.get("tokens_out")),
    }
    # 4,000 cells go into the saved notebook: what is rarely there is left out when absent
    if (cost := _num(row.get("cost_usd"), 6)) is not None:
        cell["cost_usd"] = cost
    if cut:
        cell["cut"] = True
    if row.get("resumed"):
        cell["resumed"] = True
    if cell["outcome"] != "ok":
        cell["error"] = short(row.get("error") or cell["outcome"], 240)
    if routed:
        cell["vessel"] = row.get("vessel") or ""
    return cell


def frame_of(run: Run) -> dict[str, Any]:
    """The table without its cells: columns (with locality) and rows (prompt id and text).

    ``key`` names this showing of the run: the same run shown again (resumed) is a new table."""
    slots = list(dict.fromkeys(p.slot for p in run.pairs))
    local = {r["name"]: r["local"] for r in vessel_rows(run.orch)}
    rows = list(dict.fromkeys((p.prompt_id, short(p.prompt, 200)) for p in run.pairs))
    return {
        "key": uuid.uuid4().hex[:12],
        "run_id": run.run_id,
        "cols": [ROUTED if s == AUTO else s for s in slots],
        "slots": slots,
        "local": [local.get(s) if s != AUTO else None for s in slots],
        "rows": [list(r) for r in rows],
        "cells": None,
    }


def progress_of(snap: Snapshot) -> dict[str, Any]:
    """The header's figures: status, counts per column, elapsed, time left, money."""
    eta = snap.eta_s()
    return {
        "run_id": snap.run_id,
        "status": snap.status,
        "total": snap.total,
        "finished": snap.finished,
        "resumed": snap.resumed,
        "elapsed_s": round(snap.elapsed_s, 1),
        "eta_s": None if eta is None else round(eta, 1),
        "spent_usd": snap.spent_usd,
        "slots": {
            slot: {
                "total": c.total,
                "done": c.done,
                "failed": c.failed,
                "cancelled": c.cancelled,
                "in_flight": c.in_flight,
                "paused_s": round(c.paused_s, 1),
            }
            for slot, c in snap.slots.items()
        },
    }


class RunFollower:
    """Keeps a widget's table in step with one run, from vessel_nb's loop, until it ends."""

    def __init__(self, widget: Any, run: Run, interval: float = 0.25) -> None:
        self.run = run
        self.frame = frame_of(run)
        self.seq = 0
        self.closed = False
        self._widget = widget
        self._interval = interval
        self._routed = self.frame["slots"] == [AUTO]
        slot_col = {s: c for c, s in enumerate(self.frame["slots"])}
        row_of = {pid: r for r, (pid, _) in enumerate(self.frame["rows"])}
        self._where = {p.item: (row_of[p.prompt_id], slot_col[p.slot]) for p in run.pairs}
        self._taken = 0
        self._cells: dict[tuple[int, int], dict[str, Any]] = {}
        self._asking: list[list[int]] = []
        with WIRE_LOCK, widget.hold_sync():
            widget.table = self.frame
            widget.table_progress = progress_of(run.snapshot())
        self._future = bg.submit(self._follow())

    async def _follow(self) -> None:
        while not self.closed:
            ended = self.run.done()
            # on the loop: what is new (cheap); in a worker thread: rendering it and sending
            new = self.run.finished_since(self._taken)
            self._taken += len(new)
            asking = sorted(self._where[i] for i in self.run.asking if i in self._where)
            snap = self.run.snapshot()
            await asyncio.to_thread(self._send, new, asking, snap, ended)
            if ended:
                return
            await asyncio.sleep(self._interval)

    def _send(self, new: list[tuple[str, dict]], asking: list[tuple[int, int]], snap: Snapshot, ended: bool) -> None:
        cells = [[*self._where[item], cell_of(row, self._routed)] for item, row in new if item in self._where]
        asking_now = [list(a) for a in asking]
        with WIRE_LOCK:
            if self.closed:
                return
            for r, c, cell in cells:
                self._cells[r, c] = cell
            if cells or asking_now != self._asking:
                self._asking = asking_now
                self.seq += 1
                self._widget._post(
                    {"t": "cells", "table": self.frame["key"], "seq": self.seq, "cells": cells, "asking": asking_now}
                )
            progress = progress_of(snap)
            with self._widget.hold_sync():
                if progress != self._widget.table_progress:
                    self._widget.table_progress = progress
                if ended:
                    self._widget.table = {**self.frame, "cells": self.dense()}

    def dense(self) -> list[list[dict[str, Any] | None]]:
        """Every cell so far, row by row (None where a pair has not finished)."""
        n_cols = len(self.frame["cols"])
        return [[self._cells.get((r, c)) for c in range(n_cols)] for r in range(len(self.frame["rows"]))]

    def snapshot(self) -> dict[str, Any]:
        """Every cell so far, for a view that opens mid-run (call with WIRE_LOCK held)."""
        cells = [[r, c, cell] for (r, c), cell in self._cells.items()]
        return {
            "t": "table-snapshot",
            "table": self.frame["key"],
            "seq": self.seq,
            "cells": cells,
            "asking": self._asking,
        }

    def close(self) -> None:
        """Stop following (the run itself goes on)."""
        with WIRE_LOCK:
            self.closed = True

    def wait(self, timeout: float | None = None) -> None:
        """Until the table holds the run's end (for tests and scripts)."""
        self._future.result(timeout)

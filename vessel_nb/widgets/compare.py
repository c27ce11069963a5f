"""CompareWidget: one prompt to several vessels at once, side by side — or a whole prompt
set as a live table.

Each vessel gets its own call (``vessel=`` explicit, so nothing falls back behind the
comparison's back) and all of them share one ``compare_id``, so ``orch.log.df`` can group
the run. Columns stream concurrently on vessel_nb's background loop; an error in one
column ends that column only. ``run()`` blocks until every column has finished (the views
update live meanwhile), ``start()`` returns at once.

``map(prompts)`` runs a prompt set with ``orch.map`` and ``show(run)`` attaches a run that
already exists: the widget then shows a table, one row per prompt and one column per vessel,
filled in as pairs finish (see :mod:`._runtable`).
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets as t

from .. import errors as E
from ..types import Chunk, Reply
from ._job import Job, wait_event
from ._live import WIRE_LOCK, LiveText
from ._markdown import render
from ._rows import outcome_fields, vessel_rows
from ._runtable import RunFollower
from ._static import bundle, compare_fallback, run_table_fallback

if TYPE_CHECKING:
    import pandas as pd

    from ..runs import Run

_COLUMNS: Any = object()  # map()'s default: the widget's own vessels (None routes)


class _Column:
    """One vessel's call within a run."""

    def __init__(self, name: str, live: LiveText) -> None:
        self.name = name
        self.live = live
        self.job: Job | None = None
        self.reply: Reply | None = None
        self.error: BaseException | None = None
        self.finished = False


FASTEST_RATIO = 0.10
"""the fastest column must finish this much sooner than the next (10% of the next's total)"""
FASTEST_SECONDS = 0.05
"""... and at least this many seconds sooner: a few milliseconds is noise, not a result"""


def fastest_vessel(columns: dict[str, dict[str, Any]]) -> str | None:
    """The vessel that answered first by a difference a person would notice (more than 10%
    and more than 50 ms before the next one), or None when no one did."""
    done = sorted(
        (c["latency_s"], name) for name, c in columns.items() if c.get("status") == "done" and c.get("latency_s")
    )
    if len(done) < 2:
        return None
    (best, name), (second, _) = done[0], done[1]
    gap = second - best
    return name if gap > FASTEST_SECONDS and gap > FASTEST_RATIO * second else None


class CompareWidget(anywidget.AnyWidget):
    """Send one prompt to several vessels at once and compare the answers side by side.

    ``orch``: the orchestrator (default :func:`vessel_nb.default_orchestrator`).
    ``vessels``: the vessel names, one column each (default: every vessel, in priority
    order). ``cmp.run(prompt, **options)`` returns ``{vessel: Reply or the exception}``;
    ``cmp.map(prompts)`` / ``cmp.show(run)`` show a prompt set as a live table instead.
    """

    _esm = bundle("shared.js", "runtable.js", "compare.js")
    _css = bundle("shared.css", "compare.css", "runtable.css")

    title = t.Unicode("vessel_nb compare").tag(sync=True)
    """heading of the widget"""
    vessels = t.List(t.Unicode()).tag(sync=True)
    """the compared vessels, one column each"""
    info = t.List(t.Dict()).tag(sync=True)
    """name, provider, model, host and locality of those vessels (never a key)"""
    prompt = t.Unicode("").tag(sync=True)
    """the prompt of the current (or last) run"""
    run_id = t.Unicode("").tag(sync=True)
    """compare_id of the current run; the log rows carry it"""
    columns = t.Dict().tag(sync=True)
    """vessel -> column state: status, text and its HTML, timings, error (complete once finished)"""
    running = t.Bool(False).tag(sync=True)
    """a run is in progress"""
    fastest = t.Unicode("").tag(sync=True)
    """the vessel that finished first by a margin worth a badge (see :func:`fastest_vessel`), or ''"""
    notice = t.Unicode("").tag(sync=True)
    """a message for the person (e.g. why a run from the widget could not start)"""
    table = t.Dict().tag(sync=True)
    """the prompt-set run shown as a table: run id, columns, rows (prompt id and text) and,
    once the run has ended, every cell ({} when the widget compares one prompt)"""
    table_progress = t.Dict().tag(sync=True)
    """that run's progress for the table's header: status, counts per column, elapsed, time left"""
    _fallback = t.Dict().tag(sync=True)
    """the last run as text/html and text/plain, with this widget's model_id (copied beside the
    widget view in the notebook file at each save, see ChatPanel)"""

    flush_interval: float = 0.05
    """seconds over which streamed text is gathered into one message"""
    table_interval: float = 0.25
    """seconds between two updates of a prompt-set table (finished cells go out together)"""

    def __init__(
        self, orch: Any = None, vessels: Sequence[str] | None = None, *, title: str = "vessel_nb compare", **kwargs: Any
    ) -> None:
        from ..session import default_orchestrator

        self._orch = orch if orch is not None else default_orchestrator()
        names = list(vessels) if vessels is not None else list(self._orch.priority)
        if not names:
            raise E.ConfigError("give at least one vessel to compare, e.g. vessels=['ollama', 'claude']")
        unknown = [n for n in names if n not in self._orch.vessels]
        if unknown:
            raise E.ConfigError(f"unknown vessel {unknown[0]!r}; configured vessels: {', '.join(self._orch.vessels)}")
        if len(set(names)) != len(names):
            raise E.ConfigError("each vessel can appear only once in a comparison")
        self._cols: dict[str, _Column] = {}
        self._follower: RunFollower | None = None
        self._all_done = threading.Event()
        self._all_done.set()
        self._t0 = 0.0
        info = {row["name"]: row for row in vessel_rows(self._orch)}
        super().__init__(title=title, vessels=names, info=[info[n] for n in names], **kwargs)
        self.on_msg(self._on_view_msg)
        self._refresh_fallback()
        self.observe(self._refresh_fallback, names=["columns", "prompt", "title", "table"])

    @property
    def orch(self) -> Any:
        """The orchestrator this widget talks to."""
        return self._orch

    # --- public -----------------------------------------------------------------------------
    def run(
        self, prompt: Any, *, wait: bool = True, timeout: float | None = None, **options: Any
    ) -> dict[str, Any] | None:
        """Ask every vessel ``prompt`` at once; with ``wait`` (default) return when all are done.

        Returns ``{vessel: Reply or exception}``; a kernel interrupt stops every column.
        ``options`` go to each call (``temperature=``, ``max_tokens=``, ``system=``, ...).
        """
        self.start(prompt, **options)
        return self.wait(timeout) if wait else None

    def map(self, prompts: Any, vessels: Sequence[str] | None = _COLUMNS, **options: Any) -> Run:
        """Run a prompt set with ``orch.map`` and show it here as a live table; returns the run.

        ``vessels``: the widget's vessels unless given; ``None`` routes each prompt as ``ask``
        would (one "routed" column naming the vessel that answered). Other keywords go to
        ``orch.map`` (``template=``, ``per_vessel=``, ``budget_usd=``, ``progress=``, call
        options). ``run.wait()`` waits; ``run.df`` has every answer whole.
        """
        self._refuse_while_busy()
        run = self._orch.map(prompts, list(self.vessels) if vessels is _COLUMNS else vessels, **options)
        return self.show(run)

    def show(self, run: Run) -> Run:
        """Show a prompt-set run (from ``orch.map`` or ``%%ask --over ... --out``) as a live
        table, from what it has done so far; returns the run."""
        from ..runs import Run as RunClass

        if not isinstance(run, RunClass):
            raise E.ConfigError(f"show() takes the run orch.map(...) returned, not {type(run).__name__}")
        self._refuse_while_busy(run)
        if self._follower is not None:
            self._follower.close()
        with self.hold_sync():
            self.notice = ""
            self._follower = RunFollower(self, run, self.table_interval)
        return run

    def _refuse_while_busy(self, run: Any = None) -> None:
        if self.running:
            raise E.ConfigError("a comparison is already running; wait for it or call .stop()")
        shown = self._follower.run if self._follower is not None else None
        if shown is not None and shown is not run and not shown.done():
            raise E.ConfigError(
                "this widget is showing a prompt set that is still running; wait for it (run.wait()) "
                "or stop it (run.stop()) first, or show the new run in another CompareWidget"
            )

    def start(self, prompt: Any, **options: Any) -> None:
        """Start a run and return at once; the views stream the columns."""
        for key in ("vessel", "compare_id"):
            if key in options:
                raise E.ConfigError(f"{key}= is set by the comparison itself (one column per vessel)")
        if isinstance(prompt, str) and not prompt.strip():
            raise E.ConfigError("the prompt is empty; write a question")
        self._refuse_while_busy()
        if self._follower is not None:  # back to one prompt's columns
            self._follower.close()
            self._follower = None
            self.table, self.table_progress = {}, {}
        run_id = uuid.uuid4().hex[:12]
        shown = (
            prompt
            if isinstance(prompt, str)
            else next(
                (
                    m.get("content", "")
                    for m in reversed(list(prompt))
                    if isinstance(m, dict) and m.get("role") == "user"
                ),
                "",
            )
        )
        with WIRE_LOCK:
            self._all_done.clear()
            self._cols = {
                n: _Column(n, LiveText(self._post, {"run": run_id, "col": n}, self.flush_interval))
                for n in self.vessels
            }
            self._t0 = time.perf_counter()
            with self.hold_sync():
                self.run_id, self.prompt, self.notice = run_id, str(shown), ""
                self.columns = {n: _waiting(self._info(n)) for n in self.vessels}
                self.running, self.fastest = True, ""
        for col in list(self._cols.values()):
            col.job = Job(
                self._orch,
                prompt,
                {**options, "vessel": col.name, "compare_id": run_id},
                on_chunk=functools.partial(self._on_chunk, col),
                on_end=functools.partial(self._finish, col),
            ).start()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until every column has finished; a kernel interrupt stops them all."""
        if not wait_event(self._all_done, timeout, self._stop_and_settle):
            raise TimeoutError(f"the comparison did not finish within {timeout:g}s (call .stop() to end it)")
        errors = [c.error for c in self._cols.values()]
        if errors and all(isinstance(e, E.ConfigError) for e in errors):
            raise errors[0]  # bad input, the same for every column: say it once
        return self.results

    def stop(self) -> None:
        """Stop every column still streaming (each ends once its connection is closed), or
        the prompt-set run shown in the table (its finished pairs are kept)."""
        for col in list(getattr(self, "_cols", {}).values()):  # also from __del__ after a failed __init__
            if col.job is not None and not col.finished:
                col.job.cancel()
        follower = getattr(self, "_follower", None)
        if follower is not None and not follower.run.done():
            follower.run.stop(timeout=0)

    @property
    def results(self) -> dict[str, Any]:
        """``{vessel: Reply}`` for the columns that answered, the exception for the others."""
        return {n: c.reply if c.reply is not None else c.error for n, c in self._cols.items() if c.finished}

    def summary(self) -> pd.DataFrame:
        """One row per vessel of the last run: status, first token, total, tokens/s (fastest first)."""
        import pandas as pd

        rows = []
        for name in self.vessels:
            col = self.columns.get(name, {})
            rows.append(
                {
                    "vessel": name,
                    "model": col.get("model", ""),
                    "status": col.get("status", ""),
                    "ttft_s": col.get("ttft_s"),
                    "latency_s": col.get("latency_s"),
                    "tokens_out": col.get("tokens_out"),
                    "tokens_per_s": col.get("tokens_per_s"),
                    "error": col.get("error", ""),
                    "compare_id": self.run_id,
                }
            )
        df = pd.DataFrame(rows)
        return df.sort_values("latency_s", na_position="last", kind="stable").reset_index(drop=True)

    def close(self) -> None:
        """Stop the comparison and close the widget (a prompt-set run shown here goes on:
        it is the caller's; ``run.stop()`` stops it)."""
        for col in list(getattr(self, "_cols", {}).values()):
            if col.job is not None and not col.finished:
                col.job.cancel()
        if getattr(self, "_follower", None) is not None:
            self._follower.close()
        super().close()

    # --- internals ------------------------------------------------------------------------
    def _info(self, name: str) -> dict[str, Any]:
        return next((i for i in self.info if i["name"] == name), {"name": name})

    def _stop_and_settle(self) -> None:
        self.stop()
        try:
            self._all_done.wait(5)
        except KeyboardInterrupt:
            pass

    def _on_chunk(self, col: _Column, chunk: Chunk) -> None:
        # On the background loop thread.
        if chunk.event in ("restart", "fallback"):  # not expected (one vessel per column), but never mix
            col.live.reset()
        if chunk.done or chunk.event:
            return
        first = time.perf_counter() - self._t0 if chunk.content else None  # the first answer token
        col.live.feed(chunk.content, chunk.thinking, first=first)

    def _finish(self, col: _Column, reply: Reply | None, exc: BaseException | None) -> None:
        with WIRE_LOCK:
            if col.finished or self._cols.get(col.name) is not col:
                return
            col.finished = True
            col.live.close()
            state = dict(self.columns.get(col.name) or _waiting(self._info(col.name)))
            state.update(
                text=col.live.text, thinking=col.live.thinking, latency_s=round(time.perf_counter() - self._t0, 3)
            )
            state.update(outcome_fields(reply, exc, stopped="stopped"))
            state["html"] = render(state.get("text") or "")
            col.reply, col.error = reply, exc
            done = all(c.finished for c in self._cols.values())
            with self.hold_sync():
                self.columns = {**self.columns, col.name: state}
                if done:
                    self.running = False
                    self.fastest = fastest_vessel(self.columns) or ""
            if done:
                self._all_done.set()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        # Beside the widget view: the last run as HTML and text, for a viewer without widgets.
        data, meta = super()._repr_mimebundle_(**kwargs)
        return {**data, **self._static()}, meta

    def _static(self) -> dict[str, str]:
        if self.table:
            return run_table_fallback(self.title, self.table, self.table_progress)
        return compare_fallback(self.title, self.prompt, list(self.vessels), self.columns)

    def _refresh_fallback(self, _change: Any = None) -> None:
        self._fallback = {"model_id": self.model_id, **self._static()}

    def _post(self, msg: dict[str, Any]) -> None:
        ipywidgets.Widget.send(self, msg)

    def _on_view_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("t")
        if kind == "run":
            try:
                self.start(str(content.get("prompt") or ""))
            except E.VesselNBError as exc:
                self.notice = str(exc)
        elif kind == "stop":
            self.stop()
        elif kind == "table-sync":
            with WIRE_LOCK:
                if self._follower is not None and not self._follower.closed:
                    self._post(self._follower.snapshot())
        elif kind == "sync":
            with WIRE_LOCK:
                texts = {n: c.live.snapshot() for n, c in self._cols.items() if not c.finished}
                self._post({"t": "snapshot", "run": self.run_id, "texts": texts})


def _waiting(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "waiting",
        "vessel": info.get("name", ""),
        "model": info.get("model", ""),
        "text": "",
        "thinking": "",
        "error": "",
        "ttft_s": None,
        "latency_s": None,
        "tokens_out": None,
        "tokens_per_s": None,
        "trail": [],
    }

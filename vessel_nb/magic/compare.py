"""``%%ask --compare a,b,c``: several vessels at once, side by side.

In a notebook the comparison widget (:class:`vessel_nb.widgets.CompareWidget`) is used when
it can be imported. Otherwise, and in a terminal, the calls stream concurrently on the
background loop through one merged iterator (``vessel_nb.loop.iterate_sync``, the bridge
``stream_sync`` is built on), shown as a plain side-by-side HTML table that follows the
same rule as a single answer: the live display ends as it began, and the final table is an
ordinary display with provenance metadata.
"""

from __future__ import annotations

import asyncio
import html
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from IPython.display import display

from .. import loop as bg
from ..standins import is_practice
from . import render
from .live import RichStream

_DONE = object()


def run(magics: Any, orch: Any, names: list[str], messages: Any, opts: dict[str, Any]) -> dict[str, Any]:
    """Ask every vessel in ``names``; returns ``{vessel: Reply or the exception}``."""
    out = magics.output("markdown")
    if isinstance(out, RichStream) and magics.compare_widget:
        try:
            from ..widgets import CompareWidget
        except ImportError:  # widget extras missing: the plain table does the job
            CompareWidget = None
        if CompareWidget is not None:
            widget = CompareWidget(orch, vessels=names)
            display(widget)
            try:
                return widget.run(messages, **opts)
            except KeyboardInterrupt as exc:
                return _stopped(magics, exc, widget.results)
    return _plain(magics, out, orch, names, messages, opts)


async def _merged(orch: Any, names: list[str], messages: Any, opts: dict[str, Any], cid: str) -> AsyncIterator[tuple]:
    """(vessel, chunk, error) from every vessel's stream as they arrive; closing cancels all."""
    q: asyncio.Queue[tuple] = asyncio.Queue()

    async def one(name: str) -> None:
        try:
            async for chunk in orch.stream(messages, vessel=name, compare_id=cid, **opts):
                q.put_nowait((name, chunk, None))
        except Exception as exc:  # noqa: BLE001 — shown in that vessel's column
            q.put_nowait((name, None, exc))
        finally:
            q.put_nowait((name, None, _DONE))

    tasks = [asyncio.ensure_future(one(n)) for n in names]
    try:
        left = len(tasks)
        while left:
            item = await q.get()
            if item[2] is _DONE:
                left -= 1
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # every stream has really stopped


def _plain(magics: Any, out: Any, orch: Any, names: list[str], messages: Any, opts: dict[str, Any]) -> dict[str, Any]:
    cid = uuid.uuid4().hex[:12]
    texts = {n: "" for n in names}
    results: dict[str, Any] = {}
    rich = isinstance(out, RichStream)
    min_interval = 1.0 / magics.max_updates_per_second if magics.max_updates_per_second > 0 else 0.0
    handle = display(render.NEUTRAL, raw=True, display_id=True) if rich else None
    last = 0.0
    try:
        with bg.iterate_sync(lambda: _merged(orch, names, messages, opts, cid)) as items:
            for name, chunk, exc in items:
                if exc is not None:
                    results[name] = exc
                elif chunk.done:
                    results[name] = chunk.reply
                elif chunk.content:
                    texts[name] += chunk.content
                if handle is not None and (name in results or time.monotonic() - last >= min_interval):
                    handle.update(table_bundle(names, texts, results, live=True), raw=True)
                    last = time.monotonic()
                elif handle is None and name in results:
                    print(table_bundle([name], texts, results)["text/plain"], flush=True)
    except KeyboardInterrupt as exc:
        for n in names:
            results.setdefault(n, "stopped")
        _close(handle, names, texts, results, cid, magics, orch)
        return _stopped(magics, exc, results)
    except BaseException:
        if handle is not None:
            handle.update(render.NEUTRAL, raw=True)
        raise
    _close(handle, names, texts, results, cid, magics, orch)
    return results


def _close(
    handle: Any, names: list[str], texts: dict[str, str], results: dict[str, Any], cid: str, magics: Any, orch: Any
) -> None:
    if handle is None:
        return
    handle.update(render.NEUTRAL, raw=True)  # ends as it began; the table follows
    meta = {
        "compare_id": cid,
        "vessels": {n: render.provenance(r) if hasattr(r, "vessel") else {"error": str(r)} for n, r in results.items()},
    }
    practice = frozenset(n for n in names if is_practice(orch.vessels.get(n)))
    table = table_bundle(names, texts, results, timings=magics.footer_timings, practice=practice)
    display(table, raw=True, metadata={"vessel_nb": meta})


def _stopped(magics: Any, exc: BaseException, results: dict[str, Any]) -> dict[str, Any]:
    if not magics.reraise_interrupt:
        return results
    raise render.short_traceback(
        exc,
        [
            "KeyboardInterrupt: %%ask --compare stopped; the calls were cancelled and what arrived is kept above",
        ],
    ) from None


def _status(result: Any, *, timings: bool, practice: bool = False) -> str:
    if result is None:
        return "streaming…"
    if result == "stopped":
        return "stopped"
    if hasattr(result, "vessel"):
        return render.footer(result, timings=timings, practice=practice)
    return f"failed: {result}"


def table_bundle(
    names: list[str],
    texts: dict[str, str],
    results: dict[str, Any],
    *,
    live: bool = False,
    timings: bool = True,
    practice: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """The side-by-side table: one column per vessel, the status line under each answer
    (``practice``: the vessels answered by practice servers, labelled so)."""
    cells = []
    for n in names:
        status = _status(results.get(n), timings=timings, practice=n in practice)
        text = texts[n] + (render.CURSOR if live and n not in results else "")
        cells.append(
            f"<td style='vertical-align:top;text-align:left;white-space:pre-wrap;min-width:12em'>{html.escape(text)}"
            f"<br><sub>{html.escape(status)}</sub></td>"
        )
    head = "".join(f"<th style='text-align:left'>{html.escape(n)}</th>" for n in names)
    table = f"<table class='vessel-nb-compare'><thead><tr>{head}</tr></thead><tbody><tr>{''.join(cells)}</tr></tbody></table>"
    plain = "\n\n".join(
        f"== {n} ==\n{texts[n]}\n— {_status(results.get(n), timings=False, practice=n in practice)}" for n in names
    )
    return {"text/html": table, "text/plain": plain}

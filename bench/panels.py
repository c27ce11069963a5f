"""What rendering a streaming answer costs the panels (vessel_nb/widgets/_markdown.py).

Worst case: every flush renders (``interval=0``; the panels render at most every 0.1 s).
The answer mixes paragraphs, lists, code and one long paragraph; it is fed in 6-character
chunks. Linear cost shows as a flat cost per chunk while the answer grows 16x.
"""

from __future__ import annotations

import time


def _answer(chars: int) -> str:
    block = (
        "## Step\n\nSome *prose* with `code` and a [link](https://example.org).\n\n"
        "- one\n- two\n\n```python\ndef f(x):\n    return x * 2\n```\n\n"
    )
    long_paragraph = " ".join(f"word{i % 89}" for i in range(400))  # ~3,000 chars, no blank line
    text = ""
    while len(text) < chars:
        text += block + long_paragraph + "\n\n"
    return text[:chars]


def render_cost(sizes: tuple[int, ...] = (5_000, 20_000, 80_000)) -> dict[str, dict[str, float]]:
    """Per size: microseconds of kernel time and bytes of HTML sent, per 6-character chunk."""
    from vessel_nb.widgets._markdown import MarkdownStream

    MarkdownStream(interval=0).push(_answer(2_000))  # import mistune and Pygments' lexer first
    out = {}
    for size in sizes:
        text = _answer(size)
        ms = MarkdownStream(interval=0)
        sent = chunks = 0
        t0 = time.perf_counter()
        for i in range(0, len(text), 6):
            done, tail = ms.push(text[i : i + 6])
            sent += len(done) + len(tail)
            chunks += 1
        elapsed = time.perf_counter() - t0
        out[str(size)] = {
            "us_per_chunk": round(1e6 * elapsed / chunks, 1),
            "html_bytes_per_chunk": round(sent / chunks),
        }
    return out


def table_cost(prompts: int = 1_000, vessels: int = 4, per_tick: int = 40) -> dict[str, float]:
    """A prompt-set table of ``prompts`` × ``vessels`` (widgets/_runtable.py): kernel time and
    bytes per cell while the run goes (``per_tick`` cells finish between two updates), and
    the one final update (the whole table in the trait, and the static fallback)."""
    import json
    from types import SimpleNamespace

    from vessel_nb.progress import SlotCounts, Snapshot
    from vessel_nb.runplan import Pair
    from vessel_nb.widgets._runtable import RunFollower
    from vessel_nb.widgets._static import run_table_fallback

    names = [f"v{i}" for i in range(vessels)]
    pairs = [
        Pair(str(p), n, ({"role": "user", "content": f"Question {p}: why?"},)) for p in range(prompts) for n in names
    ]
    answer = _answer(600)  # Markdown with a heading, a list and code: the cell shows its beginning
    rows = {
        pair.item: {"outcome": "ok", "text": answer, "ttft_s": 0.2, "latency_s": 1.1, "tokens_in": 9, "tokens_out": 150,
                    "cost_usd": 0.0004, "resumed": False, "vessel": pair.slot}
        for pair in pairs
    }  # fmt: skip
    sent: list[int] = []
    widget = SimpleNamespace(
        table={}, table_progress={}, hold_sync=_null, _post=lambda m: sent.append(len(json.dumps(m)))
    )
    follower = RunFollower.__new__(RunFollower)  # the follower's work, without a run on the loop
    follower.__dict__.update(
        run=SimpleNamespace(run_id="bench"), frame={"key": "k", "rows": [[str(p), ""] for p in range(prompts)],
        "cols": names, "slots": names}, seq=0, closed=False, _widget=widget, _routed=False, _cells={}, _asking=[],
        _where={p.item: (int(p.prompt_id), names.index(p.slot)) for p in pairs},
    )  # fmt: skip
    snap = Snapshot("bench", "running", 1.0, {n: SlotCounts(prompts) for n in names})
    items = list(rows.items())
    # CPU time: on a shared machine the wall clock mostly measures the other processes
    t0 = time.process_time()
    for i in range(0, len(items), per_tick):
        follower._send(items[i : i + per_tick], [], snap, False)
    live_s = time.process_time() - t0
    t0 = time.process_time()
    follower._send([], [], snap, True)
    final = json.dumps(widget.table)
    fallback = run_table_fallback("bench", widget.table, widget.table_progress)
    final_s = time.process_time() - t0
    cells = len(items)
    return {
        "cells": cells,
        "messages": len(sent),
        "kernel_cpu_us_per_cell": round(1e6 * live_s / cells, 1),
        "delta_bytes_per_cell": round(sum(sent) / cells),
        "final_table_kb": round(len(final) / 1024),
        "fallback_kb": round(len(fallback["text/html"]) / 1024),
        "final_cpu_ms": round(1000 * final_s, 1),
    }


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

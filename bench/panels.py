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

"""``make demo`` (python -m vessel_nb.demo): the fallback exercise in a terminal."""

from __future__ import annotations

import io
import re

from vessel_nb import demo


class Recorder(io.StringIO):
    """A terminal that remembers each write, to tell a streamed answer from a printed one."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, s: str) -> int:
        self.writes.append(s)
        return super().write(s)


def test_demo_streams_rounds_and_says_who_answered_once(monkeypatch):
    out = Recorder()
    monkeypatch.setattr(demo.sys, "stdout", out)
    assert demo.main() == 0
    text = out.getvalue()
    assert text.count("— answered by ollama · first token ") == 2 and "answered by ollama (ollama" not in text
    assert "— answered by claude after ollama failed (connection refused) · first token " in text
    assert "[ollama: connection refused → trying the next vessel]" in text
    assert not re.search(r"\d\.\d{3,}", text), "times are rounded"
    assert re.search(r"total \d+\.\d\d s", text)
    # streamed: the answer arrives in many writes, word by word, not as one line
    words = [w for w in out.writes if w.strip() and w.strip() in ("vessel", "sky", "blue?")]
    assert len(words) >= 3, out.writes[:20]
    assert "first in priority" in text and "fallback from" in text

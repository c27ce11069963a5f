"""The output of one ``%%ask`` cell while it streams, in a notebook or in a terminal.

Both classes are driven from the kernel thread only (the thread that runs the cell):
display messages sent from there belong to the cell. Notebook updates are coalesced on
time, because re-sending a growing Markdown document for every one of thousands of chunks
would flood the frontend and slow the call.

In a notebook the live display starts and ends with the same neutral payload, and the
answer is shown with an ordinary ``display()`` afterwards: nbval keeps a display's first
payload while nbclient and JupyterLab keep its last, so this is the only shape on which
they agree.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, TextIO

from IPython.display import display

from . import render

# A display update re-sends the whole answer; for very long answers, update less often.
_BYTES_PER_SECOND = 200_000


class RichStream:
    """A display handle updated at most ``max_rate`` times per second."""

    def __init__(self, fmt: str, *, max_rate: float = 10.0, status: str = "asking…") -> None:
        self.fmt = fmt
        self.min_interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self.status = status
        self.text = ""
        self.thinking = ""
        self.vessel = ""
        self.updates = 0
        """how many live updates were sent (for tests and the benchmark)"""
        self._handle: Any = None
        self._last = 0.0
        self._dirty = False

    def open(self) -> None:
        """Show the live display (neutral first, then the status at once)."""
        self._handle = display(render.NEUTRAL, raw=True, display_id=True)
        self._push()

    def add(self, text: str, thinking: str = "", vessel: str = "") -> None:
        """New text arrived; shown now or with the next update."""
        first = not (self.text or self.thinking)
        self.text += text
        self.thinking += thinking
        if vessel and vessel != self.vessel:
            self.vessel = vessel
            self.status = f"streaming from {vessel}…"
        self._dirty = True
        if first or self._due():  # the first token shows at once
            self._push()

    def _due(self) -> bool:
        interval = max(self.min_interval, len(self.text) / _BYTES_PER_SECOND)
        return time.monotonic() - self._last >= interval

    def tick(self) -> None:
        """No chunk for a while: show text held back by coalescing, once its turn has come."""
        if self._dirty and self._due():
            self._push()

    def event(self, status: str, *, discard: bool = False) -> None:
        """A fallback or restart happened: say so now (``discard`` drops the text shown)."""
        if discard:
            self.text = self.thinking = ""
        self.status = status
        self._push()

    def _push(self) -> None:
        if self._handle is None:
            return
        self._handle.update(render.live_bundle(self.text, self.thinking, self.status, self.fmt), raw=True)
        self.updates += 1
        self._last = time.monotonic()
        self._dirty = False

    def close(self) -> None:
        """End the live display as it began; nothing updates it after this."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.update(render.NEUTRAL, raw=True)

    def show(self, data: dict[str, str], meta: dict[str, Any] | None = None) -> None:
        """Close the live display and show the final output with its provenance."""
        self.close()
        display(data, raw=True, metadata={"vessel_nb": meta} if meta is not None else None)

    def note(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        """Show something beside the answer (the --vision thumbnail), before it opens."""
        display(data, raw=True, metadata=metadata)

    def finish(self, data: dict[str, str], meta: dict[str, Any], footer: str = "") -> None:
        """The answer is complete: show it with its provenance (``footer`` is for terminals)."""
        self.show(data, meta)

    def stopped(self, meta: dict[str, Any], *, mark: bool = True) -> None:
        """The person interrupted: keep what arrived (marked as stopped when ``mark``)."""
        if self.text or mark:
            self.show(render.stopped_bundle(self.text, self.vessel, self.fmt, mark=mark), meta)
        else:
            self.close()

    def failed(self, partial: str = "", mark: str = "") -> None:
        """The call failed; keep a broken-off partial answer visible if there is one."""
        if partial:
            md = f"{render.answer_md(partial)}\n\n**✂ {html.escape(mark)}**"
            self.show({"text/markdown": md, "text/plain": f"{partial}\n\n[{mark}]"})
        else:
            self.close()


class TextStream:
    """Plain IPython in a terminal: print the stream as it arrives."""

    def __init__(self, fmt: str, *, out: TextIO | None = None, status: str = "") -> None:
        self.fmt = fmt
        self.out = out or sys.stdout
        self.text = ""
        self.thinking = ""
        self.vessel = ""
        self.updates = 0
        self._at_line_start = True

    def _write(self, s: str) -> None:
        if s:
            self.out.write(s)
            self.out.flush()
            self._at_line_start = s.endswith("\n")

    def _line(self, s: str) -> None:
        self._write(("" if self._at_line_start else "\n") + s + "\n")

    def open(self) -> None:
        """Nothing to set up in a terminal."""

    def tick(self) -> None:
        """Text is printed as it comes: nothing is held back."""

    def add(self, text: str, thinking: str = "", vessel: str = "") -> None:
        """Print new text at once."""
        self.vessel = vessel or self.vessel
        self.text += text
        self.thinking += thinking
        self._write(text)

    def event(self, status: str, *, discard: bool = False) -> None:
        """A fallback or restart: one line in brackets."""
        if discard:
            self.text = ""
        self._line(f"[{status}]")

    def close(self) -> None:
        """End the answer's line."""
        if not self._at_line_start:
            self._write("\n")

    def show(self, data: dict[str, str], meta: dict[str, Any] | None = None) -> None:
        """Print the plain-text form of a final output."""
        self._line(data.get("text/plain", ""))

    def note(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        """Print the plain-text form of a note (a terminal shows no thumbnail)."""
        self._line(data.get("text/plain", ""))

    def finish(self, data: dict[str, str], meta: dict[str, Any], footer: str = "") -> None:
        """The answer was printed as it came: add the footer line."""
        self.close()
        if self.fmt == "code":
            self._line(data.get("text/plain", ""))
        if footer:
            self._line(f"— {footer}")

    def stopped(self, meta: dict[str, Any], *, mark: bool = True) -> None:
        """Mark the printed partial answer as stopped (or only end its line)."""
        if mark:
            self._line(f"[{render.stopped_sentence(self.vessel, len(self.text))}]")
        else:
            self.close()

    def failed(self, partial: str = "", mark: str = "") -> None:
        """Mark a broken-off answer."""
        if partial:
            self._line(f"[{mark}]")
        else:
            self.close()

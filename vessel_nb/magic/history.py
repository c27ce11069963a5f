"""The conversation ``%%ask --chat`` continues: the last few exchanges, never all of them.

Every answered single-vessel ``%%ask`` cell is recorded. A ``--chat`` cell sends the
most recent exchanges that fit both limits (a number of exchanges and a number of
characters), oldest dropped first, so a long session never resends unbounded history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

# Only this many exchanges are ever kept; the traits choose how many of them are sent.
_KEEP = 100


@dataclass(frozen=True)
class Exchange:
    """One question and its answer."""

    prompt: str
    """what the cell asked (after {name} was filled in)"""
    answer: str
    """the complete answer text"""
    vessel: str
    """the vessel that answered"""
    private: bool = False
    """asked with --private/--heartbeat: its turns are marked private when resent"""


class ChatHistory:
    """The exchanges of this session, most recent last."""

    def __init__(self) -> None:
        self._items: deque[Exchange] = deque(maxlen=_KEEP)

    def record(self, prompt: str, answer: str, vessel: str = "", *, private: bool = False) -> None:
        """Remember an answered exchange."""
        self._items.append(Exchange(prompt, answer, vessel, private))

    def clear(self) -> None:
        """Forget every exchange (``%ask forget`` or ``%%ask --new``)."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def recent(self, max_turns: int, max_chars: int) -> list[Exchange]:
        """The newest exchanges within both limits, oldest first."""
        picked: list[Exchange] = []
        used = 0
        for ex in reversed(self._items):
            size = len(ex.prompt) + len(ex.answer)
            if len(picked) >= max_turns or used + size > max_chars:
                break
            picked.append(ex)
            used += size
        return picked[::-1]

    def messages(self, prompt: str, *, max_turns: int, max_chars: int) -> list[dict[str, Any]]:
        """The messages for a call that continues the conversation with ``prompt``.

        Private exchanges are marked, not filtered: the orchestrator leaves them out of
        whatever goes to a vessel that is not local (see :mod:`vessel_nb.privacy`).
        """
        out: list[dict[str, Any]] = []
        for ex in self.recent(max_turns, max(0, max_chars - len(prompt))):
            out.append({"role": "user", "content": ex.prompt, "private": ex.private})
            out.append({"role": "assistant", "content": ex.answer, "private": ex.private})
        out.append({"role": "user", "content": prompt})
        return out

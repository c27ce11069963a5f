"""The conversation ``%%ask --chat`` continues: the last few exchanges, never all of them.

Every answered single-vessel ``%%ask`` cell is recorded. A ``--chat`` cell sends the
most recent exchanges that fit both limits (a number of exchanges and a number of
characters), oldest dropped first, so a long session never resends unbounded history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

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
    """asked with --private/--heartbeat: only ever resent to calls that stay local too"""


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

    def recent(self, max_turns: int, max_chars: int, *, private: bool = False) -> list[Exchange]:
        """The newest exchanges within both limits, oldest first.

        A private exchange is included only when the new call is private too: a ``--chat``
        cell that may go to the cloud must not carry a private conversation with it.
        """
        picked: list[Exchange] = []
        used = 0
        for ex in reversed(self._items):
            if ex.private and not private:
                continue
            size = len(ex.prompt) + len(ex.answer)
            if len(picked) >= max_turns or used + size > max_chars:
                break
            picked.append(ex)
            used += size
        return picked[::-1]

    def messages(self, prompt: str, *, max_turns: int, max_chars: int, private: bool = False) -> list[dict[str, str]]:
        """The messages for a call that continues the conversation with ``prompt``."""
        out: list[dict[str, str]] = []
        for ex in self.recent(max_turns, max(0, max_chars - len(prompt)), private=private):
            out.append({"role": "user", "content": ex.prompt})
            out.append({"role": "assistant", "content": ex.answer})
        out.append({"role": "user", "content": prompt})
        return out

"""Private turns stay on this machine: enforced here, once, for every way a call is made.

A conversation remembers which of its turns were private: each such message carries
``"private": True`` (``ChatPanel`` and ``%%ask --chat`` mark the exchanges asked as
private or heartbeat; any other caller may do the same). The orchestrator, not each
interface, decides what leaves the machine:

- a call whose newest user message is marked private *is* a private call: it goes to local
  vessels only, exactly as ``task={"private": True}``;
- older private turns are left out of what is sent to a vessel that is not local, and the
  call says so (a ``"withheld"`` chunk and ``Reply.withheld``); a local vessel gets them all.

Dropping rather than refusing keeps a conversation usable once the user decides the next
question may go to the cloud, without its private past going along.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import errors as E
from .types import Message

if TYPE_CHECKING:
    from .adapters.base import BaseAdapter

MARK = "private"
"""the message key that marks a turn of a private or heartbeat exchange"""


def newest_prompt_private(msgs: Sequence[Message]) -> bool:
    """The message being asked now (the last user message) is marked private."""
    last_user = next((m for m in reversed(msgs) if m.get("role") == "user"), None)
    return bool(last_user and last_user.get(MARK))


def outgoing(msgs: Sequence[Message], adapter: BaseAdapter, *, local_only: bool) -> tuple[list[Message], int]:
    """The messages this vessel may receive, without the mark, and how many were withheld.

    The last line of defence: whatever the planner decided, a local-only call never reaches a
    vessel that is not local, and a private turn never reaches one either.
    """
    local = adapter.local
    if local_only and not local:
        raise E.NoLocalVessel(
            f"this private call was about to go to {adapter.name!r}, which is not a local vessel; "
            "nothing was sent (private and heartbeat calls never leave this machine)"
        )
    sent = [{k: v for k, v in m.items() if k != MARK} for m in msgs if local or not m.get(MARK)]
    return sent, len(msgs) - len(sent)


def withheld_note(count: int, vessel: str) -> str:
    """What the user is told when private turns were left out."""
    turns = "1 private message was" if count == 1 else f"{count} private messages were"
    return f"{turns} left out of what was sent to {vessel}: private turns never leave this machine"

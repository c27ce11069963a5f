"""What a practice server says: the canned, clearly-labelled reply and how it is cut up.

Every provider module turns its request into a :class:`Call` (prompt, image count, thinking
wanted, output limit) and asks :func:`compose` for the pieces to stream. Pieces are words
with their leading whitespace, so joining them gives back the text exactly, and "one piece"
is the practice servers' honest unit of a token in every usage figure they report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Named:
    """The default reply, naming the vessel as the person configured it ("claude", not
    the provider's "anthropic"; a vessel of their own, "llamacpp")."""

    vessel: str
    """the vessel name the reply says it stands in for"""


ReplySource = str | Callable[[str, dict], str] | Named | None
"""``reply=`` of a practice server: fixed text, a function of (prompt, request JSON), the
default reply under a vessel's name (:class:`Named`), or None (the default reply)"""

PROMPT_CHARS = 80
"""how much of the user's message the default reply quotes back"""

_CLOSING = (
    "Practice replies are canned, so you can try streaming, routing and fallbacks for free. "
    "Ask a real provider for a real answer."
)
_REASONING = "Practice reasoning (not a real model): read the question, then give the canned answer."
_PIECE = re.compile(r"\s*\S+\s*$|\s*\S+|\s+$")


@dataclass
class Call:
    """One chat request, reduced to what decides the practice reply."""

    provider: str
    """provider name used in the reply ("ollama", "anthropic", "openai", "gemini")"""
    model: str
    """model name as the client sent it"""
    prompt: str = ""
    """text of the last user message"""
    images: int = 0
    """number of images anywhere in the request"""
    thinking: bool = False
    """the request asked for reasoning"""
    limit: int | None = None
    """output limit in pieces (max_tokens and friends); None = no limit"""
    input_tokens: int = 0
    """pieces in every text of the request (system + messages), the honest input count"""
    body: dict = field(default_factory=dict)
    """the parsed request JSON, for ``reply=`` callables"""


@dataclass
class Plan:
    """The pieces to stream for one call."""

    thinking: list[str]
    """reasoning pieces, streamed first"""
    text: list[str]
    """answer pieces"""
    truncated: bool = False
    """the output limit cut the answer (the provider's length stop reason applies)"""

    @property
    def output_tokens(self) -> int:
        """Pieces sent in total (thinking + text)."""
        return len(self.thinking) + len(self.text)


def split_pieces(text: str) -> list[str]:
    """Cut text into token-like pieces: each word with the whitespace before it."""
    return _PIECE.findall(text) if text else []


def count_pieces(*texts: str) -> int:
    """How many pieces the given texts make together (used for input token counts)."""
    return sum(len(split_pieces(t)) for t in texts if t)


def default_reply(call: Call, vessel: str = "") -> str:
    """The labelled practice answer: says what it is (the practice ``vessel``, else the
    provider) and quotes the question."""
    asked = " ".join(call.prompt.split())
    if len(asked) > PROMPT_CHARS:
        asked = asked[:PROMPT_CHARS] + "…"
    parts = [f"This is the practice {vessel or call.provider} vessel (not a real model). You asked: «{asked}»."]
    if call.images:
        noun = "image" if call.images == 1 else "images"
        them = "it" if call.images == 1 else "them"
        parts.append(f"I received {call.images} {noun} (practice: I can't actually see {them}).")
    parts.append(_CLOSING)
    return " ".join(parts)


def compose(call: Call, reply: ReplySource = None) -> Plan:
    """Decide the pieces for a call: reasoning if asked, then the reply, cut at the limit."""
    if reply is None or isinstance(reply, Named):
        text = default_reply(call, reply.vessel if reply is not None else "")
    elif callable(reply):
        text = str(reply(call.prompt, call.body))
    else:
        text = str(reply)
    thinking = split_pieces(_REASONING) if call.thinking else []
    answer = split_pieces(text)
    truncated = False
    if call.limit is not None and len(thinking) + len(answer) > call.limit:
        # Like the real APIs, reasoning spends the same output budget as the answer.
        keep = max(call.limit, 0)
        thinking, answer = thinking[:keep], answer[: max(keep - len(thinking), 0)]
        truncated = True
    return Plan(thinking=thinking, text=answer, truncated=truncated)


def text_of(content: Any) -> str:
    """Plain text from a message content that is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(t for t in texts if t)
    return ""


def int_or_none(value: Any) -> int | None:
    """An integer limit from JSON, or None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)

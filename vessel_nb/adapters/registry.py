"""The providers vessel_nb knows, in one table read by everyone.

A row names the default vessel, its adapter class (which also says which environment
variables hold its key and address), the practice server that speaks its protocol and
the model a practice vessel asks for. The configuration file, the lessons' classroom,
the practice fleet and the tests all read this table, so a fifth provider is one adapter
module, one practice module and one row here.

No tornado here: the practice servers are imported only by :mod:`vessel_nb.practice`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .anthropic import ClaudeAdapter
from .base import BaseAdapter
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter


@dataclass(frozen=True)
class Provider:
    """One provider: its vessel, adapter and practice stand-in."""

    vessel: str
    """default vessel name (as in ``classroom.setup([...])`` and the config file's tables)"""
    adapter: type[BaseAdapter]
    """the adapter class; its ``key_env`` and ``url_env`` name the environment variables"""
    practice: str
    """the practice server module, ``vessel_nb.practice.<practice>`` (named for the protocol)"""
    practice_model: str
    """the model a practice vessel asks for"""

    @property
    def key_env(self) -> tuple[str, ...]:
        """Environment variables that may hold the key, in order of preference (none: no key)."""
        return self.adapter.key_env

    @property
    def url_env(self) -> str:
        """Environment variable that may hold the address."""
        return self.adapter.url_env

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that means this provider (vessel, practice, adapter's provider)."""
        return tuple(dict.fromkeys((self.vessel, self.practice, self.adapter.provider)))


PROVIDERS: tuple[Provider, ...] = (
    Provider("ollama", OllamaAdapter, practice="ollama", practice_model="llama3.2"),
    Provider("claude", ClaudeAdapter, practice="anthropic", practice_model="claude-practice"),
    Provider("openai", OpenAIAdapter, practice="openai", practice_model="gpt-practice"),
    Provider("gemini", GeminiAdapter, practice="gemini", practice_model="gemini-practice"),
)
"""every provider, in the default priority order (local first)"""

VESSELS: tuple[str, ...] = tuple(p.vessel for p in PROVIDERS)
"""default vessel names, in the default priority order"""

PRACTICE: tuple[str, ...] = tuple(p.practice for p in PROVIDERS)
"""practice server names, in the same order"""

ADAPTERS: dict[str, type[BaseAdapter]] = {n: p.adapter for p in PROVIDERS for n in p.names}
"""any provider name (``provider = "..."`` in the config file) -> adapter class"""


def provider(name: str) -> Provider:
    """The provider a vessel, practice or provider name means; KeyError when none does."""
    for p in PROVIDERS:
        if name in p.names:
            return p
    raise KeyError(name)

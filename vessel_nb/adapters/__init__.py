"""The four vessel adapters. Each says how to build its request, parse its stream and probe
its health; the contract and configuration live in :mod:`.base`, the shared HTTP work in
:mod:`.httpio`, error translation in :mod:`.translate`, and the table of providers in
:mod:`.registry`."""

from __future__ import annotations

from ..types import CallOptions
from .anthropic import ClaudeAdapter
from .base import BaseAdapter
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter
from .registry import ADAPTERS, PROVIDERS, Provider

__all__ = [
    "ADAPTERS",
    "PROVIDERS",
    "BaseAdapter",
    "CallOptions",
    "ClaudeAdapter",
    "GeminiAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "Provider",
]

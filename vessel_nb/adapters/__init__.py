"""The four vessel adapters. Each says how to build its request, parse its stream and probe
its health; everything they share lives in :mod:`.base`."""

from __future__ import annotations

from .anthropic import ClaudeAdapter
from .base import BaseAdapter, CallOptions
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter

__all__ = ["BaseAdapter", "CallOptions", "ClaudeAdapter", "GeminiAdapter", "OllamaAdapter", "OpenAIAdapter"]

#: provider name -> adapter class, for config files
ADAPTERS = {
    "ollama": OllamaAdapter,
    "anthropic": ClaudeAdapter,
    "claude": ClaudeAdapter,
    "openai": OpenAIAdapter,
    "gemini": GeminiAdapter,
}

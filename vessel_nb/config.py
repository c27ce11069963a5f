"""The default vessels, from the environment and an optional TOML file.

With no file, ``AIOrchestrator()`` builds four vessels: a local Ollama, then Claude, OpenAI
and Gemini, with keys and addresses from the usual environment variables. A file
(``$VESSEL_NB_CONFIG``, else ``~/.config/vessel_nb/config.toml``) may change models and
order and add more vessels, such as a llama.cpp server::

    priority = ["ollama", "llamacpp", "claude"]

    [vessels.ollama]
    model = "qwen2.5:7b"

    [vessels.llamacpp]
    provider = "openai"            # OpenAI-compatible
    base_url = "http://127.0.0.1:8080/v1"
    model = "local"
    local = true

Keys never go in the file: name the environment variable with ``api_key_env``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters import ADAPTERS, ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from .adapters.base import BaseAdapter
from .errors import ConfigError

DEFAULT_MODELS = {
    "ollama": os.environ.get("VESSEL_NB_OLLAMA_MODEL", "llama3.2"),
}
_OPTIONS = {"provider", "model", "base_url", "local", "api_key_env", "vision", "thinking", "max_tokens"}


@dataclass
class Setup:
    """Vessels and priority from the environment and config file."""

    vessels: dict[str, BaseAdapter]
    priority: list[str]
    source: str
    """where the configuration came from, for ``%ask config``"""


def config_path() -> Path:
    """Where the optional config file is looked for."""
    env = os.environ.get("VESSEL_NB_CONFIG")
    return Path(env).expanduser() if env else Path.home() / ".config" / "vessel_nb" / "config.toml"


def default_vessels() -> dict[str, BaseAdapter]:
    """The four vessels every user starts with."""
    return {
        "ollama": OllamaAdapter(model=DEFAULT_MODELS["ollama"]),
        "claude": ClaudeAdapter(),
        "openai": OpenAIAdapter(),
        "gemini": GeminiAdapter(),
    }


def default_setup(path: str | os.PathLike | None = None) -> Setup:
    """Default vessels, changed and extended by the config file when there is one."""
    vessels = default_vessels()
    priority = list(vessels)
    file = Path(path) if path else config_path()
    if not file.is_file():
        if path:
            raise ConfigError(f"config file not found: {file}")
        return Setup(vessels, priority, "defaults (no config file)")
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {file}: {exc}") from None
    for name, spec in (data.get("vessels") or {}).items():
        vessels[name] = _build(name, spec, vessels.get(name), file)
    if "priority" in data:
        priority = list(data["priority"])
        missing = [n for n in priority if n not in vessels]
        if missing:
            raise ConfigError(
                f"{file}: priority names {missing[0]!r}, which is not a vessel; vessels: {', '.join(vessels)}"
            )
        priority += [n for n in vessels if n not in priority]
    else:
        priority += [n for n in vessels if n not in priority]
    return Setup(vessels, priority, str(file))


def _build(name: str, spec: Any, current: BaseAdapter | None, file: Path) -> BaseAdapter:
    if not isinstance(spec, dict):
        raise ConfigError(f"{file}: [vessels.{name}] must be a table")
    if "api_key" in spec:
        raise ConfigError(
            f"{file}: [vessels.{name}] has an api_key; keys must not be written in files. "
            'Put the key in an environment variable and name it with api_key_env = "MY_KEY_VAR"'
        )
    unknown = set(spec) - _OPTIONS
    if unknown:
        raise ConfigError(
            f"{file}: [vessels.{name}] has unknown option {sorted(unknown)[0]!r}; options: {', '.join(sorted(_OPTIONS))}"
        )
    provider = spec.get("provider") or (current.provider if current else None)
    if provider not in ADAPTERS:
        raise ConfigError(f"{file}: [vessels.{name}] needs provider = one of {', '.join(sorted(ADAPTERS))}")
    cls = ADAPTERS[provider]
    kwargs: dict[str, Any] = {
        k: spec[k] for k in ("base_url", "local", "vision", "thinking", "max_tokens") if k in spec
    }
    if "api_key_env" in spec:
        kwargs["api_key"] = os.environ.get(spec["api_key_env"]) or None
    model = spec.get("model") or (current.model if current and isinstance(current, cls) else None)
    adapter = cls(model, **kwargs) if model else cls(**kwargs)
    adapter.name = name
    return adapter


__all__ = ["ClaudeAdapter", "GeminiAdapter", "OllamaAdapter", "OpenAIAdapter", "Setup", "config_path", "default_setup"]

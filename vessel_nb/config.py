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

    [vessels.vllm]                 # a pool: each call goes to the host with the fewest in flight
    provider = "openai"
    base_url = ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"]
    model = "Qwen/Qwen2.5-7B-Instruct"

    [vessels.codex]
    provider = "openai"
    model = "gpt-5-codex"
    api = "responses"              # "chat", "responses" or "auto" (the default)

Keys never go in the file: name the environment variable with ``api_key_env``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters import ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter
from .adapters.base import BaseAdapter
from .adapters.registry import ADAPTERS, PROVIDERS
from .errors import ConfigError

OLLAMA_MODEL_ENV = "VESSEL_NB_OLLAMA_MODEL"
"""names the Ollama model to use instead of the adapter's default"""
# Every option of a [vessels.NAME] table, its type, and how it is described in an error.
_OPTIONS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "provider": (str, 'text, e.g. "openai"'),
    "model": (str, 'text, e.g. "llama3.2"'),
    "base_url": ((str, list), 'text, e.g. "http://127.0.0.1:8080/v1", or a list of such addresses (a pool)'),
    "local": (bool, "true or false (without quotes)"),
    "api_key_env": (str, 'the name of an environment variable, e.g. "MY_KEY_VAR"'),
    "vision": (bool, "true or false (without quotes)"),
    "thinking": (bool, "true or false (without quotes)"),
    "max_tokens": (int, "a positive whole number, e.g. 1024"),
    "api": (str, '"auto", "chat" or "responses" (OpenAI only)'),
    "store": (bool, "true or false (without quotes; OpenAI's Responses API only)"),
}
# Options only one provider understands: OpenAI's choice of API and whether OpenAI may keep
# the conversation (Responses API).
_PROVIDER_OPTIONS = {"api": "openai", "store": "openai"}
_TOP_LEVEL = ("priority", "vessels", "prices")


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
    """The four vessels every user starts with (one per provider in the registry)."""
    vessels = {p.vessel: p.adapter() for p in PROVIDERS}
    if model := os.environ.get(OLLAMA_MODEL_ENV, "").strip():
        vessels["ollama"] = OllamaAdapter(model=model)
    return vessels


def default_setup(path: str | os.PathLike | None = None) -> Setup:
    """Default vessels, changed and extended by the config file when there is one."""
    vessels = default_vessels()
    priority = list(vessels)
    file = Path(path) if path else config_path()
    if not file.is_file():
        if path:
            raise ConfigError(f"config file not found: {file}")
        return Setup(vessels, priority, "defaults (no config file)")
    data = _read(file)
    for name, spec in data.get("vessels", {}).items():
        try:
            vessels[name] = _build(name, spec, vessels.get(name), file)
        except ConfigError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith(str(file)) else f"{file}: [vessels.{name}]: {text}") from None
    if "priority" in data:
        priority = data["priority"]
        if not isinstance(priority, list) or not all(isinstance(n, str) for n in priority):
            raise ConfigError(f'{file}: priority must be a list of vessel names, e.g. ["ollama", "claude"]')
        missing = [n for n in priority if n not in vessels]
        if missing:
            raise ConfigError(
                f"{file}: priority names {missing[0]!r}, which is not a vessel; vessels: {', '.join(vessels)}"
            )
        priority += [n for n in vessels if n not in priority]
    else:
        priority += [n for n in vessels if n not in priority]
    return Setup(vessels, priority, str(file))


def _read(file: Path) -> dict[str, Any]:
    """The file's TOML as a dict of the known top-level keys, or one ConfigError."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {file}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read the config file {file}: byte {exc.start} is not UTF-8; save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read the config file {file}: {exc}") from None
    unknown = [k for k in data if k not in _TOP_LEVEL]
    if unknown:
        raise ConfigError(
            f"{file}: unknown setting {unknown[0]!r} at the top level; the file has priority = [...], "
            '[vessels.NAME] tables and [prices."MODEL"] tables only'
        )
    if not isinstance(data.get("vessels", {}), dict):
        raise ConfigError(f"{file}: vessels must be tables like [vessels.ollama], not {type(data['vessels']).__name__}")
    return data


def _build(name: str, spec: Any, current: BaseAdapter | None, file: Path) -> BaseAdapter:
    if not isinstance(spec, dict):
        raise ConfigError(f"{file}: [vessels.{name}] must be a table")
    if "api_key" in spec:
        raise ConfigError(
            f"{file}: [vessels.{name}] has an api_key; keys must not be written in files. "
            'Put the key in an environment variable and name it with api_key_env = "MY_KEY_VAR"'
        )
    unknown = set(spec) - set(_OPTIONS)
    if unknown:
        raise ConfigError(
            f"{file}: [vessels.{name}] has unknown option {sorted(unknown)[0]!r}; options: {', '.join(_OPTIONS)}"
        )
    for field, value in spec.items():
        kind, expected = _OPTIONS[field]  # a pool's items are checked by the adapter, one error each
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(
                f"{file}: [vessels.{name}] {field} = {value!r} is {_toml_type(value)}; {field} must be {expected}"
            )
    provider = spec.get("provider") or (current.provider if current else None)
    if provider not in ADAPTERS:
        raise ConfigError(f"{file}: [vessels.{name}] needs provider = one of {', '.join(sorted(ADAPTERS))}")
    cls = ADAPTERS[provider]
    for option, only in _PROVIDER_OPTIONS.items():
        if option in spec and provider != only:
            raise ConfigError(f"{file}: [vessels.{name}] {option} = ... is for provider = {only!r} only")
    kwargs: dict[str, Any] = {
        k: spec[k] for k in ("base_url", "local", "vision", "thinking", "max_tokens", "api", "store") if k in spec
    }
    if "api_key_env" in spec:
        # "" (not None) when the variable is unset: the vessel then reports that variable as
        # missing instead of quietly taking the provider's usual one (another account's key).
        kwargs["api_key"] = os.environ.get(spec["api_key_env"]) or ""
    model = spec.get("model") or (current.model if current and isinstance(current, cls) else None)
    adapter = cls(model, **kwargs) if model else cls(**kwargs)
    adapter.name = name
    if "api_key_env" in spec:
        adapter.key_env = (spec["api_key_env"],)  # what missing_key() names
    return adapter


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


__all__ = ["ClaudeAdapter", "GeminiAdapter", "OllamaAdapter", "OpenAIAdapter", "Setup", "config_path", "default_setup"]

"""What a prompt-set run will ask: its prompts, its pairs, and the key that names it.

A run is every prompt × every vessel slot ("auto" when each prompt is routed as ``ask``
would route it). The run key hashes what decides the answers — the prompts, the vessels
and the models they serve, and the call options — so running the same thing again gets
the same key, finds the pairs the call log already holds answered, and asks only the rest.
Time limits and pacing do not change answers, so they are not part of the key. Images are
in it by content (a hash of their bytes), not by file path: an image changed on disk at
the same path is a new run, not a stale answer resumed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors as E
from .calls import normalize_messages
from .images import Image
from .types import Message

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator

AUTO = "auto"
"""the slot of a routed run: each prompt goes where ``ask`` would send it"""

_NOT_IN_KEY = frozenset({"timeouts", "on_interrupt"})


@dataclass(frozen=True)
class Pair:
    """One prompt on one vessel slot: the unit a run asks, logs and resumes."""

    prompt_id: str
    """the prompt's id: its position, the DataFrame index, or the dict key"""
    slot: str
    """the vessel name, or ``"auto"`` for a routed run"""
    messages: tuple[Message, ...]
    """what is sent"""

    @property
    def item(self) -> str:
        """The pair's name in the log's ``run_item`` column."""
        return f"{self.prompt_id}@{self.slot}"

    @property
    def prompt(self) -> str:
        """The last user message (for tables)."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


def prompts_of(prompts: Any, template: str | None = None) -> list[tuple[str, list[Message]]]:
    """(id, messages) for every prompt; one ConfigError naming the bad prompt otherwise.

    Accepts a list of strings or of message lists, a dict of id -> either, a pandas
    Series, or a DataFrame with ``template`` (``"Summarise {text}"``) filled from each row.
    """
    if isinstance(prompts, str):
        raise E.ConfigError("map() takes a list of prompts, not one string; for one prompt use orch.ask(...)")
    if template is not None and not isinstance(template, str):
        raise E.ConfigError(f"template must be text such as 'Summarise {{text}}', not {type(template).__name__}")
    rows: list[tuple[str, Any]]
    if _is_frame(prompts):
        if template is None:
            raise E.ConfigError(
                f"a DataFrame needs template=, e.g. template='Summarise {{{prompts.columns[0]}}}'; "
                f"its columns: {', '.join(map(str, prompts.columns))}"
            )
        rows = [
            (str(i), {str(k): v for k, v in r.items()})
            for i, r in zip(prompts.index, prompts.to_dict("records"), strict=True)
        ]
    elif hasattr(prompts, "items") and hasattr(prompts, "index") and not isinstance(prompts, Mapping):  # Series
        rows = [(str(i), v) for i, v in prompts.items()]
    elif isinstance(prompts, Mapping):
        rows = [(str(k), v) for k, v in prompts.items()]
    elif isinstance(prompts, Sequence):
        rows = [(str(i), v) for i, v in enumerate(prompts)]
    else:
        raise E.ConfigError(
            f"prompts must be a list of prompts, a dict of id -> prompt, or a DataFrame with template=, "
            f"not {type(prompts).__name__}"
        )
    if not rows:
        raise E.ConfigError("the prompt set is empty; give at least one prompt")
    if len({i for i, _ in rows}) != len(rows):
        raise E.ConfigError("two prompts share an id (DataFrame index or dict key); each prompt needs its own")
    out = []
    for pid, value in rows:
        try:
            out.append((pid, normalize_messages(_fill(template, value))))
        except E.ConfigError as exc:
            raise E.ConfigError(f"prompt {pid}: {exc}") from None
    return out


def _fill(template: str | None, value: Any) -> Any:
    if template is None:
        if isinstance(value, Mapping):
            raise E.ConfigError("a row of fields needs template=, e.g. template='Summarise {text}'")
        return value
    fields = value if isinstance(value, Mapping) else {"prompt": value}
    used = _fields_of(template)
    if not used:
        raise E.ConfigError(
            f"the template {template!r} names no field, so every prompt would be the same text; "
            f"put a field in it, e.g. {{{next(iter(fields), 'prompt')}}} (fields: {', '.join(map(str, fields))})"
        )
    empty = next((f for f in used if f in fields and _missing(fields[f])), None)
    if empty is not None:
        raise E.ConfigError(
            f"field {{{empty}}} is empty (None or NaN), so the prompt would say {str(fields[empty])!r}; "
            "fill or drop the empty rows first (e.g. frame.dropna(subset=[...]))"
        )
    try:
        return template.format_map(fields)
    except KeyError as exc:
        raise E.ConfigError(
            f"the template names {{{exc.args[0]}}}, which is not a field; fields: {', '.join(map(str, fields))}"
        ) from None
    except (IndexError, ValueError) as exc:
        raise E.ConfigError(f"the template cannot be filled ({exc}); name fields like {{text}}") from None


def _fields_of(template: str) -> list[str]:
    """The field names a template fills (``{text}``, ``{row.attr}`` -> ``text``, ``row``)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return ["?"]  # unreadable: format_map says what is wrong
    return [name.split(".", 1)[0].split("[", 1)[0] for _, name, _, _ in parsed if name is not None]


def _missing(value: Any) -> bool:
    """None, or a float NaN / pandas NA (a DataFrame's empty cell)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the only value not equal to itself
    except (TypeError, ValueError):  # pandas.NA: its truth value is ambiguous
        return type(value).__name__ in ("NAType", "NaTType")


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def slots_of(orch: AIOrchestrator, vessels: Sequence[str] | str | None) -> list[str]:
    """The vessel slots of a run: every named vessel, or ``["auto"]`` to route."""
    if vessels is None:
        return [AUTO]
    if isinstance(vessels, str):
        vessels = [v.strip() for v in vessels.split(",") if v.strip()]
    if not isinstance(vessels, Sequence) or not all(isinstance(v, str) for v in vessels):
        raise E.ConfigError(
            f"vessels= takes vessel names, e.g. vessels={list(orch.vessels)[:2]}, or None to route; not {vessels!r:.60}"
        )
    names = list(vessels)
    if not names:
        raise E.ConfigError("vessels= is empty; name at least one vessel, or leave it out to route each prompt")
    for name in names:
        if name not in orch.vessels:
            raise E.ConfigError(f"unknown vessel {name!r}; configured vessels: {', '.join(orch.vessels)}")
    if len(set(names)) != len(names):
        raise E.ConfigError(f"vessels= names a vessel twice: {names}")
    return names


def run_key(orch: AIOrchestrator, prompts: list[tuple[str, list[Message]]], slots: list[str], options: dict) -> str:
    """The run's id: a hash of the prompts, the vessels and their models, the call options,
    and for a routed run the priority order and the session's chosen vessel."""
    vessels = list(orch.priority) if slots == [AUTO] else slots
    keyed = {k: v for k, v in sorted(options.items()) if k not in _NOT_IN_KEY and v is not None}
    if "images" in keyed:  # loaded by runstart: what is sent, not where it was read from
        keyed["images"] = [_image_key(img) for img in keyed["images"]]
    described = {
        "prompts": prompts,
        "slots": slots,
        "models": {v: options.get("model") or orch.vessels[v].model for v in vessels},
        "options": keyed,
    }
    if slots == [AUTO]:  # where a routed prompt goes decides its answer: the order, or `%ask use`
        described["routing"] = {"priority": list(orch.priority), "active": orch.active}
    blob = json.dumps(described, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()[:16]


def _image_key(image: Image) -> dict[str, str]:
    """An image as the run key knows it: its type and a hash of its bytes (the same picture
    from a path, bytes or a data: URL gives the same key; a changed file, another)."""
    return {"mime": image.mime, "sha256": hashlib.sha256(base64.b64decode(image.b64)).hexdigest()}


def pairs_of(prompts: list[tuple[str, list[Message]]], slots: list[str]) -> list[Pair]:
    """Every prompt × slot, prompt by prompt."""
    return [Pair(pid, slot, tuple(msgs)) for pid, msgs in prompts for slot in slots]

"""Which vessels may take a call, in which order, and why — decided per call.

The lesson's ``route_task`` set ``orch.active`` for everyone, so two concurrent calls with
different needs could send a private prompt to the cloud. Here the plan is a value computed
for one call from its own arguments; nothing shared is changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors as E
from .types import TASK_KEYS

CAPABILITY_LIMIT = 10.0
"""seconds, in all, to learn whether a vessel can do what a call needs (e.g. Ollama's
``/api/show``): planning happens before any attempt's clock starts, so it has its own limit"""
_log = logging.getLogger("vessel_nb")

if TYPE_CHECKING:
    from .adapters.base import BaseAdapter


@dataclass(frozen=True)
class Task:
    """What a call needs. Built from the ``task=`` dict."""

    private: bool = False
    """must not leave this machine"""
    heartbeat: bool = False
    """routine check-in: local only, like private"""
    needs_vision: bool = False
    needs_thinking: bool = False

    @property
    def local_only(self) -> bool:
        """Private and heartbeat calls never go to a vessel that is not local."""
        return self.private or self.heartbeat

    @classmethod
    def parse(cls, task: Mapping[str, Any] | Task | None) -> Task:
        """Validate a task dict; unknown keys are an error, not silently ignored."""
        if task is None:
            return _NO_NEEDS if cls is Task else cls()
        if isinstance(task, Task):
            return task
        if not isinstance(task, Mapping):
            raise E.ConfigError(f"task must be a dict like {{'private': True}}, not {type(task).__name__}")
        unknown = [k for k in task if k not in TASK_KEYS]
        if unknown:
            raise E.ConfigError(f"unknown task key {unknown[0]!r}; the keys are {', '.join(TASK_KEYS)}")
        # Only real booleans: "false" is a true string, and {"private": "false"} must not
        # quietly mean one thing or the other.
        wrong = next(((k, v) for k, v in task.items() if not isinstance(v, bool)), None)
        if wrong is not None:
            raise E.ConfigError(f"task[{wrong[0]!r}] must be True or False, not {type(wrong[1]).__name__} {wrong[1]!r}")
        return cls(**task)


_NO_NEEDS = Task()
"""what a call without ``task=`` needs (shared: it is frozen)"""


@dataclass(frozen=True)
class Candidate:
    """One vessel the call may go to, and why."""

    name: str
    reason: str
    explicit: bool = False


async def plan(
    vessels: Mapping[str, BaseAdapter],
    priority: list[str],
    *,
    explicit: str | None,
    task: Task,
    has_images: bool,
) -> list[Candidate]:
    """The ordered candidates for one call. Raises when nothing may take it."""
    need_vision = task.needs_vision or has_images
    if explicit is not None:
        if explicit not in vessels:
            raise E.ConfigError(f"unknown vessel {explicit!r}; configured vessels: {', '.join(vessels) or 'none'}")
        adapter = vessels[explicit]
        if task.local_only and not adapter.local:
            kind = "private" if task.private else "heartbeat"
            raise E.NoLocalVessel(
                f"this {kind} call asked for {explicit!r}, which is not a local vessel; "
                "private and heartbeat calls never leave this machine. Nothing was sent."
            )
        return [Candidate(explicit, "explicit", explicit=True)]

    names = [n for n in priority if n in vessels] + [n for n in vessels if n not in priority]
    reason = "priority"
    if task.local_only:
        reason = "private" if task.private else "heartbeat"
        names = [n for n in names if vessels[n].local]
        if not names:
            raise E.NoLocalVessel(
                f"this {reason} call needs a local vessel and none is configured "
                "(local: an Ollama on this machine, or an adapter made with local=True). Nothing was sent."
            )
    if need_vision:
        names = [n for n in names if await _can(vessels[n], "vision")]
        reason = "vision" if reason == "priority" else f"{reason}+vision"
        if not names:
            raise E.AllVesselsFailed(
                "no configured vessel can read images"
                + (" among the local ones" if task.local_only else "")
                + "; add a vision model (e.g. `ollama pull llava`, or a cloud vessel)"
            )
    if task.needs_thinking:
        names = [n for n in names if await _can(vessels[n], "thinking")]
        reason = "thinking" if reason == "priority" else f"{reason}+thinking"
        if not names:
            raise E.AllVesselsFailed("no configured vessel is marked as a reasoning vessel (thinking=True)")
    return [Candidate(n, reason) for n in names]


async def _can(adapter: BaseAdapter, capability: str) -> bool:
    """``adapter.supports(capability)``, bounded in time; a vessel that cannot say in time (or
    whose check fails) is taken as unable, so one wedged server never holds a call up."""
    try:
        async with asyncio.timeout(CAPABILITY_LIMIT):
            return bool(await adapter.supports(capability))
    except Exception as exc:  # noqa: BLE001 — a subclass's check may fail in any way
        _log.warning(
            "%s: could not tell whether it supports %s (%s); not using it for this call",
            adapter.name,
            capability,
            type(exc).__name__,
        )
        return False

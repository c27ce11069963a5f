"""The orchestrator: one front for several vessels. It holds the configuration, checks each
call's input, and hands the call to :mod:`.fallback`, which plans the candidates
(:mod:`.routing`), skips those known to be down (:mod:`.health`), streams from the first
that answers, and logs every attempt (:mod:`.calllog`). The call's faces — async stream,
sync stream, ask, background submit — are here.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, aclosing
from typing import TYPE_CHECKING, Any

from . import errors as E
from . import loop as bg
from . import privacy
from .adapters.base import BaseAdapter
from .calllog import CallLog
from .calls import CallHandle, collect, normalize_messages
from .fallback import Call, attempt_in_turn
from .health import VesselState
from .pricing import PriceTable
from .routing import Task
from .types import CallOptions, Chunk, Health, Message, Reply, Timeouts

if TYPE_CHECKING:
    from .runs import Run

_ON_INTERRUPT = ("raise", "restart")
CALL_OPTIONS = (
    "vessel", "task", "system", "images", "temperature", "max_tokens", "model", "think", "timeouts", "extra",
    "on_interrupt",
)  # fmt: skip
"""the keyword options of every call (ask, stream, map, ...), for messages"""


class AIOrchestrator:
    """One front for several vessels, with per-call routing, fallback and a call log.

    ``vessels``: name -> adapter; None builds the default four from the environment
    (and the optional config file, see :mod:`vessel_nb.config`). ``priority``: the order
    to try them in. ``on_interrupt``: what to do when a vessel fails after tokens arrived:
    ``"raise"`` (keep the partial text in the error) or ``"restart"`` on the next vessel.
    """

    def __init__(
        self,
        vessels: Mapping[str, BaseAdapter] | None = None,
        priority: Sequence[str] | None = None,
        *,
        log_path: str | Any | None = None,
        keep_text: bool = True,
        on_interrupt: str = "raise",
        timeouts: Timeouts | None = None,
    ) -> None:
        if vessels is None:
            from .config import default_setup

            setup = default_setup()
            vessels = setup.vessels
            priority = priority or setup.priority
        if not isinstance(vessels, Mapping) or not vessels:
            raise E.ConfigError("vessels must be a non-empty dict of name -> adapter, e.g. {'ollama': OllamaAdapter()}")
        for name, adapter in vessels.items():
            if not isinstance(adapter, BaseAdapter):
                raise E.ConfigError(
                    f"vessel {name!r} is a {type(adapter).__name__}, not an adapter (OllamaAdapter, ...)"
                )
            adapter.name = name
        self.vessels: dict[str, BaseAdapter] = dict(vessels)
        self.priority = priority if priority is not None else list(self.vessels)
        if on_interrupt not in _ON_INTERRUPT:
            raise E.ConfigError(f"on_interrupt must be 'raise' or 'restart', not {on_interrupt!r}")
        self.on_interrupt = on_interrupt
        self.timeouts = timeouts
        self._active: str | None = None
        self._states = {name: VesselState(name) for name in self.vessels}
        self.log = CallLog(log_path, keep_text=keep_text)
        #: dollars per million tokens per model (shipped table + the config file's [prices])
        self.prices = PriceTable.from_config()

    # --- configuration --------------------------------------------------------------
    def _check_priority(self, priority: Sequence[str] | None) -> list[str]:
        if isinstance(priority, str):
            raise E.ConfigError(f"priority must be a list of vessel names, e.g. {list(self.vessels)}, not a string")
        order = list(priority) if priority is not None else list(self.vessels)
        if len(set(order)) != len(order):
            raise E.ConfigError(f"priority lists a vessel twice: {order}")
        unknown = [n for n in order if n not in self.vessels]
        if unknown:
            raise E.ConfigError(
                f"priority names {unknown[0]!r}, which is not a vessel; vessels: {', '.join(self.vessels)}"
            )
        return order + [n for n in self.vessels if n not in order]

    @property
    def priority(self) -> list[str]:
        """The order vessels are tried in (every vessel appears once)."""
        return self._priority

    @priority.setter
    def priority(self, order: Sequence[str]) -> None:
        self._priority = self._check_priority(order)

    @property
    def active(self) -> str | None:
        """Session override: a vessel name used alone for every call, or None for routing."""
        return self._active

    @active.setter
    def active(self, name: str | None) -> None:
        if name in (None, "", "auto"):
            self._active = None
        elif name not in self.vessels:
            raise E.ConfigError(f"unknown vessel {name!r}; use one of {', '.join(self.vessels)} or 'auto'")
        else:
            self._active = name

    def add_vessel(self, name: str, adapter: BaseAdapter, *, position: int | None = None) -> None:
        """Add (or replace) a vessel, at the end of the priority list or at ``position``."""
        if not isinstance(adapter, BaseAdapter):
            raise E.ConfigError(f"{name!r} must be an adapter, not {type(adapter).__name__}")
        adapter.name = name
        self.vessels[name] = adapter
        self._states.setdefault(name, VesselState(name))
        if name in self.priority:
            self.priority.remove(name)
        self.priority.insert(len(self.priority) if position is None else position, name)

    def describe(self) -> list[dict[str, Any]]:
        """Every vessel's configuration (never its key), in priority order."""
        return [self.vessels[n].describe() for n in self.priority]

    def __repr__(self) -> str:
        return f"AIOrchestrator(vessels={self.priority}, active={self._active or 'auto'}, log={self.log!r})"

    # --- health ------------------------------------------------------------------------
    def health_snapshot(self) -> dict[str, Health]:
        """What calls and probes have taught so far; no network."""
        return {n: self._states[n].snapshot() for n in self.priority}

    async def acheck_health(self, names: Sequence[str] | None = None, timeout: float = 3.0) -> dict[str, Health]:
        """Probe vessels' free health endpoints concurrently and remember the answers."""
        names = list(names or self.priority)
        results = await asyncio.gather(*(self.vessels[n].health(timeout) for n in names))
        for health in results:
            self._states[health.vessel].record_probe(health)
        return {h.vessel: h for h in results}

    def check_health(self, names: Sequence[str] | None = None, timeout: float = 3.0) -> dict[str, Health]:
        """Sync twin of :meth:`acheck_health`."""
        return bg.run_sync(self.acheck_health(names, timeout), timeout=timeout + 5)

    # --- calls -------------------------------------------------------------------------
    def _core(
        self,
        messages: str | Sequence[Message],
        *,
        vessel: str | None = None,
        task: Mapping[str, Any] | Task | None = None,
        system: str | None = None,
        images: Sequence[Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        model: str | None = None,
        think: bool | None = None,
        timeouts: Timeouts | None = None,
        extra: Mapping[str, Any] | None = None,
        compare_id: str = "",
        on_interrupt: str | None = None,
        run_id: str = "",
        run_item: str = "",
        **unknown: Any,
    ) -> AsyncIterator[Chunk]:
        # Validate everything before anything is sent: bad input is one clear error.
        if unknown:
            raise E.ConfigError(f"unknown option {next(iter(unknown))!r}; a call takes {', '.join(CALL_OPTIONS)}")
        msgs = normalize_messages(messages)
        parsed = Task.parse(task)
        if privacy.newest_prompt_private(msgs) and not parsed.local_only:
            parsed = dataclasses.replace(parsed, private=True)  # asking a private turn is a private call
        if vessel is not None and not isinstance(vessel, str):
            raise E.ConfigError(f"vessel must be a vessel name, not {type(vessel).__name__}")
        if model is not None and vessel is None and self._active is None:
            raise E.ConfigError("model= picks a model on one vessel; give vessel= too")
        policy = on_interrupt or self.on_interrupt
        if policy not in _ON_INTERRUPT:
            raise E.ConfigError(f"on_interrupt must be 'raise' or 'restart', not {policy!r}")
        # One frozen CallOptions, built here and passed unchanged to the adapter.
        options = CallOptions.build(
            model=model,
            system=system,
            images=images,
            temperature=temperature,
            max_tokens=max_tokens,
            think=think if think is not None else parsed.needs_thinking,
            timeouts=timeouts or self.timeouts,
            extra=extra,
        )
        explicit = vessel if vessel is not None else self._active
        if explicit is not None and explicit not in self.vessels:
            raise E.ConfigError(f"unknown vessel {explicit!r}; configured vessels: {', '.join(self.vessels)}")
        call = Call(
            msgs,
            options,
            parsed,
            explicit=explicit,
            on_interrupt=policy,
            compare_id=compare_id,
            run_id=run_id,
            run_item=run_item,
            prices=self.prices,
        )
        return attempt_in_turn(call, self.vessels, self.priority, self._states, self.log)

    # --- public faces of one call ------------------------------------------------------------
    def stream(self, messages: str | Sequence[Message], **kwargs: Any) -> AsyncIterator[Chunk]:
        """Stream a reply as :class:`Chunk` objects; the last has ``done=True`` and ``reply``.

        Works from any event loop (a notebook cell's ``async for``): the work itself runs on
        vessel_nb's background loop, which owns the pooled connections. Bad input raises
        here, before iteration starts.
        """
        return self._stream(self._core(messages, **kwargs))

    async def _stream(self, gen: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        if bg.on_loop_thread():
            async with aclosing(gen) as chunks:
                async for chunk in chunks:
                    yield chunk
        else:
            async for chunk in bg.bridge(lambda: gen):
                yield chunk

    def stream_sync(
        self, messages: str | Sequence[Message], *, ticks: bool = False, **kwargs: Any
    ) -> AbstractContextManager[Iterator[Chunk]]:
        """``with orch.stream_sync(...) as chunks: for chunk in chunks: ...`` from plain code.

        A kernel interrupt lands in the loop; leaving the block cancels the call (the attempt
        is logged 'cancelled' and the connection closed) and waits until it has stopped.
        ``ticks=True`` also yields ``None`` every 0.1 s of silence (for coalescing displays).
        """
        gen = self._core(messages, **kwargs)
        return bg.iterate_sync(lambda: gen, ticks=ticks)

    async def aask(self, messages: str | Sequence[Message], **kwargs: Any) -> Reply:
        """Ask and wait for the whole reply (async)."""
        gen = self._core(messages, **kwargs)
        if bg.on_loop_thread():
            return await collect(gen)
        return await asyncio.wrap_future(bg.submit(collect(gen)))

    def ask(self, messages: str | Sequence[Message], **kwargs: Any) -> Reply:
        """Ask and wait for the whole reply. Works in scripts and inside a running Jupyter kernel."""
        gen = self._core(messages, **kwargs)
        return bg.run_sync(collect(gen))

    def submit(
        self, messages: str | Sequence[Message], on_chunk: Callable[[Chunk], Any] | None = None, **kwargs: Any
    ) -> CallHandle:
        """Start a call in the background; ``on_chunk`` is called on the loop thread per chunk."""
        return CallHandle(self._core(messages, **kwargs), on_chunk)

    def map(
        self,
        prompts: Any,
        vessels: Sequence[str] | str | None = None,
        *,
        template: str | None = None,
        concurrency: int | None = None,
        per_vessel: int | Mapping[str, int] | None = None,
        retries: int = 8,
        budget_usd: float | None = None,
        progress: str | bool | None = "auto",
        **call_options: Any,
    ) -> Run:
        """Ask a prompt set, in the background; returns a :class:`~vessel_nb.runs.Run` at once.

        ``prompts``: a list of prompts (strings or message lists), a dict of id -> prompt,
        or a DataFrame with ``template="Summarise {text}"``. ``vessels=None`` routes each
        prompt as :meth:`ask` would (fallback included); a list asks every prompt on each
        named vessel. ``per_vessel``: calls at once per vessel (default 2 on a local vessel,
        8 on a cloud one, per host of a pool); ``concurrency``: the cap over the whole run. A 429 pauses that
        vessel for the whole run, and the call is asked again (a pair gives up after
        ``retries`` tries in a row during which its vessel answered nothing else).
        ``budget_usd``: start no call that could take the run's cost past it. The same run
        again skips the pairs the call log holds answered. Other keywords go to every call
        (``system=``, ``temperature=``, ``max_tokens=``, ``model=``, ...); ``task={"private": True}``
        (or a message list whose last user turn is marked ``"private": True``) keeps a prompt on
        local vessels: a pair naming a cloud vessel is ``refused`` in ``run.df``, sent nowhere.
        ``run.wait()`` waits; ``run.df`` has one row per prompt × vessel.
        """
        from . import runstart

        return runstart.start(
            self,
            prompts,
            vessels,
            template=template,
            concurrency=concurrency,
            per_vessel=dict(per_vessel) if isinstance(per_vessel, Mapping) else per_vessel,
            retries=retries,
            budget_usd=budget_usd,
            progress=progress,
            **call_options,
        )

    def __enter__(self) -> AIOrchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections and the log file."""

        async def _close() -> None:
            for adapter in self.vessels.values():
                await adapter.aclose()

        if not bg.on_loop_thread():
            bg.run_sync(_close(), timeout=10)
        self.log.close()

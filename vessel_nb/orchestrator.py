"""The orchestrator: one front for several vessels. Per call it plans the candidates
(:mod:`.routing`), skips those known to be down (:mod:`.health`), streams from the first
that answers, falls back while no token has arrived, and logs every attempt (:mod:`.calllog`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, aclosing
from typing import Any

from . import errors as E
from . import loop as bg
from . import translate
from .adapters.base import BaseAdapter
from .calllog import CallLog
from .health import VesselState
from .images import load_image
from .routing import Task, plan
from .types import Attempt, Chunk, Health, Message, Reply, Timeouts, Usage

_ON_INTERRUPT = ("raise", "restart")


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def normalize_messages(messages: str | Sequence[Message]) -> list[Message]:
    """Accept a prompt string or a list of {"role", "content"} dicts; reject anything else clearly."""
    if isinstance(messages, str):
        if not messages.strip():
            raise E.ConfigError("the prompt is empty; write a question")
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence) or not messages:
        raise E.ConfigError(
            "messages must be a prompt string or a non-empty list of {'role': ..., 'content': ...} dicts"
        )
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise E.ConfigError(f"message {i} must be a dict with 'role' and 'content', got {m!r:.80}")
        if m["role"] not in ("system", "user", "assistant"):
            raise E.ConfigError(f"message {i} has role {m['role']!r}; use 'system', 'user' or 'assistant'")
        if not isinstance(m["content"], str):
            raise E.ConfigError(f"message {i} content must be text (pass images with images=[...])")
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "user" for m in out):
        raise E.ConfigError("messages need at least one 'user' message")
    return out


class CallHandle:
    """A call running in the background (see :meth:`AIOrchestrator.submit`)."""

    def __init__(self, gen: AsyncIterator[Chunk], on_chunk: Callable[[Chunk], Any] | None) -> None:
        self._task: asyncio.Task | None = None
        self._cancel_early = False

        async def run() -> Reply:
            self._task = asyncio.current_task()
            if self._cancel_early:
                await gen.aclose()
                raise asyncio.CancelledError
            return await _collect(gen, on_chunk)

        self._future: concurrent.futures.Future[Reply] = bg.submit(run())

    def cancel(self) -> None:
        """Stop the call; the upstream connection is closed and the attempt logged 'cancelled'.

        The handle reports done only after that has happened (cancelling the outer future
        directly would report done while the call is still closing)."""
        bg.get_loop().call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        else:
            self._cancel_early = True

    def done(self) -> bool:
        """The call has finished (answered, failed or cancelled)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> Reply:
        """The reply (raises the call's error, or CancelledError)."""
        return self._future.result(timeout)

    def add_done_callback(self, fn: Callable[[CallHandle], Any]) -> None:
        """Call fn(handle) when the call finishes (on the loop thread)."""
        self._future.add_done_callback(lambda _f: fn(self))


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
        compare_id: str = "",
        on_interrupt: str | None = None,
    ) -> AsyncIterator[Chunk]:
        # Validate everything before anything is sent: bad input is one clear error.
        msgs = normalize_messages(messages)
        parsed = Task.parse(task)
        imgs = [load_image(i) for i in images or ()]
        if vessel is not None and not isinstance(vessel, str):
            raise E.ConfigError(f"vessel must be a vessel name, not {type(vessel).__name__}")
        if model is not None and vessel is None and self._active is None:
            raise E.ConfigError("model= picks a model on one vessel; give vessel= too")
        policy = on_interrupt or self.on_interrupt
        if policy not in _ON_INTERRUPT:
            raise E.ConfigError(f"on_interrupt must be 'raise' or 'restart', not {policy!r}")
        if temperature is not None and not (0 <= float(temperature) <= 2):
            raise E.ConfigError(f"temperature must be between 0 and 2, not {temperature}")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise E.ConfigError(f"max_tokens must be a positive whole number, not {max_tokens!r}")
        options = {
            "system": system,
            "images": imgs,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "model": model,
            "think": bool(think if think is not None else parsed.needs_thinking),
            "timeouts": timeouts or self.timeouts,
        }
        explicit = vessel if vessel is not None else self._active
        if explicit is not None and explicit not in self.vessels:
            raise E.ConfigError(f"unknown vessel {explicit!r}; configured vessels: {', '.join(self.vessels)}")
        return self._attempts(msgs, explicit, parsed, options, compare_id, policy)

    async def _attempts(self, msgs, explicit, task: Task, options, compare_id, policy) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        call_start = loop.time()
        call_id = uuid.uuid4().hex[:12]
        candidates = await plan(
            self.vessels, self.priority, explicit=explicit, task=task, has_images=bool(options["images"])
        )
        prompt = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
        attempts: list[Attempt] = []
        failures: dict[str, E.VesselError] = {}
        previous = ""
        for index, cand in enumerate(candidates):
            adapter = self.vessels[cand.name]
            state = self._states[cand.name]
            last = index == len(candidates) - 1
            att = Attempt(
                call_id=call_id,
                attempt=len(attempts) + 1,
                vessel=cand.name,
                model=options["model"] or adapter.model,
                fallback_from=previous,
                reason=cand.reason,
                private=task.local_only,
                local=adapter.local,
                started_at=_utc_now(),
                compare_id=compare_id,
                prompt=prompt,
            )
            attempts.append(att)
            skip = adapter.missing_key()
            if skip is None and not cand.explicit and state.cooling_for() > 0:
                skip = E.VesselUnavailable(
                    f"skipped, cooling down for {state.cooling_for():.0f}s more after: {state.last_error}",
                    vessel=cand.name,
                )
            if skip is not None:
                att.outcome, att.error, att.error_kind, att.latency_s = "unhealthy", skip.reason, skip.kind, 0.0
                self.log.append(att)
                failures[cand.name], previous = skip, cand.name
                if not last:
                    yield Chunk(event="fallback", vessel=cand.name, model=att.model, detail=str(skip))
                continue

            start = loop.time()
            parts: list[str] = []
            thinking: list[str] = []
            usage = Usage()
            stop_reason = None
            try:
                call_opts = {k: v for k, v in options.items() if k != "images"}
                async with aclosing(adapter.stream(msgs, images=options["images"], **call_opts)) as deltas:
                    async for d in deltas:
                        if d.usage:
                            usage = Usage(d.usage.tokens_in or usage.tokens_in, d.usage.tokens_out or usage.tokens_out)
                        stop_reason = d.stop_reason or stop_reason
                        if d.text or d.thinking:
                            if att.ttft_s is None:
                                att.ttft_s = loop.time() - start
                            parts.append(d.text)
                            thinking.append(d.thinking)
                            yield Chunk(content=d.text, thinking=d.thinking, vessel=cand.name, model=att.model)
                if not "".join(parts).strip():
                    raise translate.stream_error(adapter, "the vessel sent an empty answer")
            except (asyncio.CancelledError, GeneratorExit):
                att.outcome, att.latency_s, att.response = "cancelled", loop.time() - start, "".join(parts)
                att.error, att.error_kind = "stopped by the caller", "cancelled"
                self.log.append(att)
                raise
            except E.VesselError as err:
                failure = err
            except E.ConfigError:
                raise
            except Exception as exc:  # a bug or an unexpected library error: still fall back
                failure = E.VesselError(
                    f"unexpected {type(exc).__name__}: {adapter.redact(str(exc))}", vessel=cand.name
                )
            else:
                att.outcome, att.latency_s = "ok", loop.time() - start
                att.tokens_in, att.tokens_out, att.response = usage.tokens_in, usage.tokens_out, "".join(parts)
                self.log.append(att)
                state.record_ok(att.ttft_s)
                reply = Reply(
                    text="".join(parts),
                    vessel=cand.name,
                    model=att.model,
                    call_id=call_id,
                    thinking="".join(thinking),
                    reason=cand.reason,
                    ttft_s=att.ttft_s,
                    latency_s=loop.time() - call_start,
                    usage=usage,
                    stop_reason=stop_reason,
                    local=adapter.local,
                    attempts=list(attempts),
                )
                yield Chunk(done=True, vessel=cand.name, model=att.model, reply=reply)
                return

            # the attempt failed
            got_text = att.ttft_s is not None
            failure.vessel = failure.vessel or cand.name
            failure.before_first_token = not got_text
            att.latency_s, att.error, att.error_kind = loop.time() - start, failure.reason, failure.kind
            att.response = "".join(parts) if got_text else None
            att.outcome = "interrupted" if got_text else "error"
            self.log.append(att)
            state.record_failure(failure, local=adapter.local)
            failures[cand.name], previous = failure, cand.name
            if cand.explicit:
                break
            if got_text:
                if policy == "restart" and not last:
                    yield Chunk(
                        event="restart",
                        vessel=cand.name,
                        model=att.model,
                        detail=f"{failure} — restarting on the next vessel; discard the partial text",
                    )
                    continue
                raise E.StreamInterrupted(failure, "".join(parts), attempts)
            if not last:
                yield Chunk(event="fallback", vessel=cand.name, model=att.model, detail=str(failure))

        raise self._all_failed(task, explicit, failures, attempts)

    def _all_failed(self, task: Task, explicit, failures, attempts) -> E.AllVesselsFailed:
        if explicit is not None:
            summary = f"{explicit} (chosen explicitly) failed; vessel_nb does not switch vessels behind your back:"
        elif task.local_only:
            return E.NoLocalVessel(
                "this private call found no local vessel up, so it was not sent anywhere (it never goes to the cloud):",
                failures,
                attempts,
            )
        else:
            summary = "the only vessel failed:" if len(failures) == 1 else f"all {len(failures)} vessels failed:"
        return E.AllVesselsFailed(summary, failures, attempts)

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

    def stream_sync(self, messages: str | Sequence[Message], **kwargs: Any) -> AbstractContextManager[Iterator[Chunk]]:
        """``with orch.stream_sync(...) as chunks: for chunk in chunks: ...`` from plain code.

        A kernel interrupt lands in the loop; leaving the block cancels the call (the attempt
        is logged 'cancelled' and the connection closed) and waits until it has stopped.
        """
        gen = self._core(messages, **kwargs)
        return bg.iterate_sync(lambda: gen)

    async def aask(self, messages: str | Sequence[Message], **kwargs: Any) -> Reply:
        """Ask and wait for the whole reply (async)."""
        gen = self._core(messages, **kwargs)
        if bg.on_loop_thread():
            return await _collect(gen)
        return await asyncio.wrap_future(bg.submit(_collect(gen)))

    def ask(self, messages: str | Sequence[Message], **kwargs: Any) -> Reply:
        """Ask and wait for the whole reply. Works in scripts and inside a running Jupyter kernel."""
        gen = self._core(messages, **kwargs)
        return bg.run_sync(_collect(gen))

    def submit(
        self, messages: str | Sequence[Message], on_chunk: Callable[[Chunk], Any] | None = None, **kwargs: Any
    ) -> CallHandle:
        """Start a call in the background; ``on_chunk`` is called on the loop thread per chunk."""
        return CallHandle(self._core(messages, **kwargs), on_chunk)

    def close(self) -> None:
        """Close pooled connections and the log file."""

        async def _close() -> None:
            for adapter in self.vessels.values():
                await adapter.aclose()

        if not bg.on_loop_thread():
            bg.run_sync(_close(), timeout=10)
        self.log.close()


async def _collect(gen: AsyncIterator[Chunk], on_chunk: Callable[[Chunk], Any] | None = None) -> Reply:
    async with aclosing(gen) as chunks:
        async for chunk in chunks:
            if on_chunk is not None:
                on_chunk(chunk)
            if chunk.done and chunk.reply is not None:
                return chunk.reply
    raise E.VesselNBError("the stream ended without a reply")  # not reachable by design

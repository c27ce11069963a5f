"""One call, vessel after vessel: skip those known to be down, stream from the first that
answers, fall back while no token has arrived, and log every attempt.

The shape follows pydantic-ai's early ``FallbackModel``: :func:`attempt_in_turn` loops over
the candidates, falls back only while a stream is opening, collects the errors and raises
them together when all fail; :func:`_try_vessel` tries one vessel — its one host, or the
hosts of a pool in turn (:mod:`.adapters.hosts`) — and keeps its health state;
:func:`_one_attempt` owns one attempt on one host — its :class:`Attempt` record, its timing,
its usage and its log row. Everything they work on (vessels, their
health states, the log) is passed in; nothing reaches into the orchestrator.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import errors as E
from . import privacy
from .adapters import translate
from .health import VesselState
from .routing import Candidate, Task, plan
from .types import Attempt, CallOptions, Chunk, Message, Reply, Usage

if TYPE_CHECKING:
    from .adapters.base import BaseAdapter
    from .calllog import CallLog
    from .pricing import PriceTable


@dataclass(frozen=True)
class Call:
    """One call as the orchestrator checked it: everything but the vessels it may go to."""

    messages: list[Message]
    """the conversation, normalized"""
    options: CallOptions
    """passed unchanged to each adapter"""
    task: Task
    """what the call needs (private, vision, ...)"""
    explicit: str | None = None
    """the vessel chosen with vessel= or the session's active vessel: no fallback then"""
    on_interrupt: str = "raise"
    """after text arrived: 'raise' the partial text, or 'restart' on the next vessel"""
    compare_id: str = ""
    """shared by the calls of one side-by-side comparison"""
    run_id: str = ""
    """the prompt-set run this call belongs to, and which of its pairs it is (``orch.map``)"""
    run_item: str = ""
    prices: PriceTable | None = None
    """the price table that gives each answered attempt its ``cost_usd``"""
    call_id: str = field(default_factory=lambda: os.urandom(6).hex())
    """id shared by every attempt of this call"""

    @property
    def prompt(self) -> str:
        """The last user message (for the log)."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text


def _utc_now() -> str:
    """Now as ISO-8601 UTC with milliseconds, e.g. ``2025-10-26T17:21:21.196Z``."""
    global _second
    now = time.time()
    whole = int(now)
    second = _second  # one read: another thread may replace it meanwhile
    if second[0] != whole:  # strftime once per second, not once per attempt (~5 us each)
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int(now * 1000) % 1000:03d}Z"


async def attempt_in_turn(
    call: Call,
    vessels: Mapping[str, BaseAdapter],
    priority: Sequence[str],
    states: Mapping[str, VesselState],
    log: CallLog,
) -> AsyncIterator[Chunk]:
    """Try the planned vessels in turn; yield chunks; fall back only before the first token."""
    started = asyncio.get_running_loop().time()
    candidates = await plan(
        vessels, list(priority), explicit=call.explicit, task=call.task, has_images=bool(call.options.images)
    )
    attempts: list[Attempt] = []
    failures: dict[str, E.VesselError] = {}
    for index, cand in enumerate(candidates):
        last = index == len(candidates) - 1
        # A cooling vessel is skipped only for a later one that will really be tried: when
        # every remaining candidate is cooling (or has no key), it is tried anyway rather than
        # the call failing without trying anything (e.g. the only local vessel of a private
        # call, cooled after a dropped connection, is back up).
        spare = any(_ready(c, vessels[c.name], states[c.name]) for c in candidates[index + 1 :])
        try:
            attempt = _try_vessel(call, cand, vessels[cand.name], states[cand.name], log, attempts, started, spare)
            async with aclosing(attempt) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        except E.VesselError as err:
            failure = err
        failures[cand.name] = failure
        tried = attempts[-1]
        if cand.explicit:
            break
        if not failure.before_first_token:
            if call.on_interrupt != "restart" or last:
                raise E.StreamInterrupted(failure, tried.response or "", attempts)
            detail = f"{failure} — restarting on the next vessel; discard the partial text"
            yield Chunk(event="restart", vessel=cand.name, model=tried.model, detail=detail)
        elif not last:
            yield Chunk(event="fallback", vessel=cand.name, model=tried.model, detail=str(failure))
    raise all_failed(call.task, call.explicit, failures, attempts)


async def _try_vessel(
    call: Call,
    cand: Candidate,
    adapter: BaseAdapter,
    state: VesselState,
    log: CallLog,
    attempts: list[Attempt],
    call_started: float,
    spare: bool,
) -> AsyncIterator[Chunk]:
    """Try one vessel — its one host, or the hosts of its pool in turn — and tell the
    vessel's health state how it went. ``spare``: a later vessel of the call is ready.

    A pool moves to its next host only before the first token; a host cooling down is
    skipped while a later host or vessel is ready (the vessels' own rule, one level down).
    Raises the last host's VesselError when none answered.
    """
    if (skip := _skip_reason(cand, adapter, state, skip_cooling=spare)) is not None:
        _skipped(call, cand, adapter, log, attempts, skip)
        raise skip
    views = adapter.host_views()
    pool = adapter._hostpool
    failure: E.VesselError | None = None
    for i, view in enumerate(views):
        host = view.base_url
        if pool is not None and not cand.explicit and pool.cooling_for(host) > 0:
            if spare or any(pool.cooling_for(v.base_url) <= 0 for v in views[i + 1 :]):
                cooled = pool.states[host]
                _skipped(
                    call,
                    cand,
                    view,
                    log,
                    attempts,
                    E.VesselUnavailable(
                        f"host {view.host_label} skipped, cooling down for {cooled.cooling_for():.0f}s more "
                        f"after: {cooled.last_error}",
                        vessel=cand.name,
                    ),
                    host=view.host_label,
                )
                continue
        try:
            async with aclosing(_one_attempt(call, cand, view, log, attempts, call_started)) as chunks:
                async for chunk in chunks:
                    if chunk.done:  # recorded before it is handed on: a caller may stop reading here
                        if pool is not None:
                            pool.record_ok(host, attempts[-1].ttft_s)
                        state.record_ok(attempts[-1].ttft_s)
                    yield chunk
        except E.VesselError as err:
            failure = err
            if pool is not None:
                pool.record_failure(host, err)
            later = views[i + 1 :]
            tried_next = cand.explicit or not spare or any(pool.cooling_for(v.base_url) <= 0 for v in later)
            if err.before_first_token and later and tried_next:
                detail = f"host {view.host_label}: {err.reason}"
                yield Chunk(
                    event="fallback", vessel=cand.name, model=attempts[-1].model, detail=detail, host=view.host_label
                )
                continue
            break
        return
    if failure is None:  # every host skipped: another call cooled the last ready one meanwhile
        failure = E.VesselUnavailable("every host of the pool is cooling down", vessel=cand.name)
    state.record_failure(failure, local=adapter.local)
    raise failure


def _skipped(
    call: Call,
    cand: Candidate,
    adapter: BaseAdapter,
    log: CallLog,
    attempts: list[Attempt],
    skip: E.VesselError,
    *,
    host: str = "",
) -> None:
    """Log a vessel (or a pool's host) that is not tried at all: no key, or cooling down."""
    att = _new_attempt(call, cand, adapter, attempts, host=host)
    att.outcome, att.error, att.error_kind, att.latency_s = "unhealthy", skip.reason, skip.kind, 0.0
    log.append(att)


def _new_attempt(call: Call, cand: Candidate, adapter: BaseAdapter, attempts: list[Attempt], host: str) -> Attempt:
    att = Attempt(
        call_id=call.call_id,
        attempt=len(attempts) + 1,
        vessel=cand.name,
        model=call.options.model or adapter.model,
        model_requested=call.options.model or adapter.model,
        fallback_from=attempts[-1].vessel if attempts else "",
        reason=cand.reason,
        private=call.task.local_only,
        local=adapter.local,
        host=host,
        started_at=_utc_now(),
        compare_id=call.compare_id,
        run_id=call.run_id,
        run_item=call.run_item,
        prompt=call.prompt,
    )
    attempts.append(att)
    return att


async def _one_attempt(
    call: Call,
    cand: Candidate,
    adapter: BaseAdapter,
    log: CallLog,
    attempts: list[Attempt],
    call_started: float,
) -> AsyncIterator[Chunk]:
    """Try one host of one vessel: yield its text chunks, then the ``done`` chunk with the Reply.

    Appends its :class:`Attempt` to ``attempts`` and to the log. On failure raises the
    VesselError, its ``before_first_token`` saying whether the call may still fall back.
    """
    loop = asyncio.get_running_loop()
    att = _new_attempt(call, cand, adapter, attempts, host=adapter.host_label)
    sent, withheld = privacy.outgoing(call.messages, adapter, local_only=call.task.local_only)
    if withheld:
        yield Chunk(
            event="withheld", vessel=cand.name, model=att.model, detail=privacy.withheld_note(withheld, cand.name)
        )
    start = loop.time()
    parts: list[str] = []
    thinking: list[str] = []
    usage = Usage()
    stop_reason = None
    try:
        async with aclosing(adapter.stream_call(sent, call.options)) as deltas:
            async for d in deltas:
                if d.usage:
                    usage = usage.merge(d.usage)
                if d.model:  # what the provider says it served (e.g. a dated snapshot)
                    att.model = d.model
                stop_reason = d.stop_reason or stop_reason
                if d.thinking and att.first_thinking_s is None:
                    att.first_thinking_s = loop.time() - start
                if d.text and att.ttft_s is None:  # reasoning is not the answer: ttft waits for text
                    att.ttft_s = loop.time() - start
                if d.text or d.thinking:
                    parts.append(d.text)
                    thinking.append(d.thinking)
                    yield Chunk(content=d.text, thinking=d.thinking, vessel=cand.name, model=att.model)
        if not "".join(parts).strip():
            empty = "the vessel sent only reasoning, no answer" if any(thinking) else "the vessel sent an empty answer"
            raise translate.stream_error(adapter, empty)
    except (asyncio.CancelledError, GeneratorExit):
        att.outcome, att.latency_s, att.response = "cancelled", loop.time() - start, "".join(parts)
        att.error, att.error_kind = "stopped by the caller", "cancelled"
        log.append(att)
        raise
    except E.VesselError as err:
        failure = err
    except E.ConfigError:
        raise
    except Exception as exc:  # a bug or an unexpected library error: still fall back
        failure = E.VesselError(f"unexpected {type(exc).__name__}: {adapter.redact(str(exc))}", vessel=cand.name)
    else:
        att.outcome, att.latency_s = "ok", loop.time() - start
        att.tokens_in, att.tokens_out, att.response = usage.tokens_in, usage.tokens_out, "".join(parts)
        att.tokens_reasoning, att.tokens_cached = usage.tokens_reasoning, usage.tokens_cached
        if call.prices is not None:
            att.cost_usd = call.prices.cost(att.model, usage, local=adapter.local)
        log.append(att)
        reply = Reply(
            text="".join(parts),
            vessel=cand.name,
            model=att.model,
            model_requested=att.model_requested,
            call_id=call.call_id,
            thinking="".join(thinking),
            reason=cand.reason,
            ttft_s=att.ttft_s,
            first_thinking_s=att.first_thinking_s,
            latency_s=loop.time() - call_started,
            usage=usage,
            stop_reason=stop_reason,
            local=adapter.local,
            attempts=list(attempts),
            withheld=withheld,
        )
        yield Chunk(done=True, vessel=cand.name, model=att.model, reply=reply)
        return

    # Only answer text counts: a vessel that streamed reasoning and then failed has shown no
    # answer, so the call may still fall back (the consumer clears the reasoning it showed).
    got_text = att.ttft_s is not None
    failure.vessel = failure.vessel or cand.name
    failure.before_first_token = not got_text
    if not got_text and any(thinking):
        failure.message += " (after reasoning only, no answer: the reasoning shown was discarded)"
    att.latency_s, att.error, att.error_kind = loop.time() - start, failure.reason, failure.kind
    att.response = "".join(parts) if got_text else None
    att.outcome = "interrupted" if got_text else "error"
    log.append(att)
    # What led to the failure (a JSON error holding the server's whole line, an httpx error
    # with its URL) may quote a key the server echoed; the message already says what happened.
    failure.__context__ = failure.__cause__ = None
    raise failure


def _ready(cand: Candidate, adapter: BaseAdapter, state: VesselState) -> bool:
    """True when this candidate would be tried now (it has its key and is not cooling down;
    a pool: nor is every one of its hosts)."""
    if adapter.missing_key() is not None:
        return False
    pool = adapter._hostpool
    hosts_ready = pool is None or any(pool.cooling_for(h) <= 0 for h in pool.hosts)
    return bool(cand.explicit) or (state.cooling_for() <= 0 and hosts_ready)


def _skip_reason(
    cand: Candidate, adapter: BaseAdapter, state: VesselState, *, skip_cooling: bool = True
) -> E.VesselError | None:
    """Why this vessel is not tried at all (no key, or cooling down after a failure while a
    later candidate is ready), if so."""
    skip = adapter.missing_key()
    if skip is None and skip_cooling and not cand.explicit and state.cooling_for() > 0:
        skip = E.VesselUnavailable(
            f"skipped, cooling down for {state.cooling_for():.0f}s more after: {state.last_error}",
            vessel=cand.name,
        )
    pool = adapter._hostpool
    if skip is None and skip_cooling and not cand.explicit and pool is not None:
        cooling = [pool.cooling_for(h) for h in pool.hosts]
        if min(cooling) > 0:  # one row for a pool that is down, not one per host
            skip = E.VesselUnavailable(
                f"skipped: every host of the pool is cooling down (the first is tried again in "
                f"{min(cooling):.0f}s) after: {pool.states[pool.order(advance=False)[0]].last_error}",
                vessel=cand.name,
            )
    return skip


def all_failed(task: Task, explicit, failures, attempts) -> E.AllVesselsFailed:
    """The error for a call that no vessel answered, worded for the way it was routed."""
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

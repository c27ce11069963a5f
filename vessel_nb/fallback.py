"""One call, vessel after vessel: skip those known to be down, stream from the first that
answers, fall back while no token has arrived, and log every attempt.

The shape follows pydantic-ai's early ``FallbackModel``: loop over candidates, fall back
only while a stream is opening, collect the errors, raise them together when all fail.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING

from . import errors as E
from . import privacy, translate
from .routing import Task, plan
from .types import Attempt, Chunk, Reply, Usage

if TYPE_CHECKING:
    from .orchestrator import AIOrchestrator


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


async def attempt_in_turn(
    orch: AIOrchestrator, msgs, explicit, task: Task, options, compare_id, policy
) -> AsyncIterator[Chunk]:
    """Try the planned vessels in turn; yield chunks; fall back only before the first token."""
    loop = asyncio.get_running_loop()
    call_start = loop.time()
    call_id = uuid.uuid4().hex[:12]
    candidates = await plan(
        orch.vessels, orch.priority, explicit=explicit, task=task, has_images=bool(options["images"])
    )
    prompt = next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
    attempts: list[Attempt] = []
    failures: dict[str, E.VesselError] = {}
    previous = ""
    for index, cand in enumerate(candidates):
        adapter = orch.vessels[cand.name]
        state = orch._states[cand.name]
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
            orch.log.append(att)
            failures[cand.name], previous = skip, cand.name
            if not last:
                yield Chunk(event="fallback", vessel=cand.name, model=att.model, detail=str(skip))
            continue

        sent, withheld = privacy.outgoing(msgs, adapter, local_only=task.local_only)
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
            call_opts = {k: v for k, v in options.items() if k != "images"}
            async with aclosing(adapter.stream(sent, images=options["images"], **call_opts)) as deltas:
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
            orch.log.append(att)
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
            orch.log.append(att)
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
                withheld=withheld,
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
        orch.log.append(att)
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

    raise all_failed(task, explicit, failures, attempts)


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

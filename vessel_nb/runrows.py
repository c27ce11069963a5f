"""The rows of ``run.df``: one per prompt × vessel pair, built from how the pair ended.

A pair ends answered (now, or in an earlier session: the log holds its answer), failed,
refused (a private prompt sent nowhere), not asked (its vessel kept refusing), cancelled
(the run was stopped while its call was going: the log says "cancelled" too), or not run
(the run ended before it was sent). Each becomes one row with the same columns, so a table
of a run in progress reads the same as the finished one.
"""

from __future__ import annotations

from typing import Any

from . import errors as E
from . import pacing
from .runplan import Pair

COLUMNS = [
    "prompt_id", "prompt", "vessel", "model", "text", "outcome", "error", "error_kind", "withheld", "ttft_s", "latency_s",
    "tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached", "cost_usd", "call_id", "retries", "resumed",
]  # fmt: skip
"""the columns of ``run.df``: ``outcome`` is ok, error, refused (a private prompt that no local
vessel could take: it was sent nowhere), cancelled (sent, then stopped with the run: its log
row says cancelled), pending, or not run (stopped) / not run (budget) (never sent);
``withheld`` counts the private turns of a prompt's conversation left out of what a cloud
vessel was sent"""


def resumed(row: dict[str, Any]) -> dict[str, Any]:
    """The ``run.df`` row of a pair the log holds answered (from a log row with outcome ok)."""
    return {
        "prompt_id": row["run_item"].rsplit("@", 1)[0],
        "prompt": row.get("prompt"),
        "vessel": row["vessel"],
        "model": row["model"],
        "text": row.get("response"),
        "outcome": "ok",
        "error": "",
        "error_kind": "",
        "ttft_s": row.get("ttft_s"),
        "latency_s": row.get("latency_s"),
        **{k: row.get(k) for k in ("tokens_in", "tokens_out", "tokens_reasoning", "tokens_cached")},
        "cost_usd": row.get("cost_usd"),
        "call_id": row["call_id"],
        "retries": None,
        "resumed": True,
    }


def answered(pair: Pair, reply: Any, tries: int) -> dict[str, Any]:
    """The row of a pair answered in this run."""
    answering = reply.attempts[-1] if reply.attempts else None
    usage = reply.usage
    return {
        "prompt_id": pair.prompt_id,
        "prompt": pair.prompt,
        "vessel": reply.vessel,
        "model": reply.model,
        "text": reply.text,
        "outcome": "ok",
        "error": "",
        "error_kind": "",
        "withheld": reply.withheld,
        "ttft_s": reply.ttft_s,
        "latency_s": reply.latency_s,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "tokens_reasoning": getattr(usage, "tokens_reasoning", None),
        "tokens_cached": getattr(usage, "tokens_cached", None),
        "cost_usd": answering.cost_usd if answering else None,
        "call_id": reply.call_id,
        "retries": tries,
        "resumed": False,
    }


def failed(pair: Pair, err: BaseException, tries: int) -> dict[str, Any]:
    """The row of a pair whose call failed (or was refused: a private prompt sent nowhere)."""
    attempts = getattr(err, "attempts", []) or []
    last = attempts[-1] if attempts else None
    kind = getattr(err, "kind", "") or (last.error_kind if last else "")
    # a private pair on a cloud vessel, or with no local vessel up: the core sent it nowhere
    refused = isinstance(err, E.NoLocalVessel)
    return {
        **empty(pair, "refused" if refused else "error"),
        "vessel": last.vessel if last else pair.slot,
        "model": last.model if last else None,
        "error": str(err),
        "error_kind": "private" if refused else kind,
        "call_id": last.call_id if last else None,
        "retries": tries,
    }


def cancelled(pair: Pair, attempt: dict[str, Any], tries: int) -> dict[str, Any]:
    """The row of a pair stopped while its call was going, from the log's ``cancelled`` row
    (``text`` stays empty: what arrived before the stop is in the log's ``response``)."""
    return {
        **empty(pair, "cancelled"),
        **{k: attempt.get(k) for k in ("vessel", "model", "error", "error_kind", "ttft_s", "latency_s", "call_id")},
        "retries": tries,
    }


def not_asked(pair: Pair, gate: pacing.Gate, last_refusal: str) -> dict[str, Any]:
    """The row of a pair not asked because its vessel kept failing (see :class:`~.pacing.Gate`)."""
    return {
        **empty(pair, "error"),
        "error": f"not asked: {pair.slot} failed {gate.failing} times in a row without answering "
        f"anything (last: {last_refusal}); run the same map again later to ask the pairs left",
        "error_kind": "gave_up",
        "retries": 0,
    }


def empty(pair: Pair, outcome: str) -> dict[str, Any]:
    """A row with only the pair and its ``outcome`` filled in."""
    row = dict.fromkeys(COLUMNS)
    row.update(prompt_id=pair.prompt_id, prompt=pair.prompt, vessel=pair.slot, outcome=outcome, resumed=False)
    return row

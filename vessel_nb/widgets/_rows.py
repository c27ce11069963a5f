"""Replies, errors, health records and log rows as the plain dicts widget state holds.

Nothing here may carry a key: widget state is saved into the notebook file. Vessels are
described by name, provider, model, host:port and locality only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import errors as E
from ..types import Health, Reply


def error_text(exc: BaseException) -> str:
    """What went wrong, for a person: vessel_nb's own message, else the exception's type and text."""
    if isinstance(exc, E.VesselNBError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def reply_fields(reply: Reply) -> dict[str, Any]:
    """The numbers and names a badge shows, from a finished reply."""
    answering = reply.attempts[-1] if reply.attempts else None
    return {
        "vessel": reply.vessel,
        "model": reply.model,
        "reason": reply.reason,
        "local": reply.local,
        "ttft_s": _round(reply.ttft_s),
        "latency_s": _round(reply.latency_s),
        "stream_s": _round(answering.latency_s if answering else None),
        "tokens_in": reply.usage.tokens_in,
        "tokens_out": reply.usage.tokens_out,
        "tokens_per_s": _round(reply.tokens_per_s, 1),
        "stop_reason": reply.stop_reason or "",
        "call_id": reply.call_id,
        "trail": attempts_trail(reply.attempts),
    }


def outcome_fields(reply: Reply | None, exc: BaseException | None, *, stopped: str) -> dict[str, Any]:
    """How a finished call shows: done with the reply's figures, stopped (``stopped`` says so),
    or the error — keeping the text of an answer that broke off."""
    from ._job import is_cancel

    if reply is not None:
        return {**reply_fields(reply), "status": "done", "text": reply.text, "thinking": reply.thinking}
    if is_cancel(exc):
        return {"status": "stopped", "error": stopped}
    fields: dict[str, Any] = {"status": "error", "error": error_text(exc) if exc is not None else "failed"}
    if isinstance(exc, E.StreamInterrupted) and exc.partial_text:
        fields["text"] = exc.partial_text
    return fields


def attempts_trail(attempts: list[Any]) -> list[dict[str, str]]:
    """The attempts that did not answer, as {vessel, outcome, error} (the fallback trail)."""
    return [
        {"vessel": a.vessel, "outcome": a.outcome, "error": short(a.error, 160)} for a in attempts if a.outcome != "ok"
    ]


def short(text: str | None, limit: int = 200) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def vessel_rows(orch: Any) -> list[dict[str, Any]]:
    """Each vessel's public description for the views: never a key, never a URL's userinfo."""
    rows = []
    for d in orch.describe():
        vessel = orch.vessels.get(d.get("name"))
        if vessel is not None and vessel.is_pool:  # its base_url lists every host
            n, answered = len(vessel.hosts), vessel.answered_host
            where = f"{answered} (answered last; {n} hosts)" if answered else f"{n} hosts"
        else:
            parts = urlsplit(str(d.get("base_url") or ""))
            where = parts.hostname or ""
            if parts.port:
                where += f":{parts.port}"
        rows.append(
            {
                "name": str(d.get("name", "")),
                "provider": str(d.get("provider", "")),
                "model": str(d.get("model", "")),
                "local": bool(d.get("local")),
                "where": where,
            }
        )
    return rows


def health_rows(snapshot: dict[str, Health]) -> list[dict[str, Any]]:
    """Health records as plain dicts, in the orchestrator's priority order."""
    return [
        {
            "name": name,
            "state": h.state,
            "ok": h.ok,
            "latency_ms": None if h.latency_s is None else round(h.latency_s * 1000, 1),
            "detail": short(h.detail, 240),
            "cooling_for_s": h.cooling_for_s,
            "checked_at": h.checked_at,
        }
        for name, h in snapshot.items()
    ]


def log_row(row: dict[str, Any]) -> dict[str, Any]:
    """One call-log row, compact, for the panel's log view."""
    return {
        "call_id": row.get("call_id") or "",
        "attempt": row.get("attempt"),
        "time": (row.get("started_at") or "")[11:19],
        "vessel": row.get("vessel") or "",
        "model": row.get("model") or "",
        "outcome": row.get("outcome") or "",
        "error": short(row.get("error"), 160),
        "fallback_from": row.get("fallback_from") or "",
        "ttft_s": _round(row.get("ttft_s")),
        "latency_s": _round(row.get("latency_s")),
        "compare_id": row.get("compare_id") or "",
        "private": bool(row.get("private")),
    }

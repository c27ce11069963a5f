"""The one place where HTTP statuses, error bodies and transport failures become
:mod:`vessel_nb.errors` exceptions, with a message a person can act on.

Every provider's error body is read by the same function: Ollama's ``{"error": "text"}``,
OpenAI's and Gemini's ``{"error": {"message": ...}}`` (Gemini sometimes wraps it in a
one-element list), Anthropic's ``{"type": "error", "error": {...}}``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import TYPE_CHECKING, Any

import httpx

from . import errors as E

if TYPE_CHECKING:
    from .adapters.base import BaseAdapter


def error_message(body: bytes | str | Any) -> str:
    """The provider's own error text from a JSON error body (or the raw text, shortened)."""
    data = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            return " ".join(text.split())[:300]
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return err
        if isinstance(err, dict):
            msg = err.get("message") or err.get("type") or err.get("status") or ""
            return str(msg).strip()
    return str(data)[:300]


def _error_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def retry_after(headers: httpx.Headers | dict[str, str], body: bytes = b"") -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date) or
    Gemini's ``RetryInfo.retryDelay`` in the body."""
    h = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in h:
        try:
            return max(0.0, float(h["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in h:
        value = h["retry-after"].strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    for detail in _error_fields(body).get("details", []) or []:
        delay = isinstance(detail, dict) and detail.get("retryDelay")
        if isinstance(delay, str) and (m := re.fullmatch(r"([\d.]+)s", delay)):
            return float(m.group(1))
    return None


def from_status(adapter: BaseAdapter, status: int, headers: httpx.Headers, body: bytes) -> E.VesselError:
    """Translate a non-2xx response into the right exception."""
    name = adapter.name
    msg = adapter.redact(error_message(body)) or f"HTTP {status}"
    fields = _error_fields(body)
    wait = retry_after(headers, body)
    details = fields.get("details") or []
    key_invalid = any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details)
    kw: dict[str, Any] = {"vessel": name, "status": status, "retry_after": wait}
    if status in (401, 403) or key_invalid:
        env = adapter.key_env[0] if adapter.key_env else "the API key"
        return E.AuthError(f"{msg} (HTTP {status})", hint=f"check {env}", **kw)
    if status == 404:
        hint = adapter.model_not_found_hint()
        return E.ModelNotFound(f"model {adapter.model!r} not found: {msg}", hint=hint, **kw)
    if status == 429:
        hint = f"retry in {wait:.0f}s" if wait is not None else "wait a moment or use another vessel"
        return E.RateLimited(f"rate limited: {msg}", hint=hint, **kw)
    if status >= 500:
        label = "overloaded" if status in (503, 529) else "server error"
        return E.ServerError(f"{label} (HTTP {status}): {msg}", **kw)
    return E.BadRequest(f"request refused (HTTP {status}): {msg}", **kw)


def from_transport(adapter: BaseAdapter, exc: BaseException) -> E.VesselError:
    """Translate an httpx/OS failure to reach the vessel."""
    where = adapter.host_label
    if isinstance(exc, httpx.ConnectTimeout):
        return E.VesselTimeout(f"no connection to {where} within {adapter.timeouts.connect:g}s", vessel=adapter.name)
    if isinstance(exc, httpx.TimeoutException):
        return E.VesselTimeout(f"{where} timed out ({type(exc).__name__})", vessel=adapter.name)
    if isinstance(exc, httpx.ConnectError):
        text = " ".join(str(e).lower() for e in _chain(exc))
        if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)) or "refused" in text or "errno 111" in text:
            reason = "connection refused"
        elif "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            reason = "host name not found"
        else:
            reason = "could not connect"
        return E.VesselUnavailable(f"{reason} at {where}", vessel=adapter.name, hint=adapter.unreachable_hint())
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return E.StreamError(
            f"connection to {where} dropped ({adapter.redact(str(exc)) or type(exc).__name__})", vessel=adapter.name
        )
    return E.VesselError(f"{type(exc).__name__} talking to {where}: {adapter.redact(str(exc))}", vessel=adapter.name)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def stream_error(adapter: BaseAdapter, message: str, status: int | None = None) -> E.StreamError:
    """An error reported inside a 200 stream, or a broken stream."""
    return E.StreamError(adapter.redact(message), vessel=adapter.name, status=status)

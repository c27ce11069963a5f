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

from .. import errors as E
from .. import locality

if TYPE_CHECKING:
    from .base import BaseAdapter


def error_message(body: bytes | str | Any) -> str:
    """The provider's own error text from a JSON error body (or the raw text, shortened)."""
    data = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # nested too deeply to read counts as unreadable
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
    try:
        return str(data)[:300]
    except RecursionError:
        return "(an error body nested too deeply to show)"


def _error_fields(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
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
        if isinstance(delay, str) and (seconds := duration_seconds(delay)) is not None:
            return seconds
    return None


# A google.protobuf.Duration in JSON: seconds with up to 9 fractional digits and an "s"
# ("38s", "1.500s", "0.250s"; readers also take "0.25s" and ".5s"). A negative delay is no
# wait at all; anything else is not a Duration and is ignored, never a crash.
_DURATION = re.compile(r"(-)?(\d*)(?:\.(\d{0,9}))?s")


def duration_seconds(text: str) -> float | None:
    """Seconds in a protobuf Duration string (Gemini's ``retryDelay``), or None if it is not one."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or not (m.group(2) or m.group(3)):
        return None
    seconds = int(m.group(2) or 0) + int((m.group(3) or "0").ljust(9, "0")) / 1e9
    return 0.0 if m.group(1) else seconds


# What an error *code* or *type* stands for, as the HTTP status that carries it when the
# error comes before the stream. An error event inside a 200 stream is classified by the
# same table, so it gets the same class, and the same cooldown, as its HTTP twin.
_CODE_STATUS = {
    # Anthropic error types (https://docs.anthropic.com/en/api/errors)
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
    # OpenAI codes and types (error guide; Responses ``response.failed`` error codes)
    "invalid_api_key": 401,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "invalid_prompt": 400,
    # Gemini (google.rpc) status names
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# Codes that mean the account has no money or quota left: waiting a minute cannot help.
_BILLING_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
_DETAIL_CHARS = 200


def _fields_of(body: Any) -> dict[str, Any]:
    """The error object from a body (bytes, text or parsed JSON) in any provider's shape."""
    data = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return {}
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        return {}
    err = data.get("error")
    if isinstance(err, dict):
        return err
    # OpenAI Responses ``error`` events carry code/message at the top level.
    return data if ("code" in data or data.get("type") == "error") else {}


def _status_of(fields: dict[str, Any]) -> int | None:
    """The HTTP status an error object stands for: a numeric code, else its code, type or status name."""
    code = fields.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    if isinstance(code, str) and code.isdigit() and 400 <= int(code) <= 599:
        return int(code)
    for key in ("code", "type", "status"):
        value = fields.get(key)
        if isinstance(value, str) and value in _CODE_STATUS:
            return _CODE_STATUS[value]
    # OpenAI's request-shaped failures (invalid_image, invalid_prompt, ...) in response.failed
    if isinstance(code, str) and code.startswith(("invalid_", "unsupported_")):
        return 400
    return None


def provider_detail(fields: dict[str, Any]) -> str:
    """What the provider adds to explain an error, beyond its message: OpenRouter's
    ``metadata.raw`` (the upstream provider's own words), Gemini's ``details[].reason``."""
    parts: list[str] = []
    meta = fields.get("metadata")
    if isinstance(meta, dict):
        raw = meta.get("raw")
        if raw not in (None, ""):
            text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
            text = error_message(text) if text.lstrip().startswith(("{", "[")) else " ".join(text.split())
            who = meta.get("provider_name")
            parts.append(f"{who} says: {text}" if isinstance(who, str) and who else text)
    for detail in fields.get("details") or []:
        reason = isinstance(detail, dict) and detail.get("reason")
        if isinstance(reason, str) and reason and f"reason: {reason}" not in parts:
            parts.append(f"reason: {reason}")
    text = "; ".join(parts)
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _code_name(fields: dict[str, Any]) -> str:
    for key in ("code", "type", "status"):
        value = fields.get(key)
        if isinstance(value, str) and value and value != "error":
            return value
    return ""


def _classify(
    adapter: BaseAdapter, status: int, msg: str, fields: dict[str, Any], kw: dict[str, Any], *, in_stream: bool
) -> E.VesselError:
    """The exception for an error of HTTP class ``status`` (or an error event of that class)."""
    wait = kw.get("retry_after")
    where = "during the answer: " if in_stream else ""
    shown = f"HTTP {status}" if kw.get("status") is not None else (_code_name(fields) or f"class {status}")
    details = fields.get("details") or []
    key_invalid = any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details)
    codes = {fields.get("code"), fields.get("type")}
    if codes & _BILLING_CODES:
        env = adapter.key_env[0] if adapter.key_env else "the API key"
        return E.BillingError(
            f"{where}out of quota or credit ({shown}): {msg}",
            hint=f"check the plan and billing of the account behind {env}; this vessel is skipped for a while",
            **kw,
        )
    if status in (401, 403) or key_invalid:
        env = adapter.key_env[0] if adapter.key_env else "the API key"
        return E.AuthError(f"{where}{msg} ({shown})", hint=f"check {env}", **kw)
    if status == 404:
        hint = adapter.model_not_found_hint()
        return E.ModelNotFound(f"{where}model {adapter.model!r} not found: {msg}", hint=hint, **kw)
    if status == 429:
        hint = f"retry in {wait:.0f}s" if wait is not None else "wait a moment or use another vessel"
        return E.RateLimited(f"{where}rate limited: {msg}", hint=hint, **kw)
    if status >= 500:
        label = "overloaded" if status in (503, 529) else "server error"
        return E.ServerError(f"{where}{label} ({shown}): {msg}", **kw)
    return E.BadRequest(f"{where}request refused ({shown}): {msg}", **kw)


def _message(adapter: BaseAdapter, body: Any, fields: dict[str, Any], fallback: str) -> str:
    msg = error_message(body) or fallback
    detail = provider_detail(fields)
    if detail and detail not in msg:
        msg = f"{msg} ({detail})"
    return adapter.redact(msg)


def _scrubbed(adapter: BaseAdapter, body: Any) -> Any:
    """The body with the key redacted, before any of it is read, joined or cut."""
    if isinstance(body, bytes):
        return adapter.redact(body.decode("utf-8", "replace")).encode("utf-8")
    if isinstance(body, str):
        return adapter.redact(body)
    try:
        return json.loads(adapter.redact(json.dumps(body, ensure_ascii=False)))
    except (TypeError, ValueError, RecursionError):
        return adapter.redact(str(body))


def from_status(adapter: BaseAdapter, status: int, headers: httpx.Headers, body: bytes) -> E.VesselError:
    """Translate a non-2xx response into the right exception."""
    body = _scrubbed(adapter, body)
    fields = _error_fields(body)
    msg = _message(adapter, body, fields, f"HTTP {status}")
    kw: dict[str, Any] = {"vessel": adapter.name, "status": status, "retry_after": retry_after(headers, body)}
    return _classify(adapter, status, msg, fields, kw, in_stream=False)


def from_event(adapter: BaseAdapter, body: Any) -> E.VesselError:
    """Translate an error reported inside a 200 stream (an error event or an in-band error
    object) into the class its HTTP twin would get: Anthropic's ``overloaded_error`` is the
    529 class, ``rate_limit_error`` rate limiting, an OpenAI-compatible ``{"error": {"code":
    400}}`` a refused request. An error that names no known code stays a StreamError."""
    body = _scrubbed(adapter, body)
    fields = _fields_of(body)
    status = _status_of(fields)
    msg = _message(adapter, body, fields, "error event")
    if status is None:
        return stream_error(adapter, f"error during the answer: {msg}")
    kw: dict[str, Any] = {"vessel": adapter.name, "status": None, "retry_after": None}
    return _classify(adapter, status, msg, fields, kw, in_stream=True)


def from_transport(adapter: BaseAdapter, exc: BaseException, *, connect: float | None = None) -> E.VesselError:
    """Translate an httpx/OS failure to reach the vessel (``connect``: the call's connect limit)."""
    where = adapter.host_label
    if isinstance(exc, httpx.ConnectTimeout):
        limit = connect if connect is not None else adapter.timeouts.connect
        return E.VesselTimeout(f"no connection to {where} within {limit:g}s", vessel=adapter.name)
    if isinstance(exc, httpx.TimeoutException):
        return E.VesselTimeout(f"{where} timed out ({type(exc).__name__})", vessel=adapter.name)
    if isinstance(exc, httpx.ConnectError):
        refused = next((e for e in _chain(exc) if isinstance(e, locality.NotLocalAddress)), None)
        if refused is not None:
            hint = "use a loopback address such as 127.0.0.1 in base_url (or declare local=True for a host you trust)"
            return E.VesselUnavailable(str(refused), vessel=adapter.name, hint=hint)
        text = " ".join(str(e).lower() for e in _chain(exc))
        if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)) or "refused" in text or "errno 111" in text:
            reason = "connection refused"
        elif "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            reason = "host name not found"
        else:
            reason = "could not connect"
        server = getattr(adapter, "practice_server", None)  # a stand-in of practice mode (vessel_nb.standins)
        if server is not None and not server.running:
            hint = (
                "this is a practice vessel, and practice mode was turned off (its server is stopped): "
                "%ask practice turns it on again; a panel made in practice mode keeps its practice "
                "vessels, so make the panel again to use the vessels as configured"
            )
            return E.VesselUnavailable(
                f"{reason} at {where} (a stopped practice server)", vessel=adapter.name, hint=hint
            )
        # redacted: a subclass's hint may quote its address, credentials and all
        hint = adapter.redact(adapter.unreachable_hint())
        return E.VesselUnavailable(f"{reason} at {where}", vessel=adapter.name, hint=hint)
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

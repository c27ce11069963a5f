"""The one translation module: an error event inside a 200 stream gets the class (and so the
cooldown) of the HTTP status it stands for; billing problems are not rate limits; the
provider's own explanation reaches the message, without the key."""

from __future__ import annotations

import json

import httpx
import pytest

from vessel_nb import AIOrchestrator, ClaudeAdapter, GeminiAdapter, OpenAIAdapter
from vessel_nb import errors as E
from vessel_nb.adapters import translate
from vessel_nb.adapters.translate import duration_seconds, retry_after
from vessel_nb.health import VesselState

KEY = "sk-test-SECRET-0123456789"


def _sse(*events: tuple[str | None, dict]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += f"data: {json.dumps(data)}\n\n".encode()
    return out


def _ask(adapter_cls, body: bytes, status: int = 200, headers: dict | None = None, **kw):
    def handler(request):
        return httpx.Response(status, headers={"content-type": "text/event-stream", **(headers or {})}, content=body)

    adapter = adapter_cls(api_key=KEY, transport=httpx.MockTransport(handler), **kw)
    orch = AIOrchestrator({"v": adapter}, log_path=False)
    with pytest.raises(E.AllVesselsFailed) as info:
        orch.ask("hello")
    return info.value.failures["v"], orch


ANTHROPIC_START = ("message_start", {"type": "message_start", "message": {"model": "claude-x", "usage": {}}})


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("overloaded_error", E.ServerError),
        ("rate_limit_error", E.RateLimited),
        ("api_error", E.ServerError),
        ("invalid_request_error", E.BadRequest),
        ("authentication_error", E.AuthError),
    ],
)
def test_anthropic_error_events_get_the_class_of_their_http_twin(kind, cls):
    body = _sse(ANTHROPIC_START, ("error", {"type": "error", "error": {"type": kind, "message": "Overloaded"}}))
    err, orch = _ask(ClaudeAdapter, body)
    assert type(err) is cls
    assert "during the answer" in err.message and "Overloaded" in err.message
    assert orch.log.rows[-1]["error_kind"] == cls.kind


def test_an_overloaded_event_cools_down_like_a_529_not_like_a_config_error():
    body = _sse(ANTHROPIC_START, ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}))
    err, _ = _ask(ClaudeAdapter, body)
    state = VesselState("v")
    state.record_failure(err, local=False)
    assert 0 < state.cooling_for() <= 5.0  # the backoff of a server error, not 60 s


def test_openai_compatible_in_band_400_is_a_refused_request_not_a_stream_error():
    body = b'data: {"error": {"code": 400, "message": "Provider returned error", "metadata": {}}}\n\n'
    err, _ = _ask(OpenAIAdapter, body, base_url="http://127.0.0.1:9/v1")
    assert type(err) is E.BadRequest
    assert "Provider returned error" in err.message


def test_an_error_event_without_a_known_code_stays_a_stream_error():
    body = b'data: {"error": {"message": "something odd", "type": null, "code": null}}\n\n'
    err, _ = _ask(OpenAIAdapter, body, base_url="http://127.0.0.1:9/v1")
    assert type(err) is E.StreamError and "something odd" in err.message


def test_insufficient_quota_is_a_billing_problem_with_a_long_cooldown():
    body = json.dumps(
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        }
    ).encode()
    err, _ = _ask(OpenAIAdapter, body, status=429, headers={"content-type": "application/json", "retry-after": "1"})
    assert type(err) is E.BillingError and err.kind == "billing" and err.status == 429
    assert "plan and billing" in err.reason
    state = VesselState("v")
    state.record_failure(err, local=False)
    assert state.cooling_for() > 600  # not the 1 s the Retry-After header offered
    rate = E.RateLimited("rate limited", retry_after=1.0)
    quick = VesselState("w")
    quick.record_failure(rate, local=False)
    assert quick.cooling_for() <= 1.0


def test_openrouter_upstream_detail_reaches_the_message_redacted():
    raw = json.dumps({"error": {"message": f"upstream refused key {KEY}: context too long"}})
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "Provider returned error",
                "metadata": {"raw": raw, "provider_name": "Acme"},
            }
        }
    ).encode()
    err, _ = _ask(OpenAIAdapter, body, status=400, headers={"content-type": "application/json"})
    assert type(err) is E.BadRequest
    assert "Acme says:" in err.message and "context too long" in err.message
    assert KEY not in str(err) and "***" in err.message


def test_openrouter_detail_inside_a_200_stream_too():
    body = b'data: {"error": {"code": 502, "message": "Provider returned error", "metadata": {"raw": "upstream timed out"}}}\n\n'
    err, _ = _ask(OpenAIAdapter, body, base_url="http://127.0.0.1:9/v1")
    assert type(err) is E.ServerError and "upstream timed out" in err.message


def test_gemini_details_reason_reaches_the_message():
    body = json.dumps(
        {
            "error": {
                "code": 403,
                "message": "Permission denied on resource project demo.",
                "status": "PERMISSION_DENIED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_SUSPENDED", "domain": "x"}
                ],
            }
        }
    ).encode()
    err, _ = _ask(GeminiAdapter, body, status=403, headers={"content-type": "application/json"})
    assert type(err) is E.AuthError and "reason: CONSUMER_SUSPENDED" in err.message


def test_gemini_mid_stream_status_names_are_classified():
    body = b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n'
    err, _ = _ask(GeminiAdapter, body)
    assert type(err) is E.ServerError and "overloaded" in err.message


def test_from_event_reads_every_shape():
    adapter = OpenAIAdapter(api_key=KEY)
    flat = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
    assert type(translate.from_event(adapter, flat)) is E.RateLimited
    nested = {"type": "error", "error": {"type": "server_error", "code": None, "message": "boom"}}
    assert type(translate.from_event(adapter, nested)) is E.ServerError
    assert type(translate.from_event(adapter, {"error": {"code": "404", "message": "gone"}})) is E.ModelNotFound
    assert type(translate.from_event(adapter, "not json at all")) is E.StreamError


def test_request_shaped_failure_codes_are_refused_requests():
    adapter = OpenAIAdapter(api_key=KEY)
    failed = {"error": {"code": "invalid_image", "message": "The image could not be read."}}
    assert type(translate.from_event(adapter, failed)) is E.BadRequest


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("38s", 38.0), ("0.250s", 0.25), ("1.5s", 1.5), (".5s", 0.5), ("3.000000001s", 3.000000001), ("-1.5s", 0.0)],
)
def test_a_retry_delay_is_read_as_a_protobuf_duration(text, seconds):
    assert duration_seconds(text) == pytest.approx(seconds, abs=1e-12)
    body = json.dumps({"error": {"code": 429, "details": [{"retryDelay": text}]}}).encode()
    assert retry_after({}, body) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text", ["..s", "1.2.3s", "s", "1.5", "1,5s", "1.0000000001s", "1.5 s", "12m"])
def test_a_retry_delay_that_is_not_a_duration_is_ignored(text):
    body = json.dumps({"error": {"code": 429, "details": [{"retryDelay": text}]}}).encode()
    assert duration_seconds(text) is None and retry_after({}, body) is None

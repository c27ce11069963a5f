"""A request built from a template is the request httpx itself would build: same method,
URL, headers in order, body bytes and extensions (adapters/prepared.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from vessel_nb.adapters import prepared

URL = "http://127.0.0.1:11434/api/chat"
BODIES = [
    {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    {"model": "m", "messages": [{"role": "user", "content": 'Grüße, 하늘이 🌈 "quoted" \\ \n\t'}], "stream": True},
    {"model": "m", "temperature": 0.7, "max_tokens": 12, "think": False, "options": {"seed": None, "stop": []}},
    {"contents": [{"parts": [{"text": "x" * 10_000}]}], "n": -1.5e-7},
]
HEADERS = [
    {"Accept": "application/x-ndjson"},
    {"Accept": "text/event-stream", "Authorization": "Bearer sk-test-0123"},
    {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"},
    {},
]


def _same(a: httpx.Request, b: httpx.Request) -> None:
    assert a.method == b.method
    assert str(a.url) == str(b.url)
    assert a.headers.raw == b.headers.raw  # names, values and order: the bytes on the wire
    assert a.content == b.content
    assert a.extensions == b.extensions


@pytest.mark.parametrize("headers", HEADERS)
def test_a_request_from_the_template_is_httpx_own(headers):
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(connect=5.0, read=None, write=20.0, pool=None)
    first = prepared.build(client, "POST", URL, BODIES[0], headers, timeout)
    _same(first, client.build_request("POST", URL, json=BODIES[0], headers=headers, timeout=timeout))
    # the template is kept on this httpx (else every request would still be built by httpx)
    assert isinstance(prepared._templates[client][("POST", URL, *headers.items())], prepared._Template)
    for body in BODIES:
        for t in (timeout, httpx.Timeout(1.0)):
            _same(
                prepared.build(client, "POST", URL, body, headers, t),
                client.build_request("POST", URL, json=body, headers=headers, timeout=t),
            )


def test_the_template_is_not_changed_by_the_requests_built_from_it():
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(5.0)
    prepared.build(client, "POST", URL, BODIES[0], HEADERS[0], timeout)
    short = prepared.build(client, "POST", URL, {"a": 1}, HEADERS[0], timeout)
    long = prepared.build(client, "POST", URL, BODIES[3], HEADERS[0], timeout)
    assert short.headers["Content-Length"] == str(len(short.content)) == "7"
    assert long.headers["Content-Length"] == str(len(long.content))
    short.headers["X-Changed"] = "1"
    assert "X-Changed" not in prepared.build(client, "POST", URL, {"a": 1}, HEADERS[0], timeout).headers


def test_cookies_the_client_holds_go_out_as_httpx_sends_them():
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(5.0)
    prepared.build(client, "POST", URL, BODIES[0], HEADERS[1], timeout)  # the template exists
    client.cookies.set("__cf_bm", "abc", domain="127.0.0.1")  # e.g. a server set one
    got = prepared.build(client, "POST", URL, BODIES[1], HEADERS[1], timeout)
    assert got.headers["Cookie"] == "__cf_bm=abc"
    _same(got, client.build_request("POST", URL, json=BODIES[1], headers=HEADERS[1], timeout=timeout))


def test_a_template_that_would_not_give_httpx_bytes_is_not_used(monkeypatch):
    # e.g. an httpx that encodes JSON with spaces (0.27 did): its own build_request is used
    monkeypatch.setattr(prepared, "_encode", json.JSONEncoder().encode)
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(5.0)
    for body in BODIES:
        _same(
            prepared.build(client, "POST", URL, body, HEADERS[0], timeout),
            client.build_request("POST", URL, json=body, headers=HEADERS[0], timeout=timeout),
        )
    assert prepared._templates[client][("POST", URL, *HEADERS[0].items())] is None


def test_bad_json_fails_as_httpx_fails():
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(5.0)
    prepared.build(client, "POST", URL, BODIES[0], HEADERS[0], timeout)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        prepared.build(client, "POST", URL, {"temperature": float("nan")}, HEADERS[0], timeout)


def test_templates_per_client_stay_few():
    client = httpx.AsyncClient()
    timeout = httpx.Timeout(5.0)
    for i in range(prepared._MAX_TEMPLATES * 2 + 1):
        prepared.build(client, "POST", URL, BODIES[0], {"X-Request": str(i)}, timeout)
    assert len(prepared._templates[client]) <= prepared._MAX_TEMPLATES

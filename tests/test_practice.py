"""The practice servers over real loopback sockets: wire bytes against the protocol
transcripts, every fault, lifecycle, instrumentation, fleet and CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from vessel_nb.practice import PracticeFleet, PracticeServer

from .transcripts import PROTOCOLS

ROUTES = ["ollama", "ollama_v1", "anthropic", "openai", "gemini"]
CLOUD = ["anthropic", "openai", "gemini"]
PROVIDER = {"ollama": "ollama", "ollama_v1": "ollama", "anthropic": "anthropic", "openai": "openai", "gemini": "gemini"}
SEP = {"ollama": b"\n", "gemini": b"\r\n\r\n"}  # others: b"\n\n"
# One client for the module: building one costs ~50 ms (certificate store), a request ~1 ms.
HTTP = httpx.Client(timeout=5, verify=False)


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture
def serve():
    """Start practice servers (pace 0 unless asked); all stopped at teardown."""
    started: list[PracticeServer] = []

    def start(provider: str, **kw) -> PracticeServer:
        kw.setdefault("pace", 0)
        srv = PracticeServer(PROVIDER.get(provider, provider), **kw).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def request(route: str, srv: PracticeServer, prompt: str = "Why is the sky blue?", *, stream: bool = True, **extra):
    """(method, url, headers, json) of a typical chat request on a route."""
    if route == "ollama":
        body = {"model": "llama3.2", "messages": [{"role": "user", "content": prompt}], "stream": stream}
        return "POST", srv.url + "/api/chat", {}, {**body, **extra}
    if route in ("ollama_v1", "openai"):
        body = {
            "model": "llama3.2" if route == "ollama_v1" else "gpt-practice",
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
            "stream_options": {"include_usage": True},
        }
        headers = {"Authorization": "Bearer practice-key"}
        return "POST", srv.url + "/v1/chat/completions", headers, {**body, **extra}
    if route == "anthropic":
        body = {
            "model": "claude-practice",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        }
        headers = {"x-api-key": "practice-key", "anthropic-version": "2023-06-01"}
        return "POST", srv.url + "/v1/messages", headers, {**body, **extra}
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], **extra}
    path = "/v1beta/models/gemini-practice:streamGenerateContent" + ("?alt=sse" if stream else "")
    return "POST", srv.url + path, {"x-goog-api-key": "practice-key"}, body


def post(route, srv, *, timeout=5.0, **kw) -> httpx.Response:
    method, url, headers, body = request(route, srv, **kw)
    return HTTP.request(method, url, headers=headers, json=body, timeout=timeout)


OVERHEAD = {"ollama": 1, "ollama_v1": 3, "anthropic": 6, "openai": 4, "gemini": 0}  # frames that carry no piece


def frames(route: str, body: bytes, partial: bool = False) -> list[bytes]:
    """Split a stream body into its events; ``partial`` drops an unfinished last event."""
    parts = body.split(SEP.get(route, b"\n\n"))
    return parts[:-1] if parts and (parts[-1] == b"" or partial) else parts


def decode(route: str, body: bytes, partial: bool = False) -> dict:
    """A tiny client: text, thinking, stop reason, output tokens, errors, completeness."""
    out = {"text": "", "thinking": "", "stop": None, "tokens_out": None, "errors": [], "bad": 0, "complete": False}
    for frame in frames(route, body, partial):
        text = frame.decode()
        if route != "ollama" and not text.startswith(("data: ", "event: ")):
            out["errors"].append(json.loads(text))  # Gemini's raw mid-stream error
            continue
        data = text.split("data: ", 1)[1] if route != "ollama" else text
        if data == "[DONE]":
            out["complete"] = True
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            out["bad"] += 1
            continue
        if "error" in obj:
            out["errors"].append(obj)
        elif route == "ollama":
            out["text"] += obj["message"]["content"]
            out["thinking"] += obj["message"].get("thinking", "")
            if obj["done"]:
                out.update(stop=obj["done_reason"], tokens_out=obj["eval_count"], complete=True)
        elif route in ("ollama_v1", "openai"):
            for choice in obj["choices"]:
                out["text"] += choice["delta"].get("content") or ""
                out["thinking"] += choice["delta"].get("reasoning") or ""
                out["stop"] = choice["finish_reason"] or out["stop"]
            if obj.get("usage"):
                out["tokens_out"] = obj["usage"]["completion_tokens"]
        elif route == "anthropic":
            delta = obj.get("delta", {})
            out["text"] += delta.get("text", "")
            out["thinking"] += delta.get("thinking", "")
            if obj["type"] == "message_delta":
                out.update(stop=delta["stop_reason"], tokens_out=obj["usage"]["output_tokens"])
            out["complete"] |= obj["type"] == "message_stop"
        else:
            cand = obj["candidates"][0]
            for part in cand["content"]["parts"]:
                out["thinking" if part.get("thought") else "text"] += part["text"]
            usage = obj["usageMetadata"]
            out["tokens_out"] = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
            if "finishReason" in cand:
                out.update(stop=cand["finishReason"], complete=True)
    return out


def transcript(name: str) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers lower-cased, body bytes) of a transcript's response."""
    raw = (PROTOCOLS / name).read_bytes()
    response = raw.split(b"=== RESPONSE ===\n", 1)[1]
    head, body = response.split(b"\n\n", 1)
    status, *lines = head.decode().split("\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')


def mask(frame: bytes) -> str:
    """A frame with its values blanked: key names, key order, punctuation and whitespace stay."""
    text = frame.decode()

    def blank(m: re.Match) -> str:
        is_key = m.group().startswith('"') and text[m.end() :].lstrip(" ").startswith(":")
        return m.group() if is_key else ("S" if m.group().startswith('"') else "N")

    return _TOKEN.sub(blank, text)


def shape(route: str, body: bytes) -> list[str]:
    """Masked frames, runs of identical ones collapsed (streams differ only in length)."""
    out: list[str] = []
    for frame in frames(route, body):
        m = mask(frame)
        if not out or out[-1] != m:
            out.append(m)
    return out


# -- ok streams against the transcripts ----------------------------------------------
OK_TRANSCRIPT = {
    "ollama": "ollama-ok-stream.txt",
    "ollama_v1": "ollama-openai-ok-stream.txt",
    "anthropic": "anthropic-ok-stream.txt",
    "openai": "openai-ok-stream-2025.txt",
    "gemini": "gemini-ok-stream.txt",
}


@pytest.mark.parametrize("route", ROUTES)
def test_ok_stream_matches_the_transcript_byte_for_byte_modulo_values(serve, route):
    srv = serve(route)
    r = post(route, srv)
    _, want_headers, want_body = transcript(OK_TRANSCRIPT[route])
    assert r.status_code == 200
    assert r.headers["content-type"] == want_headers["content-type"]
    assert r.headers["transfer-encoding"] == "chunked"
    assert shape(route, r.content) == shape(route, want_body)
    end = SEP.get(route, b"\n\n")
    assert r.content.endswith(end) and want_body.endswith(end)  # no stray bytes after the last event
    got = decode(route, r.content)
    assert got["complete"] and got["errors"] == []
    assert got["text"].startswith(f"This is the practice {PROVIDER[route]} vessel (not a real model).")
    assert "«Why is the sky blue?»" in got["text"]
    assert got["tokens_out"] == len(frames(route, r.content)) - OVERHEAD[route]


@pytest.mark.parametrize("route", ROUTES)
def test_every_event_is_flushed_as_its_own_chunk(serve, route):
    srv = serve(route, pace=0.01, reply="one two three four five six seven eight")
    method, url, headers, body = request(route, srv)
    with HTTP.stream(method, url, headers=headers, json=body, timeout=5) as r:
        chunks = [c for c in r.iter_raw() if c]
    pieces = len(frames(route, b"".join(chunks))) - OVERHEAD[route]
    assert len(chunks) >= pieces  # pace keeps pieces apart: one chunk each at least


@pytest.mark.parametrize("route", ROUTES)
def test_non_streamed_reply(serve, route):
    srv = serve(route)
    r = post(route, srv, stream=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    obj = r.json()
    text = {
        "ollama": lambda: obj["message"]["content"],
        "ollama_v1": lambda: obj["choices"][0]["message"]["content"],
        "openai": lambda: obj["choices"][0]["message"]["content"],
        "anthropic": lambda: obj["content"][-1]["text"],
        "gemini": lambda: obj[0]["candidates"][0]["content"]["parts"][-1]["text"],
    }[route]()
    assert text.startswith("This is the practice") and "«Why is the sky blue?»" in text


def test_reply_can_be_text_or_a_function(serve):
    srv = serve("ollama", reply="Fixed practice answer.")
    assert decode("ollama", post("ollama", srv).content)["text"] == "Fixed practice answer."
    seen = []
    srv = serve("anthropic", reply=lambda prompt, body: seen.append(body) or f"echo: {prompt}")
    assert decode("anthropic", post("anthropic", srv, prompt="hi there").content)["text"] == "echo: hi there"
    assert seen[0]["model"] == "claude-practice"


def test_long_prompts_are_quoted_to_80_characters(serve):
    srv = serve("openai")
    text = decode("openai", post("openai", srv, prompt="x" * 200).content)["text"]
    assert "«" + "x" * 80 + "…»" in text


# -- images, thinking, limits ----------------------------------------------------------
IMAGE = {
    "ollama": lambda body: body["messages"][-1].update(images=["aGk=", "aGk="]),
    "ollama_v1": lambda body: body["messages"][-1].update(
        content=[
            {"type": "text", "text": "Why?"},
            *[{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}] * 2,
        ]
    ),
    "openai": lambda body: body["messages"][-1].update(
        content=[
            {"type": "text", "text": "Why?"},
            *[{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}] * 2,
        ]
    ),
    "anthropic": lambda body: body["messages"][-1].update(
        content=[
            *[{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}}] * 2,
            {"type": "text", "text": "Why?"},
        ]
    ),
    "gemini": lambda body: body["contents"][-1]["parts"].extend(
        [{"inlineData": {"mimeType": "image/png", "data": "aGk="}}] * 2
    ),
}


@pytest.mark.parametrize("route", ROUTES)
def test_images_are_counted_not_seen(serve, route):
    srv = serve(route)
    method, url, headers, body = request(route, srv)
    IMAGE[route](body)
    text = decode(route, HTTP.request(method, url, headers=headers, json=body, timeout=5).content)["text"]
    assert "I received 2 images (practice: I can't actually see them)." in text


THINK = {
    "ollama": {"model": "qwen3", "think": True},
    "ollama_v1": {"model": "qwen3", "reasoning_effort": "high"},
    "anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    "openai": {"reasoning_effort": "high"},
    "gemini": {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}},
}


@pytest.mark.parametrize("route", ROUTES)
def test_thinking_comes_first_in_the_providers_own_form(serve, route):
    srv = serve(route)
    r = post(route, srv, **THINK[route])
    got = decode(route, r.content)
    assert got["complete"] and got["text"].startswith("This is the practice")
    if route == "openai":  # the real API hides reasoning; it only shows in usage
        assert got["thinking"] == ""
        usage = json.loads(frames(route, r.content)[-2][6:])["usage"]
        assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
        return
    assert got["thinking"].startswith("Practice reasoning (not a real model)")
    if route == "anthropic":
        events = [f.split(b"\n")[0] for f in frames(route, r.content)]
        assert b'"type":"thinking"' in frames(route, r.content)[1]
        assert b"signature_delta" in r.content and events.count(b"event: content_block_start") == 2
    if route == "gemini":
        assert b'"thought": true' in r.content and b'"thoughtsTokenCount": ' in r.content


def test_ollama_refuses_thinking_on_a_model_without_it(serve):
    srv = serve("ollama")
    r = post("ollama", srv, think=True)
    assert r.status_code == 400 and r.content == b'{"error":"\\"llama3.2\\" does not support thinking"}'


LIMIT = {
    "ollama": ({"options": {"num_predict": 3}}, "length"),
    "ollama_v1": ({"max_tokens": 3}, "length"),
    "anthropic": ({"max_tokens": 3}, "max_tokens"),
    "openai": ({"max_completion_tokens": 3}, "length"),
    "gemini": ({"generationConfig": {"maxOutputTokens": 3}}, "MAX_TOKENS"),
}


@pytest.mark.parametrize("route", ROUTES)
def test_output_limit_truncates_with_the_length_stop_reason(serve, route):
    srv = serve(route)
    extra, reason = LIMIT[route]
    got = decode(route, post(route, srv, **extra).content)
    assert got["text"] == "This is the" and got["stop"] == reason and got["tokens_out"] == 3


# -- models, keys, errors against transcripts -----------------------------------------
def test_ollama_endpoints(serve):
    srv = serve("ollama", models={"llama3.2": ["completion"], "llava": ["completion", "vision"]})
    _, want_headers, want_body = transcript("ollama-health.txt")
    for method in ("GET", "HEAD"):
        r = HTTP.request(method, srv.url + "/")
        assert r.headers["content-type"] == want_headers["content-type"] and r.headers["content-length"] == "17"
        assert r.content == (want_body if method == "GET" else b"")
    assert HTTP.head(srv.url + "/api/version").status_code == 200
    assert "version" in HTTP.get(srv.url + "/api/version").json()
    tags = HTTP.get(srv.url + "/api/tags").json()["models"]
    assert [m["name"] for m in tags] == ["llama3.2:latest", "llava:latest"]
    assert HTTP.post(srv.url + "/api/show", json={"model": "llava:latest"}).json()["capabilities"] == [
        "completion",
        "vision",
    ]
    assert HTTP.post(srv.url + "/api/show", json={"model": "llama3.2"}).json()["capabilities"] == ["completion"]
    missing = HTTP.post(srv.url + "/api/show", json={"model": "x"})
    assert missing.status_code == 404 and missing.content == b'{"error":"model \'x\' not found"}'
    assert HTTP.get(srv.url + "/api/ps").json() == {"models": []}
    post("ollama", srv)
    assert [m["name"] for m in HTTP.get(srv.url + "/api/ps").json()["models"]] == ["llama3.2:latest"]
    ids = [m["id"] for m in HTTP.get(srv.url + "/v1/models").json()["data"]]
    assert ids == ["llama3.2:latest", "llava:latest"]


NOT_FOUND = {
    "ollama": "ollama-model-not-found.txt",
    "ollama_v1": "ollama-openai-model-not-found.txt",
    "anthropic": "anthropic-model-not-found.txt",
    "openai": "openai-model-not-found.txt",
    "gemini": "gemini-model-not-found.txt",
}


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_model_gets_the_real_404(serve, route):
    srv = serve(route, models=["some-other-model"])
    r = post(route, srv)
    status, want_headers, want_body = transcript(NOT_FOUND[route])
    assert r.status_code == 404 and status.startswith("HTTP/1.1 404")
    assert r.headers["content-type"] == want_headers["content-type"]
    assert mask(r.content) == mask(want_body)
    if route == "ollama":
        assert r.content == want_body  # same model name, so the very same bytes


@pytest.mark.parametrize("route", ["ollama", "anthropic", "openai", "gemini"])
def test_model_probe_endpoints(serve, route):
    srv = serve(route, models=["m-1"] if route != "ollama" else {"m-1": ["completion"]})
    path = {
        "ollama": "/v1/models/{}",
        "anthropic": "/v1/models/{}",
        "openai": "/v1/models/{}",
        "gemini": "/v1beta/models/{}",
    }[route]
    _, _, headers, _ = request(route, srv)
    assert HTTP.get(srv.url + path.format("m-1"), headers=headers).status_code == 200
    assert HTTP.get(srv.url + path.format("nope"), headers=headers).status_code == 404
    listed = HTTP.get(srv.url + path.format("").rstrip("/"), headers=headers)
    assert listed.status_code == 200 and "m-1" in listed.text


def test_a_practice_openai_like_vllm_routes_only_the_model_list(serve):
    srv = serve("openai", like="vllm", models=["m-1"])
    _, _, headers, _ = request("openai", srv)
    one = HTTP.get(srv.url + "/v1/models/m-1", headers=headers)
    assert one.status_code == 404 and one.json() == {"detail": "Not Found"}  # FastAPI's, as vLLM answers
    listed = HTTP.get(srv.url + "/v1/models", headers=headers).json()
    assert [(m["id"], m["owned_by"], m["root"]) for m in listed["data"]] == [("m-1", "vllm", "m-1")]
    assert "like vllm" in repr(srv)


AUTH = {
    "anthropic": ({"x-api-key": "wrong", "anthropic-version": "2023-06-01"}, "anthropic-auth-401.txt", 401),
    "openai": ({"Authorization": "Bearer wrong"}, "openai-auth-401.txt", 401),
    "gemini": ({"x-goog-api-key": "wrong"}, "gemini-auth-400.txt", 400),
}


@pytest.mark.parametrize("route", CLOUD)
def test_wrong_key_gets_the_real_auth_error(serve, route):
    srv = serve(route, api_key="the-right-key")
    method, url, _, body = request(route, srv)
    headers, name, code = AUTH[route]
    r = HTTP.request(method, url, headers=headers, json=body)
    _, want_headers, want_body = transcript(name)
    assert r.status_code == code and r.headers["content-type"] == want_headers["content-type"]
    assert mask(r.content) == mask(want_body)
    if route == "gemini":
        assert r.content == want_body
    assert "wrong" not in r.text  # a key is never echoed
    good = {
        **headers,
        {"anthropic": "x-api-key", "openai": "Authorization", "gemini": "x-goog-api-key"}[route]: "the-right-key",
    }
    if route == "openai":
        good["Authorization"] = "Bearer the-right-key"
    assert HTTP.request(method, url, headers=good, json=body).status_code == 200


@pytest.mark.parametrize("route", CLOUD)
def test_missing_key_is_refused_on_chat_and_probe(serve, route):
    srv = serve(route)
    method, url, _, body = request(route, srv)
    assert HTTP.request(method, url, json=body).status_code == (403 if route == "gemini" else 401)
    probe = srv.url + ("/v1beta/models/gemini-practice" if route == "gemini" else "/v1/models")
    assert HTTP.get(probe).status_code in (401, 403)


def test_anthropic_requires_the_version_header(serve):
    srv = serve("anthropic")
    method, url, _, body = request("anthropic", srv)
    r = HTTP.request(method, url, headers={"x-api-key": "k"}, json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# -- faults ------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_down_refuses_connections_and_comes_back_on_the_same_port(serve, route):
    srv = serve(route)
    port = srv.port
    srv.set_fault("down")
    with pytest.raises(httpx.ConnectError):
        post(route, srv)
    with pytest.raises(httpx.ConnectError):
        HTTP.get(srv.url + "/")  # "down" applies to every endpoint
    srv.clear_fault()
    assert post(route, srv).status_code == 200 and srv.port == port
    srv.stop()
    with pytest.raises(httpx.ConnectError):
        post(route, srv)
    srv.restart()
    assert srv.port == port and post(route, srv).status_code == 200


def test_down_set_before_start_and_restart_while_down(serve):
    srv = PracticeServer("openai", pace=0)
    srv.set_fault("down")
    srv.start()
    try:
        with pytest.raises(httpx.ConnectError):
            post("openai", srv)
        srv.restart()
        with pytest.raises(httpx.ConnectError):
            post("openai", srv)
        srv.clear_fault()
        assert post("openai", srv).status_code == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("route", ROUTES)
def test_hang_headers_times_out_and_never_wedges_stop(serve, route):
    srv = serve(route)
    srv.set_fault("hang_headers")
    with pytest.raises(httpx.ReadTimeout):
        post(route, srv, timeout=httpx.Timeout(5, read=0.2))
    errors: list[BaseException] = []

    def hung_client():
        try:
            post(route, srv, timeout=10)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=hung_client)
    thread.start()
    srv.wait_for(lambda: len(srv.requests) == 2)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 1.0
    thread.join(5)
    assert not thread.is_alive() and isinstance(errors[0], (httpx.RemoteProtocolError, httpx.ReadError))


def test_clear_fault_releases_hung_requests(serve):
    srv = serve("ollama")
    srv.set_fault("hang_headers")
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(post("ollama", srv, timeout=10)))
    thread.start()
    srv.wait_for(lambda: srv.requests)
    srv.clear_fault()
    thread.join(5)
    assert result and decode("ollama", result[0].content)["complete"]


@pytest.mark.parametrize("route", ROUTES)
def test_hang_mid_stream_stops_after_n_pieces_until_cleared(serve, route):
    srv = serve(route)
    srv.set_fault("hang_mid_stream", after=2)
    method, url, headers, body = request(route, srv)
    received = b""
    with HTTP.stream(method, url, headers=headers, json=body, timeout=httpx.Timeout(5, read=0.2)) as r:
        with pytest.raises(httpx.ReadTimeout):
            for chunk in r.iter_raw():
                received += chunk
    assert decode(route, received)["text"] == "This is"
    srv.set_fault("hang_mid_stream", after=1)
    with HTTP.stream(method, url, headers=headers, json=body, timeout=5) as r:
        chunks = r.iter_raw()
        received = next(chunks)
        while decode(route, received, partial=True)["text"] != "This":
            received += next(chunks)
        srv.clear_fault()
        received += b"".join(chunks)
    assert decode(route, received)["complete"]


@pytest.mark.parametrize("route", ROUTES)
def test_slow_first_token(serve, route):
    srv = serve(route)
    srv.set_fault("slow_first_token", delay=0.3, times=1)
    method, url, headers, body = request(route, srv)
    t0 = time.monotonic()
    with HTTP.stream(method, url, headers=headers, json=body, timeout=5) as r:
        assert time.monotonic() - t0 < 0.25  # headers come at once
        received = b""
        for chunk in r.iter_raw():
            received += chunk
            if decode(route, received, partial=True)["text"]:
                break
        assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    post(route, srv)
    assert time.monotonic() - t0 < 0.25  # times=1: the next request is normal


def _status_shape(route: str, r: httpx.Response, code: int) -> None:
    body = r.json()
    if route == "ollama":
        assert list(body) == ["error"] and isinstance(body["error"], str)
        assert r.content == json.dumps(body, separators=(",", ":")).encode()  # compact, no newline
    elif route in ("ollama_v1", "openai"):
        assert list(body["error"]) == ["message", "type", "param", "code"]
        if route == "openai":
            assert r.text == json.dumps(body, indent=4) + "\n"
    elif route == "anthropic":
        assert list(body) == ["type", "error", "request_id"] and body["type"] == "error"
        assert body["request_id"] == r.headers["request-id"]
    else:
        assert body["error"]["code"] == code and r.text == json.dumps(body, indent=2) + "\n"


STATUS_TRANSCRIPTS = {
    ("ollama", 503): "ollama-error-before-stream.txt",
    ("anthropic", 529): "anthropic-error-before-stream.txt",
    ("anthropic", 429): "anthropic-error-before-stream-429.txt",
    ("openai", 429): "openai-error-before-stream.txt",
}


@pytest.mark.parametrize("code", [401, 403, 404, 429, 500, 503, 529])
@pytest.mark.parametrize("route", ROUTES)
def test_status_fault_sends_the_providers_error(serve, route, code):
    srv = serve(route)
    srv.set_fault("status", code=code, retry_after=7, times=1)
    r = post(route, srv)
    assert r.status_code == code and r.headers["content-type"].startswith("application/json")
    _status_shape(route, r, code)
    if route == "gemini" and code == 429:
        assert r.json()["error"]["details"][-1] == {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": "7s",
        }
        assert "retry-after" not in r.headers
    elif code == 429:
        assert r.headers["retry-after"] == "7"
    if (PROVIDER[route], code) in STATUS_TRANSCRIPTS and route != "ollama_v1":
        _, want_headers, want_body = transcript(STATUS_TRANSCRIPTS[PROVIDER[route], code])
        assert mask(r.content) == mask(want_body) and r.headers["content-type"] == want_headers["content-type"]
    assert post(route, srv).status_code == 200  # times=1


@pytest.mark.parametrize(
    ("seconds", "sent"), [(7, "7s"), (0.25, "0.250s"), (1.5, "1.500s"), (2.0001, "2.000100s"), (1e-9, "0.000000001s")]
)
def test_gemini_retry_delay_is_a_protobuf_duration(serve, seconds, sent):
    # Google writes a Duration with 0, 3, 6 or 9 fractional digits: a sub-second delay is not "0s"
    srv = serve("gemini")
    srv.set_fault("status", code=429, retry_after=seconds, times=1)
    r = post("gemini", srv)
    assert r.json()["error"]["details"][-1]["retryDelay"] == sent


def test_gemini_429_matches_its_transcript(serve):
    srv = serve("gemini")
    srv.set_fault("status", code=429)
    r = HTTP.post(
        srv.url + "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": "k"},
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )
    assert r.content == transcript("gemini-error-before-stream.txt")[2].replace(b"38.922534355s", b"38s")


MID_STREAM = {
    "ollama": "ollama-error-mid-stream.txt",
    "ollama_v1": "ollama-openai-error-mid-stream.txt",
    "anthropic": "anthropic-error-mid-stream.txt",
    "openai": "openai-error-mid-stream.txt",
    "gemini": "gemini-error-mid-stream.txt",
}


@pytest.mark.parametrize("route", ROUTES)
def test_error_mid_stream_uses_the_providers_form(serve, route):
    srv = serve(route)
    srv.set_fault("error_mid_stream", after=2)
    r = post(route, srv)
    assert r.status_code == 200
    _, _, want = transcript(MID_STREAM[route])
    tail = 2 if route == "openai" else 1  # the error event (and OpenAI's [DONE])
    assert shape(route, r.content)[-tail:] == shape(route, want)[-tail:]
    got = decode(route, r.content)
    assert got["text"] == "This is" and got["stop"] is None
    assert got["errors"] or route == "ollama_v1"  # Ollama /v1 swallows the error text
    if route == "gemini":
        assert not r.content.split(b"\r\n\r\n")[-1].startswith(b"data:")


@pytest.mark.parametrize("route", ROUTES)
def test_malformed_event_then_the_stream_goes_on(serve, route):
    srv = serve(route)
    srv.set_fault("malformed", after=1)
    got = decode(route, post(route, srv).content)
    assert got["bad"] == 1 and got["complete"] and got["text"].startswith("This is the practice")


@pytest.mark.parametrize("route", ROUTES)
def test_truncated_body_ends_without_the_terminator(serve, route):
    srv = serve(route)
    srv.set_fault("truncated", times=1)  # default: every piece, no terminator
    r = post(route, srv)
    got = decode(route, r.content)
    assert not got["complete"] and got["stop"] is None and got["errors"] == []
    assert got["text"] == decode(route, post(route, srv).content)["text"]
    srv.set_fault("truncated", after=3)
    assert decode(route, post(route, srv).content)["text"] == "This is the"


def test_set_fault_rejects_nonsense(serve):
    srv = serve("ollama")
    with pytest.raises(ValueError, match="unknown fault"):
        srv.set_fault("explode")
    with pytest.raises(ValueError, match="takes no"):
        srv.set_fault("down", after=2)
    with pytest.raises(ValueError, match="code="):
        srv.set_fault("status")
    with pytest.raises(ValueError, match="times"):
        srv.set_fault("down", times=2)
    with pytest.raises(ValueError, match="after="):
        srv.set_fault("truncated", after=-1)


def test_faults_table_defaults_and_phases():
    from vessel_nb.practice.faults import FAULT_KINDS, FAULTS, MID_STREAM, make_fault

    assert FAULT_KINDS == tuple(FAULTS) and set(MID_STREAM) == {k for k, s in FAULTS.items() if s.phase == "stream"}
    assert make_fault("error_mid_stream", None, {}).params == {"after": 1}  # default filled in
    assert make_fault("slow_first_token", 2, {"delay": 0.5}).params == {"delay": 0.5}
    assert make_fault("status", None, {"code": 429}).params == {"code": 429}  # no Retry-After unless asked
    assert make_fault("truncated", None, {}).params == {}  # after = every piece


# -- /api/generate, embeddings, pull, count tokens (beside the chat endpoints) -----------
def test_ollama_generate_stream_matches_the_docs_transcript(serve):
    srv = serve("ollama")
    srv.set_fault("error_mid_stream", after=4, times=1)
    r = HTTP.post(srv.url + "/api/generate", json={"model": "llama3.2", "prompt": "Can you answer?"})
    _, want_headers, want_body = transcript("ollama-error-mid-stream-generate.txt")
    assert r.status_code == 200 and r.headers["content-type"] == want_headers["content-type"]
    assert shape("ollama", r.content) == shape("ollama", want_body)
    ok = HTTP.post(srv.url + "/api/generate", json={"model": "qwen3", "prompt": "hi", "think": True}).content
    lines = [json.loads(line) for line in ok.splitlines()]
    assert list(lines[0]) == ["model", "created_at", "response", "thinking", "done"] and lines[0]["response"] == ""
    assert "".join(o["response"] for o in lines).startswith("This is the practice ollama vessel")
    assert list(lines[-1])[:7] == [
        "model",
        "created_at",
        "response",
        "done",
        "done_reason",
        "context",
        "total_duration",
    ]
    whole = HTTP.post(srv.url + "/api/generate", json={"model": "llama3.2", "prompt": "hi", "stream": False}).json()
    assert whole["done"] and whole["response"].startswith("This is the practice")
    load = HTTP.post(srv.url + "/api/generate", json={"model": "llama3.2"}).json()
    assert load["done_reason"] == "load" and load["response"] == ""
    missing = HTTP.post(srv.url + "/api/generate", json={"model": "nope", "prompt": "hi"})
    assert missing.status_code == 404 and missing.content == b'{"error":"model \'nope\' not found"}'


def test_ollama_pull_streams_progress_and_embeddings_are_deterministic(serve):
    srv = serve("ollama")
    lines = [json.loads(x) for x in HTTP.post(srv.url + "/api/pull", json={"model": "tiny"}).content.splitlines()]
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert "tiny:latest" in srv.models
    one = HTTP.post(srv.url + "/api/embed", json={"model": "tiny", "input": "hello"}).json()
    two = HTTP.post(srv.url + "/api/embed", json={"model": "tiny", "input": ["hello", "other"]}).json()
    assert one["embeddings"][0] == two["embeddings"][0] != two["embeddings"][1]
    assert abs(sum(v * v for v in one["embeddings"][0]) - 1) < 1e-4  # unit length
    assert HTTP.post(srv.url + "/api/embed", json={"model": "nope", "input": "x"}).status_code == 404


def test_anthropic_accepts_the_key_as_bearer_or_x_api_key(serve):
    srv = serve("anthropic", api_key="right")
    body = {"model": "claude-practice", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    version = {"anthropic-version": "2023-06-01"}
    for auth, status in [
        ({"x-api-key": "right"}, 200),
        ({"Authorization": "Bearer right"}, 200),
        ({"Authorization": "Bearer wrong"}, 401),
        ({}, 401),
    ]:
        assert HTTP.post(srv.url + "/v1/messages", headers={**version, **auth}, json=body).status_code == status
    count = HTTP.post(srv.url + "/v1/messages/count_tokens", headers={**version, "x-api-key": "right"}, json=body)
    assert count.json() == {"input_tokens": 1}


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_gemini_serves_both_api_versions(serve, version):
    srv = serve("gemini", models=["gemini-practice"])
    url, key = f"{srv.url}/{version}/models/gemini-practice", {"x-goog-api-key": "k"}
    body = {"contents": [{"parts": [{"text": "Why is the sky blue?"}]}]}
    assert HTTP.post(url + ":streamGenerateContent?alt=sse", headers=key, json=body).status_code == 200
    assert HTTP.post(url + ":countTokens", headers=key, json=body).json()["totalTokens"] == 5
    vec = HTTP.post(url + ":embedContent", headers=key, json={"content": body["contents"][0]}).json()
    assert len(vec["embedding"]["values"]) == 16
    missing = HTTP.post(f"{srv.url}/{version}/models/nope:countTokens", headers=key, json=body).json()
    assert f"for API version {version}, or is not supported for countTokens" in missing["error"]["message"]


def test_ollama_modules_import_no_cycle():
    import ast

    folder = Path(__file__).parent.parent / "vessel_nb" / "practice"
    graph = {}
    for path in folder.glob("ollama*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {
            node.module or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1
            for alias in node.names
        } & {p.stem for p in folder.glob("ollama*.py")}
    assert graph["ollama_base"] == set() and "ollama" not in set().union(*graph.values())

    def reaches(a: str, b: str, seen: frozenset = frozenset()) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in graph[a])

    assert not any(reaches(m, m) for m in graph)


# -- instrumentation -------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_disconnects_are_counted(serve, route):
    srv = serve(route, pace=0.05)
    method, url, headers, body = request(route, srv)
    with HTTP.stream(method, url, headers=headers, json=body, timeout=5) as r:
        next(r.iter_raw())
    srv.wait_for(lambda: srv.disconnects == 1)
    srv.pace = 0
    post(route, srv)  # a finished stream is not a disconnect
    assert srv.disconnects == 1


def test_requests_are_recorded_without_keys_in_repr(serve):
    srv = serve("gemini")
    post("gemini", srv)
    rec = srv.requests[-1]
    assert (rec.method, rec.path, rec.query) == (
        "POST",
        "/v1beta/models/gemini-practice:streamGenerateContent",
        "alt=sse",
    )
    assert rec.headers["x-goog-api-key"] == "practice-key" and rec.json["contents"][0]["parts"][0]["text"]
    assert json.loads(rec.body) == rec.json and "practice-key" not in repr(rec)


def test_wait_for_times_out():
    srv = PracticeServer("ollama")
    with pytest.raises(TimeoutError):
        srv.wait_for(lambda: False, timeout=0.05)
    assert srv.wait_for(lambda: 42) == 42


# -- fleet and CLI -----------------------------------------------------------------------
def test_fleet_env_and_orchestrator():
    with PracticeFleet(pace=0) as fleet:
        env = fleet.env()
        assert env["OPENAI_BASE_URL"] == fleet["openai"].url + "/v1" and env["OLLAMA_HOST"] == fleet["ollama"].url
        assert env["ANTHROPIC_API_KEY"] == "practice-key-anthropic" and fleet["claude"] is fleet["anthropic"]
        orch = fleet.orchestrator(log_path=False)
        try:
            assert orch.priority == ["ollama", "claude", "openai", "gemini"]
            assert orch.ask("Why?").vessel == "ollama"
            fleet["ollama"].set_fault("down")
            reply = orch.ask("Why?")
            assert reply.vessel == "claude" and "practice claude" in reply.text
        finally:
            orch.close()
    with pytest.raises(httpx.ConnectError):
        HTTP.get(fleet["ollama"].url)


def test_import_vessel_nb_does_not_import_tornado():
    code = "import sys, vessel_nb; assert 'tornado' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_cli_prints_the_banner_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vessel_nb.practice", "--providers", "ollama", "gemini", "--pace", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("export GEMINI_API_KEY"):
                break
        banner = "".join(lines)
        assert "PRACTICE servers" in banner and "NOT real models" in banner
        host = re.search(r"export OLLAMA_HOST=(\S+)", banner).group(1)
        assert HTTP.get(host).text == "Ollama is running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0 and "stopped" in proc.stdout.read()
    finally:
        proc.kill()
        proc.stdout.close()


def teardown_module() -> None:
    HTTP.close()

"""OpenAI-compatible servers that are not OpenAI: vLLM (and llama.cpp's server) route only
``GET /v1/models``, not ``/v1/models/{id}``, so the health probe asks the list when the
one-model route answers 404 — against a practice OpenAI that behaves like vLLM
(``PracticeServer("openai", like="vllm")``) on loopback."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

import vessel_nb as vnb
from vessel_nb import errors as E
from vessel_nb.practice import PracticeServer
from vessel_nb.practice.fleet import practice_key

from .conftest import PATIENT

SERVED = "Qwen/Qwen2.5-7B-Instruct"  # vLLM serves a model under its Hugging Face name, slash and all


@pytest.fixture(scope="module")
def vllm():
    """A practice OpenAI with vLLM's routes, serving one model."""
    srv = PracticeServer("openai", pace=0.0, like="vllm", models=[SERVED], vessel="vllm").start()
    yield srv
    srv.stop()


@pytest.fixture
def host(vllm):
    vllm.clear_fault()
    vllm.requests.clear()
    yield vllm
    vllm.clear_fault()


def adapter(base_url, model: str = SERVED, **kw) -> vnb.OpenAIAdapter:
    return vnb.OpenAIAdapter(model, base_url=base_url, api_key=practice_key("openai"), local=True, **kw)


def probe(a: vnb.OpenAIAdapter, timeout: float = 3.0):
    """The adapter's health, its connections closed in the same event loop."""

    async def asked():
        try:
            return await a.health(timeout)
        finally:
            await a.aclose()

    return asyncio.run(asked())


def paths(srv) -> list[str]:
    return [r.path for r in srv.requests]


def test_a_vllm_like_host_is_healthy_by_its_model_list(host):
    h = probe(adapter(host.base_url))
    assert h.ok, h.detail
    assert h.detail == f"{SERVED} found in the list of GET /v1/models"
    assert paths(host) == [f"/v1/models/{SERVED}", "/v1/models"]  # the list once, after the 404


def test_a_model_the_host_does_not_list_is_down_with_what_it_serves(host):
    h = probe(adapter(host.base_url, "llama-3-70b"))
    assert not h.ok
    assert h.detail.startswith(f"model 'llama-3-70b' is not served at {host.host}:{host.port}: ")
    assert f"GET /v1/models lists '{SERVED}'" in h.detail
    assert "name the model as the server lists it" in h.detail


def test_a_long_model_list_is_shortened(serve_many):
    srv = serve_many([f"model-{i}" for i in range(40)])
    h = probe(adapter(srv.base_url, "other"))
    assert not h.ok
    assert "'model-0', 'model-1', 'model-2', 'model-3', 'model-4' and 35 more" in h.detail
    assert "model-5'" not in h.detail


@pytest.fixture
def serve_many():
    started = []

    def start(models):
        srv = PracticeServer("openai", pace=0.0, like="vllm", models=models).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def test_an_address_without_the_api_says_what_was_asked_and_answered(host):
    # the commonest slip: base_url without /v1
    h = probe(adapter(host.url))
    assert not h.ok
    assert h.detail.startswith(
        f'{host.host}:{host.port} answered 404 to GET /models/{SERVED} and to GET /models (\'{{"detail":"Not Found"}}\')'
    )
    assert "ending in /v1" in h.detail


def test_the_list_answering_with_something_else_is_down_and_quoted():
    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, text="<html>login</html>")
        return httpx.Response(404, json={"detail": "Not Found"})

    a = adapter("http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler))
    h = probe(a)
    assert not h.ok
    assert "GET /v1/models at 127.0.0.1:9 answered 200 without a model list: '<html>login</html>'" in h.detail


def test_the_wrong_key_on_the_list_is_an_auth_error():
    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(401, json={"error": {"message": "Unauthorized", "type": "invalid_request_error"}})
        return httpx.Response(404, json={"detail": "Not Found"})

    a = adapter("http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler))
    h = probe(a)
    assert not h.ok and "Unauthorized (HTTP 401)" in h.detail and "OPENAI_API_KEY" in h.detail


def test_the_second_question_shares_the_probe_time_limit():
    async def handler(request):
        if request.url.path == "/v1/models":
            await asyncio.sleep(30)  # a list that never comes
        return httpx.Response(404, json={"detail": "Not Found"})

    a = adapter("http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler))
    start = time.monotonic()
    h = probe(a, timeout=0.5)
    assert not h.ok and h.detail == "no answer within 0.5s"
    assert time.monotonic() - start < 5  # one limit for both requests, not one each


def test_openai_itself_still_calls_an_unknown_model_not_served():
    # OpenAI's 404 for /models/{id} means "no such model"; the list then confirms it
    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-5"}, {"id": "gpt-4.1"}]})
        body = {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}
        return httpx.Response(404, json=body)

    a = vnb.OpenAIAdapter("gpt-9", api_key="sk-test", transport=httpx.MockTransport(handler))
    h = probe(a)
    assert not h.ok
    assert h.detail.startswith("model 'gpt-9' is not served at api.openai.com:443: GET /v1/models lists 'gpt-5'")
    known = vnb.OpenAIAdapter("gpt-5", api_key="sk-test", transport=httpx.MockTransport(handler))
    assert probe(known).ok


def test_the_liveness_watchdog_asks_one_question_and_counts_the_404_as_alive(host):
    # a slow first token on a vLLM-like host: the watchdog's probe gets a 404, which shows the
    # server alive; it never asks the list, so its limit stays min(liveness_every, 3 s)
    host.set_fault("slow_first_token", delay=1.5)
    a = adapter(host.base_url, timeouts=PATIENT)
    a.liveness_every = 0.3
    orch = vnb.AIOrchestrator({"vllm": a}, log_path=False)
    try:
        assert orch.ask("hi").vessel == "vllm"
    finally:
        orch.close()
    probes = [p for p in paths(host) if p.startswith("/v1/models")]
    assert probes and set(probes) == {f"/v1/models/{SERVED}"}


def test_a_vllm_like_host_answers_chat(host):
    reply = vnb.AIOrchestrator({"vllm": adapter(host.base_url, timeouts=PATIENT)}, log_path=False)
    try:
        assert reply.ask("hi").text.startswith("This is the practice")
    finally:
        reply.close()


def test_a_server_that_is_like_nothing_known_is_refused():
    with pytest.raises(ValueError, match=r"cannot behave like 'sglang'; it can be like: 'vllm'"):
        PracticeServer("openai", like="sglang")
    with pytest.raises(ValueError, match=r"practice ollama server cannot behave like 'vllm'; it can be like: none"):
        PracticeServer("ollama", like="vllm")


def test_a_model_missing_from_the_list_is_model_not_found():
    # the not-listed model is the same class as any unknown model, so fallback treats it alike
    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "a"}]})
        return httpx.Response(404, json={"detail": "Not Found"})

    a = adapter("http://127.0.0.1:9/v1", "b", transport=httpx.MockTransport(handler))

    async def listed():
        try:
            return await a._client().get(a.base_url + "/models")
        finally:
            await a.aclose()

    with pytest.raises(E.ModelNotFound):
        a.probe_result(asyncio.run(listed()))

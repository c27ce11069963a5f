"""The providers' official Python clients against the practice servers, with their default
settings (only the base URL, a practice key, a timeout and a retry count are given).

These are test-only dependencies (the ``test`` extra): the package itself speaks httpx.
Each client: plain and streamed chat, multi-turn, a system prompt, an image, thinking,
model listing, the helpers it offers (embeddings, token counts, generate, pull), and every
practice fault surfacing as that client's own error. Nothing here reaches a real provider.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from vessel_nb.adapters.registry import PROVIDERS as REGISTRY
from vessel_nb.adapters.registry import provider as registered
from vessel_nb.practice import PracticeServer
from vessel_nb.practice.replies import count_pieces

PROVIDERS = ["openai", "anthropic", "gemini", "ollama"]
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PNG = base64.b64decode(PNG_B64)
MODEL = {p.practice: p.practice_model for p in REGISTRY}
SYSTEM = "You are a terse practice assistant."
TURNS = [("user", "Name a colour."), ("assistant", "Blue."), ("user", "Why is the sky blue?")]


def greeting(practice: str) -> str:
    """How the fleet's ``practice`` server opens a default reply: under the name of the
    vessel it stands in for (the registry's, e.g. "claude" for the anthropic server)."""
    return f"This is the practice {registered(practice).vessel} vessel (not a real model)."


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients():
    """Close every client a test made (their pooled sockets would warn otherwise)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def client(provider: str, srv: Any, *, timeout: float = 10.0, retries: int = 0) -> Any:
    """The official client for ``provider`` pointed at ``srv`` (a practice server), closed
    after the test."""
    c = _make(provider, srv, timeout, retries)
    _OPEN.append(c)
    return c


def _make(provider: str, srv: Any, timeout: float, retries: int) -> Any:
    if provider == "openai":
        return openai.OpenAI(base_url=srv.base_url, api_key="practice-key", max_retries=retries, timeout=timeout)
    if provider == "anthropic":
        return anthropic.Anthropic(base_url=srv.base_url, api_key="practice-key", max_retries=retries, timeout=timeout)
    if provider == "gemini":
        retry = genai_types.HttpRetryOptions(attempts=retries + 1, initial_delay=0.05, jitter=0) if retries else None
        options = genai_types.HttpOptions(base_url=srv.base_url, timeout=int(timeout * 1000), retry_options=retry)
        return genai.Client(api_key="practice-key", http_options=options)
    return ollama.Client(host=srv.url, timeout=timeout)


# -- one chat call per client, in each client's own vocabulary ---------------------------
def chat(provider: str, c: Any, *, turns=TURNS, system=None, image=False, think=False, stream=False) -> dict:
    """{"text", "thinking", "input_tokens", "done"} of one call made the client's usual way."""
    return CHAT[provider](c, turns, system, image, think, stream)


def _openai(c, turns, system, image, think, stream):
    msgs: list[dict] = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": role, "content": text} for role, text in turns]
    if image:
        url = f"data:image/png;base64,{PNG_B64}"
        msgs[-1]["content"] = [{"type": "text", "text": turns[-1][1]}, {"type": "image_url", "image_url": {"url": url}}]
    kw = {"reasoning_effort": "high"} if think else {}
    if not stream:
        r = c.chat.completions.create(model=MODEL["openai"], messages=msgs, **kw)
        usage, text, done = r.usage, r.choices[0].message.content, r.choices[0].finish_reason
    else:
        text, done, usage = "", None, None
        opts = {"include_usage": True}
        for chunk in c.chat.completions.create(
            model=MODEL["openai"], messages=msgs, stream=True, stream_options=opts, **kw
        ):
            usage = chunk.usage or usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                done = choice.finish_reason or done
    hidden = usage.completion_tokens_details.reasoning_tokens if usage else 0
    thinking = f"{hidden} hidden reasoning tokens" if hidden else ""  # the real API never shows it
    return {"text": text, "thinking": thinking, "input_tokens": usage.prompt_tokens if usage else None, "done": done}


def _anthropic(c, turns, system, image, think, stream):
    msgs: list[dict] = [{"role": role, "content": text} for role, text in turns]
    if image:
        source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
        msgs[-1]["content"] = [{"type": "image", "source": source}, {"type": "text", "text": turns[-1][1]}]
    kw: dict[str, Any] = {"system": system} if system else {}
    if think:
        kw["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    if stream:  # the SDK's own accumulating helper: it checks every event it is given
        with c.messages.stream(model=MODEL["anthropic"], max_tokens=2048, messages=msgs, **kw) as s:
            m = s.get_final_message()
    else:
        m = c.messages.create(model=MODEL["anthropic"], max_tokens=2048, messages=msgs, **kw)
    text = "".join(b.text for b in m.content if b.type == "text")
    thinking = "".join(b.thinking for b in m.content if b.type == "thinking")
    return {"text": text, "thinking": thinking, "input_tokens": m.usage.input_tokens, "done": m.stop_reason}


def _gemini(c, turns, system, image, think, stream):
    role = {"user": "user", "assistant": "model"}
    contents = [genai_types.Content(role=role[r], parts=[genai_types.Part.from_text(text=t)]) for r, t in turns]
    if image:
        contents[-1].parts.append(genai_types.Part.from_bytes(data=PNG, mime_type="image/png"))
    config = genai_types.GenerateContentConfig(
        system_instruction=system,
        thinking_config=genai_types.ThinkingConfig(include_thoughts=True) if think else None,
    )
    responses = (
        c.models.generate_content_stream(model=MODEL["gemini"], contents=contents, config=config)
        if stream
        else [c.models.generate_content(model=MODEL["gemini"], contents=contents, config=config)]
    )
    out = {"text": "", "thinking": "", "input_tokens": None, "done": None}
    for r in responses:
        cand = r.candidates[0]
        for part in cand.content.parts or []:
            out["thinking" if part.thought else "text"] += part.text or ""
        out["done"] = cand.finish_reason or out["done"]
        out["input_tokens"] = r.usage_metadata.prompt_token_count
    return out


def _ollama(c, turns, system, image, think, stream):
    msgs: list[dict] = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": role, "content": text} for role, text in turns]
    model = "llava" if image else "qwen3" if think else MODEL["ollama"]
    if image:
        msgs[-1]["images"] = [PNG]
    parts = c.chat(model=model, messages=msgs, stream=stream, think=think or None)
    out = {"text": "", "thinking": "", "input_tokens": None, "done": None}
    for part in parts if stream else [parts]:
        out["text"] += part.message.content or ""
        out["thinking"] += part.message.thinking or ""
        if part.done:
            out["done"], out["input_tokens"] = part.done_reason, part.prompt_eval_count
    return out


CHAT = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini, "ollama": _ollama}
STOP = {"openai": "stop", "anthropic": "end_turn", "gemini": genai_types.FinishReason.STOP, "ollama": "stop"}


@pytest.fixture
def srv(practice, request):
    """The practice server of the test's ``provider`` (fault-free, records cleared)."""
    return practice[request.node.callspec.params["provider"]]


# -- chat ----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_multi_turn_chat_with_a_system_prompt(srv, provider, stream):
    got = chat(provider, client(provider, srv), system=SYSTEM, stream=stream)
    assert got["text"].startswith(greeting(provider))
    assert "«Why is the sky blue?»" in got["text"]  # the last user turn
    assert got["done"] == STOP[provider] and got["thinking"] == ""
    # The server read every turn and the system prompt: its input count covers them all.
    assert got["input_tokens"] == count_pieces(SYSTEM, *(text for _, text in TURNS))
    assert srv.requests[-1].path.endswith(("/chat/completions", "/messages", "/api/chat", "Content"))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_image_is_received_in_each_clients_form(srv, provider, stream):
    got = chat(provider, client(provider, srv), turns=TURNS[-1:], image=True, stream=stream)
    assert "I received 1 image (practice: I can't actually see it)." in got["text"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_thinking_reaches_the_client_as_reasoning(srv, provider, stream):
    got = chat(provider, client(provider, srv), turns=TURNS[-1:], think=True, stream=stream)
    assert got["text"].startswith("This is the practice") and got["done"] == STOP[provider]
    if provider == "openai":  # Chat Completions hides reasoning: only its token count shows
        assert got["thinking"].endswith("hidden reasoning tokens")
    else:
        assert (
            got["thinking"] == "Practice reasoning (not a real model): read the question, then give the canned answer."
        )


def test_the_openai_client_talks_to_the_practice_ollama_v1_routes(practice):
    c = openai.OpenAI(base_url=practice["ollama"].url + "/v1", api_key="ollama", max_retries=0, timeout=10)
    _OPEN.append(c)
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in c.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if chunk.choices
    )
    assert text.startswith(greeting("ollama"))
    assert "llama3.2:latest" in [m.id for m in c.models.list()]


# -- model listing -------------------------------------------------------------------
def test_model_listing_openai(practice):
    c = client("openai", practice["openai"])
    assert [m.id for m in c.models.list()] == ["gpt-practice"]
    assert c.models.retrieve("gpt-practice").id == "gpt-practice"


def test_the_openai_client_lists_the_models_of_a_vllm_like_practice_server():
    with PracticeServer("openai", pace=0.0, like="vllm", models=["Qwen/Qwen2.5-7B-Instruct"]) as srv:
        c = client("openai", srv)
        assert [m.id for m in c.models.list()] == ["Qwen/Qwen2.5-7B-Instruct"]
        with pytest.raises(openai.NotFoundError):  # vLLM has no route for one model
            c.models.retrieve("Qwen/Qwen2.5-7B-Instruct")
        stream = c.chat.completions.create(
            model="Qwen/Qwen2.5-7B-Instruct", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices).startswith(
            "This is the practice"
        )


def test_model_listing_anthropic(practice):
    c = client("anthropic", practice["anthropic"])
    models = list(c.models.list())
    assert [m.id for m in models] == ["claude-practice"] and "practice" in models[0].display_name.lower()
    assert c.models.retrieve("claude-practice").id == "claude-practice"


def test_model_listing_gemini_advertises_only_what_is_served(practice):
    srv = practice["gemini"]
    c = client("gemini", srv)
    (model,) = list(c.models.list())
    assert model.name == "models/gemini-practice" and "not a real model" in model.display_name
    assert c.models.get(model="gemini-practice").name == "models/gemini-practice"
    for action in model.supported_actions:  # every advertised method answers (not 404)
        r = httpx.post(
            f"{srv.url}/v1beta/models/gemini-practice:{action}",
            headers={"x-goog-api-key": "k"},
            json={
                "contents": [{"parts": [{"text": "hi"}]}],
                "content": {"parts": [{"text": "hi"}]},
                "requests": [{"content": {"parts": [{"text": "hi"}]}}],
            },
            timeout=10,
        )
        assert r.status_code == 200, (action, r.text)


def test_model_listing_ollama(practice):
    c = client("ollama", practice["ollama"])
    assert "llama3.2:latest" in [m.model for m in c.list().models]
    assert "thinking" in c.show("qwen3").capabilities
    c.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert "llama3.2:latest" in [m.model for m in c.ps().models]


# -- the helpers' endpoints ----------------------------------------------------------
def test_openai_embeddings_float_and_base64_agree(practice):
    c = client("openai", practice["openai"])
    floats = c.embeddings.create(model="text-embedding-practice", input=["a", "b"], encoding_format="float")
    packed = c.embeddings.create(model="text-embedding-practice", input=["a", "b"], encoding_format="base64")
    default = c.embeddings.create(model="text-embedding-practice", input="a", dimensions=4)
    assert [d.index for d in floats.data] == [0, 1] and floats.data[0].embedding != floats.data[1].embedding
    for f, p in zip(floats.data, packed.data, strict=True):  # asked for, base64 comes back as is
        raw = base64.b64decode(p.embedding)
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(f.embedding, abs=1e-6)
    assert len(floats.data[0].embedding) == 16 and len(default.data[0].embedding) == 4
    assert floats.usage.prompt_tokens == 2
    again = c.embeddings.create(model="text-embedding-practice", input=["a"], encoding_format="float")
    assert again.data[0].embedding == floats.data[0].embedding  # deterministic


def test_anthropic_count_tokens(practice):
    c = client("anthropic", practice["anthropic"])
    n = c.messages.count_tokens(
        model="claude-practice", system=SYSTEM, messages=[{"role": r, "content": t} for r, t in TURNS]
    )
    assert n.input_tokens == count_pieces(SYSTEM, *(t for _, t in TURNS))


def test_gemini_count_tokens_and_embed_content(practice):
    c = client("gemini", practice["gemini"])
    assert c.models.count_tokens(model="gemini-practice", contents="Why is the sky blue?").total_tokens == 5
    # A list of strings is one content of two parts to this client; two contents, two vectors.
    two = [genai_types.Content(parts=[genai_types.Part(text=t)]) for t in ("one", "two")]
    r = c.models.embed_content(model="gemini-practice", contents=two)
    assert len(r.embeddings) == 2 and len(r.embeddings[0].values) == 16
    assert r.embeddings[0].values != r.embeddings[1].values
    short = c.models.embed_content(
        model="gemini-practice", contents="one", config=genai_types.EmbedContentConfig(output_dimensionality=3)
    )
    assert len(short.embeddings[0].values) == 3


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_ollama_generate_with_system_image_and_thinking(practice, stream):
    c = client("ollama", practice["ollama"])
    parts = c.generate(model="qwen3", prompt="Why is the sky blue?", system=SYSTEM, think=True, stream=stream)
    parts = list(parts) if stream else [parts]
    text, thinking = "".join(p.response for p in parts), "".join(p.thinking or "" for p in parts)
    assert text.startswith(greeting("ollama")) and thinking.startswith("Practice reasoning")
    last = parts[-1]
    assert last.done and last.done_reason == "stop" and last.context
    assert last.prompt_eval_count == count_pieces(SYSTEM, "Why is the sky blue?")
    seen = c.generate(model="llava", prompt="What is this?", images=[PNG])
    assert "I received 1 image" in seen.response


def test_ollama_embed_embeddings_and_pull():
    # A server of its own: a pull adds models, which must not leak into the shared fleet.
    with PracticeServer("ollama", pace=0) as srv:
        _ollama_embed_embeddings_and_pull(client("ollama", srv))


def _ollama_embed_embeddings_and_pull(c):
    r = c.embed(model="llama3.2", input=["one", "two"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 16 and r.prompt_eval_count == 2
    legacy = c.embeddings(model="llama3.2", prompt="one")
    assert legacy.embedding == pytest.approx(r.embeddings[0])
    steps = list(c.pull("practice-new-model", stream=True))
    assert steps[0].status == "pulling manifest" and steps[-1].status == "success"
    assert any("practice" in s.status for s in steps)
    progress = [s for s in steps if s.total]
    assert progress[-1].completed == progress[-1].total
    assert c.pull("another-model").status == "success"
    assert {"practice-new-model:latest", "another-model:latest"} <= {m.model for m in c.list().models}


# -- faults as each client's own errors ----------------------------------------------
def status_of(provider: str, exc: BaseException) -> int | None:
    """The HTTP status a client's error carries, in that client's own attribute."""
    return exc.code if provider == "gemini" else getattr(exc, "status_code", None)


STATUS_ERROR = {
    "openai": {400: openai.BadRequestError, 401: openai.AuthenticationError, 404: openai.NotFoundError,
               429: openai.RateLimitError, 500: openai.InternalServerError, 503: openai.InternalServerError},
    "anthropic": {400: anthropic.BadRequestError, 401: anthropic.AuthenticationError, 404: anthropic.NotFoundError,
                  429: anthropic.RateLimitError, 500: anthropic.InternalServerError,
                  503: anthropic.ServiceUnavailableError, 529: anthropic.OverloadedError},
    "gemini": {code: genai_errors.ClientError if code < 500 else genai_errors.ServerError
               for code in (400, 401, 403, 404, 429, 500, 503)},
    "ollama": {code: ollama.ResponseError for code in (400, 401, 404, 429, 500, 503)},
}  # fmt: skip
"""each client's error class for the statuses its provider really sends"""


@pytest.mark.parametrize("provider, code", [(p, code) for p, table in STATUS_ERROR.items() for code in table], ids=str)
def test_status_faults_are_the_clients_typed_errors(srv, provider, code):
    srv.set_fault("status", code=code)
    with pytest.raises(STATUS_ERROR[provider][code]) as info:
        chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)
    assert status_of(provider, info.value) == code


MID_STREAM_ERROR = {
    "openai": (openai.APIError, "The server had an error while processing your request."),
    "anthropic": (anthropic.APIStatusError, "overloaded_error"),
    "gemini": (genai_errors.ServerError, "The model is overloaded."),
    "ollama": (ollama.ResponseError, "an error was encountered while running the model"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_mid_stream_is_the_clients_error(srv, provider):
    srv.set_fault("error_mid_stream", after=2)
    cls, words = MID_STREAM_ERROR[provider]
    with pytest.raises(cls) as info:
        chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)
    assert words in str(info.value)
    if provider == "gemini":
        assert info.value.code == 503  # the raw JSON error body, parsed by the client


MALFORMED = {"openai": ValueError, "anthropic": ValueError, "gemini": genai_errors.UnknownApiResponseError,
             "ollama": ValueError}  # fmt: skip
"""what each client raises on an event that is not JSON (the SDKs let json's ValueError out)"""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_event_is_refused_by_the_client(srv, provider):
    srv.set_fault("malformed", after=1)
    with pytest.raises(MALFORMED[provider]):
        chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)


@pytest.mark.parametrize("provider", ["openai", "gemini", "ollama"])
def test_truncated_stream_shows_no_finish(srv, provider):
    srv.set_fault("truncated")
    got = chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)
    assert got["text"].startswith("This is the practice") and got["done"] is None


def test_truncated_stream_fails_anthropics_accumulator(srv_anthropic):
    srv_anthropic.set_fault("truncated")
    c = client("anthropic", srv_anthropic)
    with c.messages.stream(model=MODEL["anthropic"], max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        events = [e.type for e in s]
    assert "message_stop" not in events and "content_block_delta" in events


@pytest.fixture
def srv_anthropic(practice):
    return practice["anthropic"]


TIMEOUT = {"openai": openai.APITimeoutError, "anthropic": anthropic.APITimeoutError}


@pytest.mark.parametrize("kind", ["hang_headers", "hang_mid_stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_hangs_end_in_the_clients_timeout(srv, provider, kind):
    srv.set_fault(kind)
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        chat(provider, client(provider, srv, timeout=0.5), turns=TURNS[-1:], stream=True)
    assert time.monotonic() - t0 < 5
    exc = info.value
    # openai/anthropic wrap a timeout before the headers in their own class; the others (and
    # anthropic's iterator) let httpx's ReadTimeout through.
    if provider in TIMEOUT and (kind == "hang_headers" or provider == "openai"):
        assert isinstance(exc, TIMEOUT[provider])
    else:
        assert type(exc).__name__ == "ReadTimeout"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_slow_first_token_still_answers(srv, provider):
    srv.set_fault("slow_first_token", delay=0.3)
    t0 = time.monotonic()
    got = chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)
    assert time.monotonic() - t0 >= 0.3 and got["done"] == STOP[provider]


CONNECT = {"openai": openai.APIConnectionError, "anthropic": anthropic.APIConnectionError}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_down_is_a_connection_error(srv, provider):
    srv.set_fault("down")
    with pytest.raises(Exception) as info:
        chat(provider, client(provider, srv), turns=TURNS[-1:], stream=True)
    if provider in CONNECT:
        assert isinstance(info.value, CONNECT[provider])
    else:
        assert isinstance(info.value, ConnectionError) or type(info.value).__name__ == "ConnectError"


# -- retries -------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_retry_after_is_honoured(srv, provider):
    # Their default backoff before the first retry is at most 0.5 s: waiting >= 1 s shows
    # the client read Retry-After: 1 from the practice 429.
    srv.set_fault("status", code=429, retry_after=1, times=1)
    t0 = time.monotonic()
    got = chat(provider, client(provider, srv, retries=1), turns=TURNS[-1:], stream=True)
    assert time.monotonic() - t0 >= 1.0
    assert got["text"].startswith("This is the practice") and len(srv.requests) == 2
    assert srv.requests[0].json == srv.requests[1].json


def test_retry_after_header_is_sent_with_the_429(practice):
    for name, path, headers in [
        ("anthropic", "/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"}),
        ("openai", "/v1/chat/completions", {"Authorization": "Bearer k"}),
        ("ollama", "/api/chat", {}),
    ]:
        srv = practice[name]
        srv.set_fault("status", code=429, retry_after=3)
        body = {"model": MODEL[name], "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(srv.url + path, headers=headers, json=body, timeout=10)
        assert r.status_code == 429 and r.headers["retry-after"] == "3", name


def test_gemini_client_retries_a_429_with_its_own_backoff(practice):
    # Gemini sends no Retry-After (the delay is in the body's RetryInfo, "retryDelay");
    # google-genai retries on its own exponential backoff when retry_options are given.
    srv = practice["gemini"]
    srv.set_fault("status", code=429, retry_after=1, times=1)
    got = chat("gemini", client("gemini", srv, retries=1), turns=TURNS[-1:])
    assert got["text"].startswith("This is the practice") and len(srv.requests) == 2
    body = json.loads(srv.requests[0].body) if srv.requests[0].body else {}
    assert body.get("contents")


def test_ollama_client_does_not_retry(practice):
    srv = practice["ollama"]
    srv.set_fault("status", code=503, times=1)
    c = client("ollama", srv)
    with pytest.raises(ollama.ResponseError):
        chat("ollama", c, turns=TURNS[-1:])
    assert len(srv.requests) == 1
    assert chat("ollama", c, turns=TURNS[-1:])["done"] == "stop"  # the fault was for one call only

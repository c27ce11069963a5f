"""The Responses API end to end: the practice OpenAI's /v1/responses (its bytes, every fault,
the official ``openai`` client), and a Codex model through orch.ask, orch.stream, %%ask and
both panels."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from vessel_nb import AIOrchestrator, OpenAIAdapter, StreamInterrupted
from vessel_nb import errors as E

from .conftest import HANG_LIMITS, PATIENT
from .transcripts import load

CODEX = "gpt-5-codex"
PRACTICE_KEY = "practice-key"


def codex(practice, **kw) -> OpenAIAdapter:
    return OpenAIAdapter(
        model=CODEX, api="responses", api_key=PRACTICE_KEY, base_url=practice["openai"].base_url, timeouts=PATIENT, **kw
    )


@pytest.fixture
def codex_orch(practice):
    """An orchestrator with one Codex vessel on the practice OpenAI (Responses API)."""
    with AIOrchestrator({"codex": codex(practice)}, log_path=False) as orch:
        yield orch


def frames(body: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in body.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            assert name.startswith("event: ") and data.startswith("data: ")
            out.append((name[7:], json.loads(data[6:])))
    return out


def post(practice, body: dict) -> httpx.Response:
    return httpx.post(
        practice["openai"].base_url + "/responses",
        json=body,
        headers={"Authorization": f"Bearer {PRACTICE_KEY}"},
        timeout=10,
    )


# --- the practice server's bytes ----------------------------------------------------------
def test_practice_stream_has_the_shape_of_the_recorded_one(practice):
    r = post(practice, {"model": CODEX, "input": "Hello!", "stream": True, "reasoning": {"summary": "auto"}})
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream; charset=utf-8"
    got = frames(r.content)
    want = frames(load("openai-responses-reasoning-stream.txt").body)

    def shape(events):  # runs of the same event type collapsed: piece counts differ
        kinds = [k for k, _ in events]
        return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]

    assert shape(got) == shape(want)
    assert [d["sequence_number"] for _, d in got] == list(range(len(got)))
    for (name, data), raw in zip(got, re.findall(rb"data: (.*)\n", r.content), strict=True):
        assert data["type"] == name
        keys = list(data)
        assert keys[0] == "type" and keys[1:] == sorted(keys[1:])  # as the live API orders them
        assert json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() == raw
    fields = {k: set(d) for k, d in want}
    for kind, data in got:
        assert set(data) == fields[kind], kind
    done = got[-1][1]["response"]
    assert done["status"] == "completed" and done["store"] is True  # store defaults to true on the API
    usage = done["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0
    assert usage["output_tokens"] == usage["total_tokens"] - usage["input_tokens"]
    assert b"[DONE]" not in r.content


def test_practice_cut_answer_is_response_incomplete(practice):
    r = post(practice, {"model": CODEX, "input": "hi", "stream": True, "max_output_tokens": 4})
    got = frames(r.content)
    assert got[-1][0] == "response.incomplete"
    assert got[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert "response.output_text.done" not in [k for k, _ in got]


def test_practice_whole_response_and_request_errors(practice):
    r = post(practice, {"model": CODEX, "input": [{"role": "user", "content": "hi"}], "reasoning": {"summary": "auto"}})
    obj = r.json()
    assert obj["object"] == "response" and obj["status"] == "completed"
    assert [o["type"] for o in obj["output"]] == ["reasoning", "message"]
    assert obj["output"][1]["content"][0]["text"].startswith("This is the practice openai vessel")
    bad = post(practice, {"model": CODEX, "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unsupported_parameter"
    missing = post(practice, {"model": CODEX})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "input"
    chat = httpx.post(
        practice["openai"].base_url + "/chat/completions",
        json={"model": CODEX, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {PRACTICE_KEY}"},
    )
    assert chat.status_code == 404 and "only supported in v1/responses" in chat.json()["error"]["message"]


# --- every fault, through the adapter -------------------------------------------------------
STATUS = [(401, E.AuthError), (404, E.ModelNotFound), (429, E.RateLimited), (500, E.ServerError), (503, E.ServerError)]


@pytest.mark.parametrize(("code", "cls"), STATUS)
def test_status_faults_on_the_responses_route(practice, codex_orch, code, cls):
    practice["openai"].set_fault("status", code=code, retry_after=7)
    with pytest.raises(E.AllVesselsFailed) as info:
        codex_orch.ask("hi")
    err = info.value.failures["codex"]
    assert type(err) is cls and err.status == code
    assert [r.path for r in practice["openai"].requests if r.method == "POST"] == ["/v1/responses"]


@pytest.mark.parametrize(
    ("kind", "params", "cls"),
    [
        ("error_mid_stream", {"after": 0}, E.ServerError),  # response.failed {code: server_error}
        ("malformed", {"after": 0}, E.StreamError),
        ("truncated", {"after": 0}, E.StreamError),
        ("hang_headers", {}, E.VesselTimeout),
        ("slow_first_token", {"delay": 3}, E.VesselTimeout),
        ("down", {}, E.VesselUnavailable),
    ],
)
def test_faults_before_the_first_token(practice, codex_orch, kind, params, cls):
    practice["openai"].set_fault(kind, **params)
    with pytest.raises(E.AllVesselsFailed) as info:
        codex_orch.ask("hi", timeouts=HANG_LIMITS.get(kind))
    assert type(info.value.failures["codex"]) is cls


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("error_mid_stream", E.ServerError), ("malformed", E.StreamError), ("truncated", E.StreamError)],
)
def test_faults_after_text_keep_the_partial_answer(practice, codex_orch, kind, cls):
    practice["openai"].set_fault(kind, after=3)
    with pytest.raises(StreamInterrupted) as info:
        codex_orch.ask("hi")
    assert type(info.value.error) is cls and info.value.partial_text.startswith("This is the")


def test_hang_mid_stream_is_an_idle_timeout(practice, codex_orch):
    practice["openai"].set_fault("hang_mid_stream", after=2)
    with pytest.raises(StreamInterrupted) as info:
        codex_orch.ask("hi", timeouts=HANG_LIMITS["hang_mid_stream"])
    assert type(info.value.error) is E.VesselTimeout


# --- the official client ------------------------------------------------------------------
@pytest.fixture
def client(practice):
    openai = pytest.importorskip("openai")
    with openai.OpenAI(api_key=PRACTICE_KEY, base_url=practice["openai"].base_url, max_retries=0) as c:
        yield c


def test_official_client_streams_with_create(client):
    kinds, text, thinking = [], "", ""
    stream = client.responses.create(
        model=CODEX, input="Why is the sky blue?", stream=True, reasoning={"effort": "low", "summary": "auto"}
    )
    for ev in stream:
        kinds.append(ev.type)
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type == "response.reasoning_summary_text.delta":
            thinking += ev.delta
        elif ev.type == "response.completed":
            final = ev.response
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == text and text.startswith("This is the practice openai vessel")
    assert thinking.startswith("Practice reasoning")
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    assert final.usage.input_tokens_details.cached_tokens == 0


def test_official_client_stream_helper_and_whole_response(client):
    with client.responses.stream(model=CODEX, input=[{"role": "user", "content": "hi"}], instructions="Be brief.") as s:
        deltas = [ev.delta for ev in s if ev.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert final.output_text == "".join(deltas) and final.status == "completed"
    whole = client.responses.create(model=CODEX, input="hi", max_output_tokens=3)
    assert whole.status == "incomplete" and whole.incomplete_details.reason == "max_output_tokens"


def test_official_client_gets_typed_errors_from_faults(client, practice):
    import openai

    practice["openai"].set_fault("status", code=429, retry_after=2, times=1)
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model=CODEX, input="hi", stream=True)
    assert info.value.status_code == 429 and info.value.response.headers["retry-after"] == "2"
    practice["openai"].set_fault("status", code=401, times=1)
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model=CODEX, input="hi")


# --- a Codex model through every front door --------------------------------------------------
def test_codex_answers_through_ask_and_stream_with_usage_and_reasoning(practice, codex_orch):
    reply = codex_orch.ask("Why is the sky blue?", think=True)
    assert reply.text.startswith("This is the practice openai vessel") and reply.thinking.startswith("Practice")
    assert reply.usage.tokens_in and reply.usage.tokens_out and reply.stop_reason == "completed"
    if hasattr(reply.usage, "tokens_reasoning"):
        assert reply.usage.tokens_reasoning == len(reply.thinking.split())
    sent = [r for r in practice["openai"].requests if r.method == "POST"][-1].json
    assert sent["store"] is False and sent["reasoning"] == {"effort": "high", "summary": "auto"}

    async def go():
        return [c async for c in codex_orch.stream([{"role": "user", "content": "hi"}], think=True)]

    chunks = asyncio.run(go())
    assert "".join(c.thinking for c in chunks).startswith("Practice reasoning")
    assert chunks[-1].done and chunks[-1].reply.text == "".join(c.content for c in chunks)
    rows = codex_orch.log.rows
    assert [r["outcome"] for r in rows] == ["ok", "ok"] and rows[0]["tokens_out"] == reply.usage.tokens_out


def test_auto_switches_the_practice_openai_vessel_for_a_codex_model(practice, caplog):
    with (
        practice.orchestrator(log_path=False, timeouts=PATIENT) as orch,
        caplog.at_level("WARNING", logger="vessel_nb"),
    ):
        reply = orch.ask("hi", vessel="openai", model=CODEX)
    assert reply.vessel == "openai" and reply.text.startswith("This is the practice openai vessel")
    paths = [r.path for r in practice["openai"].requests if r.method == "POST"]
    assert paths == ["/v1/chat/completions", "/v1/responses"]
    assert orch.vessels["openai"].api_for(CODEX) == "responses"
    assert orch.vessels["openai"].api_for("gpt-practice") == "chat"
    assert any("Responses API" in r.getMessage() for r in caplog.records)


def test_magic_asks_a_codex_model_on_the_openai_vessel(practice):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    import vessel_nb
    from vessel_nb.magic import load_ipython_extension, unload_ipython_extension

    with practice.orchestrator(log_path=False, timeouts=PATIENT) as orch:
        vessel_nb.use(orch)
        shell = InteractiveShell.instance()
        load_ipython_extension(shell)
        try:
            with capture_output() as cap:
                result = shell.run_cell(
                    f"%%ask --vessel=openai --model {CODEX} --think -o answer\nWhy is the sky blue?"
                )
            reply = shell.user_ns.pop("answer")
        finally:
            unload_ipython_extension(shell)
    assert result.success, result.error_in_exec
    assert reply.vessel == "openai" and reply.text.startswith("This is the practice openai vessel")
    assert reply.thinking.startswith("Practice reasoning") and reply.usage.tokens_out
    shown = [o for o in cap.outputs if not o.update][-1]
    md = shown.data["text/markdown"]
    assert "<summary>thinking</summary>" in md and "Practice reasoning" in md
    assert "tok/s" in shown.data.get("text/plain", "") + md + json.dumps(shown.metadata, default=str)


def test_chat_panel_and_compare_widget_with_a_codex_vessel(practice):
    from vessel_nb.widgets import ChatPanel, CompareWidget

    with practice.orchestrator(log_path=False, timeouts=PATIENT) as fleet_orch:
        claude = fleet_orch.vessels["claude"]
    with AIOrchestrator({"codex": codex(practice, name="codex"), "claude": claude}, log_path=False) as orch:
        panel = ChatPanel(orch)
        panel.thinking = True
        reply = panel.ask("Why is the sky blue?", vessel="codex").result(20)
        entry = panel.transcript[-1]
        assert entry["status"] == "done" and entry["vessel"] == "codex" and entry["model"] == CODEX
        assert entry["text"] == reply.text and reply.thinking.startswith("Practice reasoning")
        assert entry["tokens_out"] == reply.usage.tokens_out and entry["tokens_per_s"]
        assert "Practice reasoning" in json.dumps(entry)
        cmp = CompareWidget(orch, vessels=["codex", "claude"])
        cmp.run("Why is the sky blue?", think=True)
        results = cmp.results
        assert results["codex"].text.startswith("This is the practice openai vessel")
        assert results["codex"].thinking.startswith("Practice reasoning")
        row = cmp.summary().set_index("vessel").loc["codex"]
        assert row["tokens_out"] == results["codex"].usage.tokens_out
        panel.close()
        cmp.close()


# --- the parser's edges ---------------------------------------------------------------------
def _replay(body: bytes, seed: int = 0) -> OpenAIAdapter:
    from .transcripts import RandomChunks

    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=RandomChunks(body, seed, 5))

    return OpenAIAdapter(model=CODEX, api_key="sk-test-0123456789", transport=httpx.MockTransport(handler))


def _sse(*events: dict) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


DONE = {"type": "response.completed", "response": {"status": "completed", "model": "gpt-5-codex-2025-09-15"}}


@pytest.mark.parametrize("seed", range(3))
def test_summary_parts_are_paragraphs_and_unknown_events_are_ignored(seed):
    body = (
        _sse(
            {"type": "response.reasoning_summary_part.added", "summary_index": 0, "part": {"type": "summary_text"}},
            {"type": "response.reasoning_summary_text.delta", "summary_index": 0, "delta": "First."},
            {"type": "response.reasoning_summary_part.added", "summary_index": 1, "part": {"type": "summary_text"}},
            {"type": "response.reasoning_summary_text.delta", "summary_index": 1, "delta": "Second."},
            {"type": "response.web_search_call.searching", "item_id": "ws_1"},
            {"type": "response.brand_new_kind", "whatever": [1, 2]},
            {"type": "response.output_text.delta", "delta": "Answer."},
            DONE,
        )
        + b"data: [DONE]\n\n"
    )  # some compatible servers add it; it is not needed
    with AIOrchestrator({"v": _replay(body, seed)}, log_path=False) as orch:
        reply = orch.ask("hi")
    assert reply.thinking == "First.\n\nSecond." and reply.text == "Answer."


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ({"type": "error", "error": {"type": "server_error", "code": None, "message": "boom"}}, E.ServerError),
        ({"type": "error", "code": "insufficient_quota", "message": "check billing", "param": None}, E.BillingError),
        ({"type": "response.failed", "response": {"status": "failed", "error": None}}, E.StreamError),
        ({"type": "response.failed", "response": {"error": {"code": "invalid_prompt", "message": "no"}}}, E.BadRequest),
    ],
)
def test_in_band_failures_are_classified(event, cls):
    with AIOrchestrator({"v": _replay(_sse(event))}, log_path=False) as orch, pytest.raises(E.AllVesselsFailed) as info:
        orch.ask("hi")
    assert type(info.value.failures["v"]) is cls


def test_a_stream_without_its_terminal_event_is_truncated():
    body = _sse({"type": "response.output_text.delta", "delta": "half"})
    with AIOrchestrator({"v": _replay(body)}, log_path=False) as orch, pytest.raises(StreamInterrupted) as info:
        orch.ask("hi")
    assert "response.completed" in str(info.value.error)


def test_images_go_as_input_image_parts(practice, codex_orch):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    reply = codex_orch.ask("what is this?", images=[png], system="Be brief.")
    assert "I received 1 image" in reply.text
    sent = [r for r in practice["openai"].requests if r.method == "POST"][-1].json
    assert sent["instructions"] == "Be brief."
    text, image = sent["input"][-1]["content"]
    assert text == {"type": "input_text", "text": "what is this?"}
    assert image["type"] == "input_image" and image["image_url"].startswith("data:image/png;base64,")

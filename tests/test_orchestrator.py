"""The orchestrator against the practice servers, over real sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from vessel_nb import AIOrchestrator, AllVesselsFailed, NoLocalVessel, StreamInterrupted, Timeouts
from vessel_nb import errors as E

from .conftest import HANG_LIMITS, PATIENT

SERVER = {"ollama": "ollama", "claude": "anthropic", "openai": "openai", "gemini": "gemini"}
BACKUP = {"ollama": "claude", "claude": "openai", "openai": "gemini", "gemini": "ollama"}


def chat_requests(srv) -> int:
    return sum(1 for r in srv.requests if r.method == "POST")


def test_the_lesson_exercise_local_then_cloud_then_local_again(orch, practice):
    orch.priority = ["ollama", "claude"]
    first = orch.ask("Why is the sky blue?")
    assert first.vessel == "ollama" and first.local and "practice" in first.text.lower()

    practice["ollama"].stop()
    second = orch.ask("Why is the sky blue?")
    assert second.vessel == "claude" and not second.local
    assert second.fallback_chain and "connection refused" in second.fallback_chain[0]

    practice["ollama"].start()
    third = orch.ask("Why is the sky blue?")
    assert third.vessel == "ollama"  # the very next call after the restart

    df = orch.log.df
    assert list(df["outcome"]) == ["ok", "error", "ok", "ok"]
    assert list(df["vessel"]) == ["ollama", "ollama", "claude", "ollama"]
    fallback = df[df["fallback_from"] == "ollama"].iloc[0]
    assert fallback["vessel"] == "claude" and fallback["call_id"] == df.iloc[1]["call_id"]
    assert df.iloc[1]["error_kind"] == "unavailable" and "ollama serve" in df.iloc[1]["error"]


IN_BAND = "in-band"
# An error event in a 200 stream gets the class of its HTTP twin: the practice servers send
# Anthropic's overloaded_error, OpenAI's server_error and Gemini's 503 UNAVAILABLE; Ollama's
# {"error": "text"} names no code, so it stays a stream error.
IN_BAND_KIND = {"claude": "server_error", "openai": "server_error", "gemini": "server_error", "ollama": "stream_error"}

BEFORE_TOKEN_FAULTS = [
    ("status", {"code": 401}, "auth"),
    ("status", {"code": 403}, "auth"),
    ("status", {"code": 404}, "model_not_found"),
    ("status", {"code": 429, "retry_after": 30}, "rate_limited"),
    ("status", {"code": 500}, "server_error"),
    ("status", {"code": 503}, "server_error"),
    ("status", {"code": 529}, "server_error"),
    ("hang_headers", {}, "timeout"),
    ("down", {}, "unavailable"),
    ("error_mid_stream", {"after": 0}, IN_BAND),
    ("malformed", {"after": 0}, "stream_error"),
    ("truncated", {"after": 0}, "stream_error"),
]


@pytest.mark.parametrize("vessel", sorted(SERVER))
@pytest.mark.parametrize("kind, params, error_kind", BEFORE_TOKEN_FAULTS, ids=lambda x: str(x))
def test_failures_before_the_first_token_fall_back(orch, practice, vessel, kind, params, error_kind):
    error_kind = IN_BAND_KIND[vessel] if error_kind == IN_BAND else error_kind
    backup = BACKUP[vessel]
    orch.priority = [vessel, backup]
    orch.timeouts = HANG_LIMITS.get(kind, orch.timeouts)
    practice[SERVER[vessel]].set_fault(kind, **params)
    reply = orch.ask("hello")
    assert reply.vessel == backup
    rows = orch.log.rows
    assert [r["outcome"] for r in rows] == ["error", "ok"]
    assert rows[0]["error_kind"] == error_kind, rows[0]["error"]
    assert rows[1]["fallback_from"] == vessel
    if kind == "status" and params.get("retry_after") and vessel != "ollama":  # Ollama sends no Retry-After
        # Retry-After (Anthropic, OpenAI) or RetryInfo.retryDelay in the body (Gemini) is honoured
        assert 25 < orch.health_snapshot()[vessel].cooling_for_s <= 30


MID_STREAM_FAULTS = [
    ("error_mid_stream", {"after": 3}, IN_BAND),
    ("hang_mid_stream", {"after": 3}, "timeout"),
    ("malformed", {"after": 3}, "stream_error"),
    ("truncated", {"after": 3}, "stream_error"),
]


@pytest.mark.parametrize("vessel", sorted(SERVER))
@pytest.mark.parametrize("kind, params, error_kind", MID_STREAM_FAULTS, ids=lambda x: str(x))
def test_failures_after_tokens_are_never_hidden(orch, practice, vessel, kind, params, error_kind):
    error_kind = IN_BAND_KIND[vessel] if error_kind == IN_BAND else error_kind
    orch.priority = [vessel, BACKUP[vessel]]
    orch.timeouts = HANG_LIMITS.get(kind, orch.timeouts)
    practice[SERVER[vessel]].set_fault(kind, **params)
    with pytest.raises(StreamInterrupted) as info:
        orch.ask("hello")
    assert info.value.partial_text  # what had arrived is kept
    row = orch.log.rows[-1]
    assert row["outcome"] == "interrupted" and row["error_kind"] == error_kind
    assert row["response"] == info.value.partial_text
    assert len(orch.log.rows) == 1  # the backup was not silently used


@pytest.mark.parametrize("vessel", sorted(SERVER))
def test_opt_in_restart_tells_the_consumer_and_mixes_no_text(orch, practice, vessel):
    backup = BACKUP[vessel]
    orch.priority = [vessel, backup]
    practice[SERVER[vessel]].set_fault("error_mid_stream", after=3)
    with orch.stream_sync("hello", on_interrupt="restart") as chunks:
        events = list(chunks)
    kinds = [c.event for c in events if c.event]
    assert kinds == ["restart"]
    restart_at = next(i for i, c in enumerate(events) if c.event == "restart")
    after = "".join(c.content for c in events[restart_at:])
    reply = events[-1].reply
    assert reply.vessel == backup and reply.text == after
    assert [r["outcome"] for r in orch.log.rows] == ["interrupted", "ok"]


@pytest.mark.parametrize("vessel", sorted(SERVER))
def test_slow_first_token_within_the_limit_is_not_a_failure(orch, practice, vessel):
    practice[SERVER[vessel]].set_fault("slow_first_token", delay=0.3)
    reply = orch.ask("hello", vessel=vessel)
    assert reply.vessel == vessel and reply.ttft_s >= 0.3


def test_a_hung_vessel_cannot_hang_the_call(practice, tmp_path):
    practice["ollama"].set_fault("hang_headers")
    orch = practice.orchestrator(log_path=False, timeouts=PATIENT.replace(first_token=0.5))
    orch.priority = ["ollama", "claude"]
    reply = orch.ask("hello")
    assert reply.vessel == "claude"
    assert orch.log.rows[0]["error_kind"] == "timeout" and orch.log.rows[0]["latency_s"] < 2
    orch.close()


def test_private_calls_fail_closed_and_the_cloud_receives_nothing(orch, practice):
    practice["ollama"].stop()
    with pytest.raises(NoLocalVessel, match="never goes to the cloud"):
        orch.ask("my medical notes", task={"private": True})
    with pytest.raises(NoLocalVessel):
        orch.ask("ping", task={"heartbeat": True})
    with pytest.raises(NoLocalVessel, match="not a local vessel"):
        orch.ask("my medical notes", task={"private": True}, vessel="claude")
    for name in ("anthropic", "openai", "gemini"):
        assert practice[name].requests == []
    assert {r["vessel"] for r in orch.log.rows} == {"ollama"}


def test_private_calls_are_served_locally_when_up(orch, practice):
    reply = orch.ask("my notes", task={"private": True})
    assert reply.vessel == "ollama" and reply.reason == "private"
    assert all(practice[n].requests == [] for n in ("anthropic", "openai", "gemini"))


def test_a_cloud_vessel_on_loopback_is_not_local(practice, tmp_path):
    # the practice Claude runs on 127.0.0.1, but a Claude adapter may be a proxy to the cloud
    orch = practice.orchestrator(log_path=False)
    assert not orch.vessels["claude"].local
    practice["ollama"].stop()
    with pytest.raises(NoLocalVessel):
        orch.ask("x", task={"private": True})
    orch.close()


@pytest.mark.parametrize("how", ["per_call", "session"])
def test_an_explicit_vessel_never_switches(orch, practice, how):
    practice["ollama"].stop()
    with pytest.raises(AllVesselsFailed, match="chosen explicitly") as info:
        if how == "per_call":
            orch.ask("hi", vessel="ollama")
        else:
            orch.active = "ollama"
            orch.ask("hi")
    assert "connection refused" in str(info.value)
    assert all(chat_requests(practice[n]) == 0 for n in ("anthropic", "openai", "gemini"))


def test_explicit_choice_uses_that_vessel_even_when_others_come_first(orch, practice):
    reply = orch.ask("hi", vessel="gemini")
    assert reply.vessel == "gemini" and reply.reason == "explicit"
    assert chat_requests(practice["ollama"]) == 0


def test_concurrent_calls_with_different_tasks_do_not_interfere(orch, practice):
    async def many():
        jobs = []
        for i in range(24):
            kind = i % 3
            if kind == 0:
                jobs.append(orch.aask(f"private {i}", task={"private": True}))
            elif kind == 1:
                jobs.append(orch.aask(f"explicit {i}", vessel="openai"))
            else:
                jobs.append(orch.aask(f"think {i}", task={"needs_thinking": True}))
        return await asyncio.gather(*jobs)

    replies = asyncio.run(many())
    for i, reply in enumerate(replies):
        want = ["ollama", "openai", "claude"][i % 3]
        assert reply.vessel == want, (i, reply.vessel)
        assert f"{i}" in reply.text  # the practice vessels echo the prompt: no mixed streams
    assert orch.active is None


def test_vision_goes_to_a_vision_vessel(practice, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    orch = practice.orchestrator(log_path=False)
    reply = orch.ask("what is this?", images=[png])
    assert reply.vessel == "claude"  # the practice llama3.2 has no vision: the server says so
    assert reply.reason == "vision"
    orch.vessels["ollama"].model = "llava"
    reply = orch.ask("what is this?", task={"needs_vision": True}, images=[png])
    assert reply.vessel == "ollama" and "1 image" in reply.text
    orch.close()


def test_missing_key_is_skipped_without_a_request_and_named(practice, tmp_path, monkeypatch):
    from vessel_nb import ClaudeAdapter, OllamaAdapter

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    orch = AIOrchestrator(
        {
            "claude": ClaudeAdapter(model="c", base_url=practice["anthropic"].base_url),
            "ollama": OllamaAdapter(model="llama3.2", base_url=practice["ollama"].base_url),
        },
        priority=["claude", "ollama"],
        log_path=False,
    )
    reply = orch.ask("hi")
    assert reply.vessel == "ollama"
    row = orch.log.rows[0]
    assert row["outcome"] == "unhealthy" and "ANTHROPIC_API_KEY is not set" in row["error"]
    assert practice["anthropic"].requests == []
    orch.close()


def test_a_failing_cloud_vessel_is_skipped_while_it_cools_down(orch, practice):
    orch.priority = ["claude", "openai"]
    practice["anthropic"].set_fault("status", code=503)
    assert orch.ask("one").vessel == "openai"
    before = chat_requests(practice["anthropic"])
    assert orch.ask("two").vessel == "openai"
    assert chat_requests(practice["anthropic"]) == before  # no request while cooling down
    assert orch.log.rows[-2]["outcome"] == "unhealthy"
    assert orch.health_snapshot()["claude"].state == "cooling"


def test_keys_never_leak(practice, tmp_path):
    from vessel_nb import ClaudeAdapter, GeminiAdapter, OpenAIAdapter

    keys = {
        "claude": "sk-ant-LEAKCHECK-aaaa1111",
        "openai": "sk-LEAKCHECK-bbbb2222",
        "gemini": "AIza-LEAKCHECK-cccc3333",
    }
    path = tmp_path / "calls.sqlite3"
    orch = AIOrchestrator(
        {
            "claude": ClaudeAdapter(model="c", api_key=keys["claude"], base_url=practice["anthropic"].base_url),
            "openai": OpenAIAdapter(model="o", api_key=keys["openai"], base_url=practice["openai"].base_url),
            "gemini": GeminiAdapter(model="g", api_key=keys["gemini"], base_url=practice["gemini"].base_url),
        },
        log_path=path,
    )
    practice["anthropic"].set_fault("status", code=401)
    practice["openai"].set_fault("error_mid_stream", after=0)
    texts = [repr(orch), repr(orch.vessels), str(orch.describe()), repr(orch.health_snapshot())]
    texts.append(orch.ask(f"please repeat {keys['openai'][:6]}").text)
    practice["gemini"].set_fault("status", code=400)
    with pytest.raises(AllVesselsFailed) as info:
        orch.ask("hi")
    texts += [str(info.value), repr(info.value.failures), str(orch.check_health())]
    texts.append(orch.log.df.to_string())
    orch.close()
    blob = "\n".join(texts).encode() + path.read_bytes()
    for wal in tmp_path.glob("calls.sqlite3*"):
        blob += wal.read_bytes()
    for key in keys.values():
        assert key.encode() not in blob
    # the key did reach the server, in the header the protocol wants (and never the URL)
    sent = practice["gemini"].requests[-1]
    assert sent.headers.get("x-goog-api-key") == keys["gemini"] and keys["gemini"] not in sent.path + str(sent.query)


def test_stop_mid_stream_closes_the_connection_and_logs_cancelled(practice, tmp_path):
    orch = practice.orchestrator(log_path=False)
    srv = practice["ollama"]
    srv.pace = 0.05
    before = srv.disconnects
    try:
        with orch.stream_sync("tell me a long story", vessel="ollama") as chunks:
            for n, _chunk in enumerate(chunks):
                if n == 2:
                    break
        assert orch.log.rows[-1]["outcome"] == "cancelled"
        srv.wait_for(lambda: srv.disconnects > before, timeout=5)
    finally:
        srv.pace = 0.0
        orch.close()


def test_submit_cancel(practice):
    orch = practice.orchestrator(log_path=False)
    practice["ollama"].pace = 0.05
    got = threading.Event()
    handle = orch.submit("long story", on_chunk=lambda c: got.set(), vessel="ollama")
    try:
        assert got.wait(5)
        handle.cancel()
        practice["ollama"].wait_for(lambda: handle.done(), timeout=5)
        # done means stopped: the attempt is already logged and the connection closed
        assert orch.log.rows[-1]["outcome"] == "cancelled"
        with pytest.raises(concurrent.futures.CancelledError):
            handle.result(1)
    finally:
        practice["ollama"].pace = 0.0
        orch.close()


def test_async_stream_from_another_event_loop(orch):
    async def go():
        parts = []
        async for chunk in orch.stream([{"role": "user", "content": "hi"}]):
            parts.append(chunk)
        return parts

    chunks = asyncio.run(go())
    assert chunks[-1].done and chunks[-1].reply.text == "".join(c.content for c in chunks)
    assert all(c.vessel == "ollama" for c in chunks)


def test_sync_ask_inside_a_running_event_loop(orch):
    # what a Jupyter cell looks like: a loop is already running in this thread
    async def cell():
        return orch.ask("hi")

    assert asyncio.run(cell()).vessel == "ollama"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"vessel": "ghost"}, "unknown vessel 'ghost'"),
        ({"task": {"privat": True}}, "unknown task key 'privat'"),
        ({"temperature": 7}, "temperature must be between 0 and 2"),
        ({"max_tokens": 0}, "max_tokens must be a positive"),
        ({"images": ["/no/such/file.png"]}, "image file not found"),
        ({"model": "x"}, "give vessel= too"),
        ({"on_interrupt": "retry"}, "on_interrupt must be"),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_is_sent(orch, practice, kwargs, words):
    with pytest.raises(E.ConfigError, match=words):
        orch.ask("hi", **kwargs)
    assert all(chat_requests(practice[n]) == 0 for n in practice.names)
    assert orch.log.rows == []


def test_empty_prompt_and_bad_messages(orch):
    for bad, words in (
        ("  ", "prompt is empty"),
        ([{"role": "robot", "content": "x"}], "role 'robot'"),
        ([], "non-empty"),
    ):
        with pytest.raises(E.ConfigError, match=words):
            orch.ask(bad)


def test_health_probes_and_snapshot(orch, practice):
    assert all(h.state == "untested" for h in orch.health_snapshot().values())
    practice["openai"].stop()
    health = orch.check_health()
    assert health["ollama"].ok and health["claude"].ok and health["gemini"].ok
    assert health["openai"].ok is False and "connection refused" in health["openai"].detail
    assert orch.health_snapshot()["openai"].state == "down"
    orch.vessels["ollama"].model = "qwen2.5:32b"
    assert "ollama pull qwen2.5:32b" in orch.check_health(["ollama"])["ollama"].detail


def test_the_fixture_orchestrator_is_patient(orch):
    assert orch.timeouts == PATIENT


def test_a_loading_model_is_waited_for_but_a_dead_server_is_found_quickly(practice):
    """Ollama's first-token limit is generous (cold loads); liveness probes tell loading from hung."""
    import socket

    from vessel_nb import OllamaAdapter

    patient = Timeouts(connect=2, first_token=30, idle=5, total=60)
    # loading: the chat request takes a while, but the server answers its free probe
    # (probes every 1 s, each given 1 s to answer: a loaded machine still answers in time)
    practice["ollama"].set_fault("slow_first_token", delay=2.5)
    loading = OllamaAdapter(model="llama3.2", base_url=practice["ollama"].base_url, timeouts=patient)
    loading.liveness_every = 1.0
    orch = AIOrchestrator({"ollama": loading}, log_path=False)
    assert orch.ask("hi").vessel == "ollama"
    orch.close()

    # hung: a socket that accepts connections (kernel backlog) and never answers anything
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    try:
        dead = OllamaAdapter(model="llama3.2", base_url=f"http://127.0.0.1:{hung.getsockname()[1]}", timeouts=patient)
        dead.liveness_every = 0.2
        orch = AIOrchestrator(
            {"ollama": dead, "claude": practice.orchestrator(log_path=False).vessels["claude"]}, log_path=False
        )
        reply = orch.ask("hi")
        row = orch.log.rows[0]
        assert reply.vessel == "claude"
        assert row["error_kind"] == "timeout" and "stopped answering" in row["error"] and row["latency_s"] < 5
        orch.close()
    finally:
        hung.close()


def test_stream_checks_its_input_before_iteration(orch):
    with pytest.raises(E.ConfigError, match="unknown vessel"):
        orch.stream("hi", vessel="ghost")
    with pytest.raises(E.ConfigError, match="unknown task key"):
        orch.stream("hi", task={"secret": True})


def test_describe_lists_capabilities_without_keys(orch):
    rows = {d["name"]: d for d in orch.describe()}
    assert rows["claude"]["vision"] is True and rows["claude"]["key"] == "set"
    assert rows["ollama"]["vision"] is None  # not known until the server is asked
    orch.ask("x", task={"needs_vision": True}, images=[b"\x89PNG\r\n\x1a\n" + b"\0" * 8])
    assert {d["name"]: d for d in orch.describe()}["ollama"]["vision"] is False


@pytest.mark.parametrize("vessel", sorted(SERVER))
def test_connections_are_pooled_across_calls(orch, practice, vessel):
    """A cloud call should not pay a new TCP (and TLS) handshake every time."""
    for i in range(5):
        orch.ask(f"call {i}", vessel=vessel)
    ports = {r.client_port for r in practice[SERVER[vessel]].requests if r.method == "POST"}
    assert len(ports) == 1 and None not in ports


def test_an_orchestrator_is_a_context_manager(practice, tmp_path):
    with practice.orchestrator(log_path=tmp_path / "c.sqlite3") as orch:
        assert orch.ask("hi").vessel == "ollama"
    assert orch.log._conn is None  # the log file was closed; its rows stay on disk
    from vessel_nb.calllog import CallLog

    assert len(CallLog(tmp_path / "c.sqlite3").load_all()) == 1


def test_a_private_calls_only_local_vessel_is_tried_even_while_it_cools_down(orch, practice):
    """Skipping a cooling vessel is for the sake of a later one; with none left, it is tried."""
    practice["ollama"].set_fault("status", code=503)
    with pytest.raises(NoLocalVessel):
        orch.ask("one", task={"private": True})
    practice["ollama"].clear_fault()
    assert orch.health_snapshot()["ollama"].state == "cooling"
    reply = orch.ask("two", task={"private": True})  # Ollama is back: the call reaches it
    assert reply.vessel == "ollama" and orch.log.rows[-1]["outcome"] == "ok"


def test_when_every_remaining_vessel_is_cooling_the_next_one_is_tried(practice):
    vessels = {name: a for name, a in practice.adapters().items() if name in ("claude", "openai")}
    orch = practice.orchestrator(vessels=vessels, log_path=False, timeouts=PATIENT)
    orch.priority = ["claude", "openai"]
    for server in ("anthropic", "openai"):
        practice[server].set_fault("status", code=503)
    with pytest.raises(AllVesselsFailed):
        orch.ask("one")
    for server in ("anthropic", "openai"):
        practice[server].clear_fault()
    snapshot = orch.health_snapshot()
    assert snapshot["claude"].state == snapshot["openai"].state == "cooling"
    # claude is cooling but so is every vessel after it: it is tried (and answers)
    reply = orch.ask("two")
    assert reply.vessel == "claude" and [a.outcome for a in reply.attempts] == ["ok"]
    orch.close()

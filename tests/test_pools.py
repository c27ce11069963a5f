"""A vessel that is a pool of hosts (``base_url=[...]``): calls spread by fewest in flight,
a failing host hands the call to the next host before the next vessel, health is the
pool's, locality is judged over every host — against several real practice servers on
loopback. A guard refuses any connection off this machine (tests/netguard.py), and byte
traps (tests/reliability/traps.py: counting proxies in front of practice servers) show that
a private prompt sends nothing to a host it must not reach.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pandas as pd
import pytest

import vessel_nb as vnb
from vessel_nb import locality
from vessel_nb.adapters.hosts import label
from vessel_nb.calllog import CallLog
from vessel_nb.practice import PracticeServer
from vessel_nb.practice.fleet import MODELS, practice_key

from .conftest import PATIENT
from .reliability.traps import ByteTrap

OFF_MACHINE = "203.0.113.7"  # TEST-NET-3: documentation only, never routed
CHAT = ("/api/chat", "/v1/chat/completions")


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture(scope="module")
def hosts():
    """Three practice Ollama servers and two practice OpenAI-compatible ones, on their own ports."""
    servers = {f"ollama{i}": PracticeServer("ollama", pace=0.0, vessel="ollama") for i in range(3)}
    servers |= {f"openai{i}": PracticeServer("openai", pace=0.0, vessel="vllm") for i in range(2)}
    for srv in servers.values():
        srv.start()
    yield servers
    for srv in servers.values():
        srv.stop()


@pytest.fixture
def pool(hosts, practice):
    """Every host up, fault-free, its records cleared (and the practice fleet's as well)."""
    for srv in hosts.values():
        srv.clear_fault()
        if not srv.running:
            srv.start()
        srv.requests.clear()
    yield hosts
    for srv in hosts.values():
        srv.clear_fault()


def chats(srv) -> int:
    """Chat requests a server received (health probes and capability questions aside)."""
    return sum(1 for r in srv.requests if r.path.endswith(CHAT))


def ollama_pool(*servers, **kw) -> vnb.OllamaAdapter:
    return vnb.OllamaAdapter(model=MODELS["ollama"], base_url=[s.base_url for s in servers], **kw)


def orchestrator(practice, vessel, name: str = "ollama", **kw) -> vnb.AIOrchestrator:
    """The pool as vessel ``name``, then the practice Claude as the next vessel."""
    vessels = {name: vessel, "claude": practice.adapters()["claude"]}
    return vnb.AIOrchestrator(vessels, log_path=kw.pop("log_path", False), timeouts=PATIENT, **kw)


def poll(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# --- spreading --------------------------------------------------------------------------------
def test_an_idle_pool_takes_its_hosts_in_turn(pool, practice):
    a, b, c = pool["ollama0"], pool["ollama1"], pool["ollama2"]
    vessel = ollama_pool(a, b, c)
    with orchestrator(practice, vessel) as orch:
        replies = [orch.ask(f"q{i}") for i in range(6)]
        assert orch.health_snapshot()["ollama"].state == "up"  # learned from ask(), which stops at the answer
    assert all(state.last_ok for state in vessel._hostpool.states.values())
    assert [chats(s) for s in (a, b, c)] == [2, 2, 2]
    assert [r.attempts[-1].host for r in replies[:3]] == [label(s.url) for s in (a, b, c)]
    assert {r.vessel for r in replies} == {"ollama"} and chats(practice["claude"]) == 0


def test_a_busy_host_gets_no_new_call_while_another_is_idle(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("hang_headers")  # the first call waits there until the fault is cleared
    vessel = ollama_pool(a, b)
    with orchestrator(practice, vessel) as orch:
        first = orch.submit("slow one")
        poll(lambda: chats(a) == 1, what="the first call to reach host a")
        # round robin alone would send the third call back to a; fewest in flight sends all to b
        hosts = [orch.ask(f"q{i}").attempts[-1].host for i in range(3)]
        assert hosts == [label(b.url)] * 3 and chats(a) == 1
        a.clear_fault()
        assert first.result(30).attempts[-1].host == label(a.url)
    assert vessel._hostpool.in_flight == dict.fromkeys(vessel.hosts, 0)


def test_concurrent_calls_share_the_hosts(pool, practice):
    servers = [pool["ollama0"], pool["ollama1"], pool["ollama2"]]
    for srv in servers:
        srv.set_fault("hang_headers")  # every call stays in flight until the faults are cleared
    with orchestrator(practice, ollama_pool(*servers)) as orch:
        calls = [orch.submit(f"q{i}") for i in range(9)]
        poll(lambda: sum(chats(s) for s in servers) == 9, what="nine calls in flight")
        assert [chats(s) for s in servers] == [3, 3, 3]
        for srv in servers:
            srv.clear_fault()
        assert {c.result(30).vessel for c in calls} == {"ollama"}


def test_a_run_on_a_pool_keeps_every_host_busy(pool, practice):
    servers = [pool["ollama0"], pool["ollama1"], pool["ollama2"]]
    for srv in servers:
        srv.set_fault("hang_headers")
    with orchestrator(practice, ollama_pool(*servers)) as orch:
        run = orch.map([f"q{i}" for i in range(6)], vessels=["ollama"], progress=False)
        assert run.pacing["ollama"]["limit"] == 6  # two calls at once per local host, not per vessel
        poll(lambda: [chats(s) for s in servers] == [2, 2, 2], what="two calls in flight on every host")
        for srv in servers:
            srv.clear_fault()
        assert set(run.wait(timeout=60).df.outcome) == {"ok"}


# --- a host down ------------------------------------------------------------------------------
def test_a_host_down_hands_the_call_to_another_host_not_the_next_vessel(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("down")
    with orchestrator(practice, ollama_pool(a, b), log_path=None) as orch:
        with orch.stream_sync("hello") as it:
            chunks = list(it)
        reply = chunks[-1].reply
        assert reply.vessel == "ollama" and chats(b) == 1 and chats(practice["claude"]) == 0
        assert [(x.host, x.outcome) for x in reply.attempts] == [(label(a.url), "error"), (label(b.url), "ok")]
        moved = [c for c in chunks if c.event == "fallback"]
        assert len(moved) == 1 and moved[0].host == label(a.url) and moved[0].vessel == "ollama"
        # the next call does not knock on the cooling host again while b answers
        again = orch.ask("again")
        assert [(x.host, x.outcome) for x in again.attempts] == [(label(b.url), "ok")]
        assert orch.health_snapshot()["ollama"].ok is True
        df = orch.log.df
    assert list(df.host) == [label(a.url), label(b.url), label(b.url)]


def test_every_host_down_falls_back_to_the_next_vessel(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("down")
    b.set_fault("down")
    with orchestrator(practice, ollama_pool(a, b)) as orch:
        reply = orch.ask("hello")
        assert reply.vessel == "claude"
        assert [(x.vessel, x.host, x.outcome) for x in reply.attempts] == [
            ("ollama", label(a.url), "error"),
            ("ollama", label(b.url), "error"),
            ("claude", label(practice["claude"].url), "ok"),
        ]
        # while every host cools down, the pool is skipped in one row and Claude answers
        again = orch.ask("again")
        assert [(x.vessel, x.outcome) for x in again.attempts] == [("ollama", "unhealthy"), ("claude", "ok")]
        assert "every host of the pool is cooling down" in again.attempts[0].error
        assert orch.health_snapshot()["ollama"].ok is False


def test_a_cooling_host_is_tried_when_it_is_the_only_one_left(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("down")
    vessel = ollama_pool(a, b)
    with vnb.AIOrchestrator({"ollama": vessel}, log_path=False, timeouts=PATIENT) as orch:
        assert orch.ask("one").attempts[-1].host == label(b.url)
        assert vessel._hostpool.cooling_for(a.base_url) > 0
        a.clear_fault()
        b.set_fault("down")
        reply = orch.ask("two")  # b fails; a still cools, but nothing else is left: a is tried
    assert [(x.host, x.outcome) for x in reply.attempts] == [(label(b.url), "error"), (label(a.url), "ok")]


def test_a_direct_stream_on_a_pool_moves_to_the_next_host(pool):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("down")
    vessel = ollama_pool(a, b, timeouts=PATIENT)

    async def answer() -> str:
        try:
            return "".join([d.text async for d in vessel.stream([{"role": "user", "content": "hi"}])])
        finally:
            await vessel.aclose()

    assert "practice" in asyncio.run(answer())
    assert chats(b) == 1


def test_a_pool_asks_what_its_model_can_do_of_a_host_that_answers(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    a.set_fault("down")
    llava = vnb.OllamaAdapter(model="llava", base_url=[a.base_url, b.base_url])
    with orchestrator(practice, llava) as orch:
        reply = orch.ask("what is in this picture?", task={"needs_vision": True, "private": True})
    assert reply.vessel == "ollama" and reply.attempts[-1].host == label(b.url)


def test_an_openai_compatible_pool_spreads_and_fails_over(pool, practice):
    x, y = pool["openai0"], pool["openai1"]
    vessel = vnb.OpenAIAdapter(
        model=MODELS["openai"], base_url=[x.base_url, y.base_url], api_key=practice_key("openai"), local=True
    )
    with orchestrator(practice, vessel, name="vllm") as orch:
        orch.ask("one")
        orch.ask("two")
        assert (chats(x), chats(y)) == (1, 1)
        x.set_fault("status", code=503)
        replies = [orch.ask(f"q{i}") for i in range(2)]
    assert {r.vessel for r in replies} == {"vllm"} and chats(practice["claude"]) == 0
    assert [(a.host, a.error_kind) for a in replies[0].attempts] == [(label(x.url), "server_error"), (label(y.url), "")]
    assert [a.host for a in replies[1].attempts] == [label(y.url)]  # x cools down meanwhile


# --- health -------------------------------------------------------------------------------------
def test_a_pool_is_healthy_while_any_host_is(pool, practice):
    a, b = pool["ollama0"], pool["ollama1"]
    with orchestrator(practice, ollama_pool(a, b)) as orch:
        a.set_fault("down")
        health = orch.check_health(["ollama"])["ollama"]
        assert health.ok and health.detail.startswith("1 of 2 hosts up; down: " + label(a.url))
        b.set_fault("down")
        health = orch.check_health(["ollama"])["ollama"]
        assert not health.ok and health.detail.startswith("0 of 2 hosts up")


def test_a_pool_of_vllm_like_hosts_is_healthy(practice):
    # vLLM routes GET /v1/models only: each host's 404 for /v1/models/{id} sends the probe to the list
    hosts = [PracticeServer("openai", pace=0.0, like="vllm", models=["Qwen/Qwen2.5-7B-Instruct"]) for _ in range(2)]
    for srv in hosts:
        srv.start()
    try:
        urls = [srv.base_url for srv in hosts]
        vessel = vnb.OpenAIAdapter(
            "Qwen/Qwen2.5-7B-Instruct", base_url=urls, api_key=practice_key("openai"), local=True
        )
        with orchestrator(practice, vessel, name="vllm") as orch:
            health = orch.check_health(["vllm"])["vllm"]
            assert health.ok and health.detail == "2 of 2 hosts up", health.detail
            hosts[0].models = ["another-model"]
            health = orch.check_health(["vllm"])["vllm"]
            assert health.ok and health.detail.startswith(
                f"1 of 2 hosts up; down: {label(hosts[0].url)}: model 'Qwen/Qwen2.5-7B-Instruct' is not served"
            )
    finally:
        for srv in hosts:
            srv.stop()


# --- the address ----------------------------------------------------------------------------------
def test_one_address_is_not_a_pool():
    one = vnb.OllamaAdapter(base_url="127.0.0.1:11434")
    assert one.hosts == ("http://127.0.0.1:11434",) and not one.is_pool and one.host_views() == [one]
    assert vnb.OllamaAdapter(base_url=["127.0.0.1:11434"]).hosts == one.hosts
    two = vnb.OllamaAdapter(base_url=["127.0.0.1:11434", "127.0.0.2"])
    assert two.is_pool and two.hosts == ("http://127.0.0.1:11434", "http://127.0.0.2:11434")
    assert two.describe()["base_url"] == "http://127.0.0.1:11434, http://127.0.0.2:11434"


def test_the_passwords_of_every_host_stay_out_of_what_is_shown():
    pool = vnb.OllamaAdapter(base_url=["http://u:pw-one-77@127.0.0.1:1", "http://u:pw-two-88@127.0.0.1:2"])
    shown = repr(pool) + str(pool.describe()) + " ".join(v.host_label for v in pool.host_views())
    assert "pw-one-77" not in shown and "pw-two-88" not in shown and "127.0.0.1:2" in shown
    assert pool.redact("the proxy said pw-two-88") == pool.host_views()[0].redact("the proxy said pw-two-88")
    assert "pw-two-88" not in pool.redact("the proxy said pw-two-88")


def test_locality_follows_an_address_changed_later():
    one = vnb.OllamaAdapter(base_url="127.0.0.1:11434")
    one.base_url = f"http://{OFF_MACHINE}:11434"
    assert one.hosts == (one.base_url,) and not one.local


def test_the_environment_names_one_host(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")
    assert vnb.OllamaAdapter().hosts == ("http://127.0.0.1:11500",)


@pytest.mark.parametrize(
    "urls, message",
    [
        ([], r"base_url is an empty list; give at least one address, e\.g\. \['http://127\.0\.0\.1:11434'\]"),
        (["127.0.0.1:11434", 11435], r"base_url\[1\] must be text like .*, not int 11435"),
        (
            ["127.0.0.1:11434", "http://127.0.0.1:11434/"],
            r"names http://127\.0\.0\.1:11434 twice \(base_url\[0\] and base_url\[1\]\)",
        ),
        (["127.0.0.1:11434", "ftp://x"], r"must start with http:// or https://"),
        ({"a": 1}, r"base_url must be text like .* or a list of such addresses"),
    ],
)
def test_a_bad_pool_is_one_clear_error(urls, message):
    with pytest.raises(vnb.ConfigError, match=message):
        vnb.OllamaAdapter(base_url=urls)


# --- the log ----------------------------------------------------------------------------------------
def test_an_older_log_file_gains_the_host_column(pool, practice, tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE attempts ("call_id" TEXT, "attempt" INTEGER, "vessel" TEXT, "outcome" TEXT)')
    conn.execute("INSERT INTO attempts VALUES ('old', 1, 'ollama', 'ok')")
    conn.commit()
    conn.close()
    with orchestrator(practice, ollama_pool(pool["ollama0"], pool["ollama1"]), log_path=path) as orch:
        orch.ask("hello")
        df = orch.log.load_all()
    assert list(df.call_id)[0] == "old" and pd.isna(df.host.iloc[0])
    assert df.host.iloc[1] == label(pool["ollama0"].url)
    assert CallLog(path).load_all().host.iloc[1] == label(pool["ollama0"].url)


# --- locality ------------------------------------------------------------------------------------------
def test_a_pool_is_local_only_if_every_host_is():
    assert vnb.OllamaAdapter(base_url=["127.0.0.1:1", "[::1]:2", "localhost:3"]).local
    mixed = vnb.OllamaAdapter(base_url=["127.0.0.1:1", f"{OFF_MACHINE}:2"])
    assert not mixed.local and not mixed.is_loopback
    assert all(not v.local for v in mixed.host_views())  # no host is local on its own
    assert vnb.OllamaAdapter(base_url=["127.0.0.1:1", f"{OFF_MACHINE}:2"], local=True).local  # declared


def test_a_private_call_sends_no_byte_to_a_pool_with_a_host_off_this_machine(pool, practice, netguard):
    trap = ByteTrap(pool["ollama2"].port).start()  # a host that would answer, if it were asked
    try:
        url = f"http://127.0.0.1:{trap.port}"
        mixed = vnb.OllamaAdapter(model=MODELS["ollama"], base_url=[url, f"http://{OFF_MACHINE}:11434"])
        vessels = {"lan": mixed, "ollama": ollama_pool(pool["ollama0"]), "claude": practice.adapters()["claude"]}
        with vnb.AIOrchestrator(vessels, log_path=False, timeouts=PATIENT) as orch:
            reply = orch.ask("my private note", task={"private": True})
            assert reply.vessel == "ollama"  # the mixed pool was first in priority, and passed over
            with pytest.raises(vnb.NoLocalVessel, match="not a local vessel"):
                orch.ask("my private note", vessel="lan", task={"heartbeat": True})
            pool["ollama0"].set_fault("down")
            with pytest.raises(vnb.NoLocalVessel):
                orch.ask("my private note", task={"private": True})
        assert (trap.connections, trap.received) == (0, b"") and chats(pool["ollama2"]) == 0
        assert netguard.refused == [] and chats(practice["claude"]) == 0
    finally:
        trap.stop()


def test_a_pool_that_is_not_declared_local_gets_no_private_byte(pool, practice):
    traps = [ByteTrap(pool["openai0"].port).start(), ByteTrap(pool["openai1"].port).start()]
    try:
        # OpenAI-compatible servers are never local by default, even on loopback
        urls = [f"http://127.0.0.1:{t.port}/v1" for t in traps]
        vllm = vnb.OpenAIAdapter(model=MODELS["openai"], base_url=urls, api_key=practice_key("openai"))
        vessels = {"vllm": vllm, "ollama": ollama_pool(pool["ollama0"], pool["ollama1"])}
        with vnb.AIOrchestrator(vessels, log_path=False, timeouts=PATIENT) as orch:
            for i in range(4):
                assert orch.ask(f"private {i}", task={"private": True}).vessel == "ollama"
            assert orch.ask("open").vessel == "vllm"  # the traps do pass on what may go there
        assert traps[0].connections + traps[1].connections == 1
        assert b"private" not in traps[0].received + traps[1].received
    finally:
        for t in traps:
            t.stop()


def test_each_host_of_a_local_pool_is_checked_at_connect(pool, practice, monkeypatch, netguard):
    async def resolve(host: str, port: int) -> list[str]:
        return {"ollama.localhost": [OFF_MACHINE]}[host]

    monkeypatch.setattr(locality, "resolver", resolve)
    a, b = pool["ollama0"], pool["ollama1"]
    claims = vnb.OllamaAdapter(model=MODELS["ollama"], base_url=[f"ollama.localhost:{a.port}", b.base_url])
    assert claims.local  # every host claims to be on this machine...
    with orchestrator(practice, claims) as orch:
        reply = orch.ask("my private note", task={"private": True})
    # ...and the one that resolves elsewhere is refused before a byte, the call answered by b
    assert [(x.host, x.outcome) for x in reply.attempts] == [
        (f"ollama.localhost:{a.port}", "error"),
        (label(b.url), "ok"),
    ]
    assert "not on this machine" in reply.attempts[0].error
    assert netguard.refused == [] and chats(a) == 0 and chats(practice["claude"]) == 0

"""orch.map and privacy: a run whose prompts are private sends not one byte to a cloud
vessel — routed or compared, across fallback and 429 pacing retries — and a comparison
that names a cloud vessel says per pair what happened (refused, or private turns withheld).

The cloud vessels here point at byte traps (tests/reliability/traps.py): counting proxies in
front of the practice cloud servers, so what may go to the cloud is answered, and "nothing
was sent" is measured in bytes, not inferred from requests a server understood.
"""

from __future__ import annotations

import pytest

import vessel_nb as vnb
from vessel_nb.practice import PracticeServer
from vessel_nb.practice.fleet import MODELS

from .conftest import PATIENT
from .reliability.traps import cloud_adapters, start_traps

SECRET = "patient-record-51c9"
CHAT = "/api/chat"


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture(scope="module")
def second_ollama():
    """Another local Ollama (practice), for fallback between local vessels."""
    srv = PracticeServer("ollama", pace=0.0, vessel="ollama2").start()
    yield srv
    srv.stop()


@pytest.fixture
def traps(practice):
    made = start_traps(practice)
    yield made
    for trap in made.values():
        trap.stop()


@pytest.fixture
def orch(practice, second_ollama, traps):
    """Two local Ollamas, then three cloud vessels whose addresses are byte traps."""
    second_ollama.clear_fault()
    second_ollama.requests.clear()
    vessels = {
        "ollama": practice.adapters()["ollama"],
        "ollama2": vnb.OllamaAdapter(model=MODELS["ollama"], base_url=second_ollama.base_url),
        **cloud_adapters(practice, traps),
    }
    o = vnb.AIOrchestrator(vessels, log_path=False, timeouts=PATIENT)
    yield o
    o.close()
    second_ollama.clear_fault()


def untouched(traps) -> bool:
    return all((t.connections, t.received) == (0, b"") for t in traps.values())


def private_list(text: str) -> list[dict]:
    return [{"role": "user", "content": text, "private": True}]


PROMPTS = [f"q{i} {SECRET}" for i in range(4)]


def test_a_routed_private_run_falls_back_only_to_local_vessels(orch, practice, second_ollama, traps):
    practice["ollama"].set_fault("down")
    run = orch.map(PROMPTS, task={"private": True}, progress=False).wait(timeout=60)
    marked = orch.map([private_list(p) for p in PROMPTS], progress=False).wait(timeout=60)
    for df in (run.df, marked.df):
        assert list(df.outcome) == ["ok"] * 4 and set(df.vessel) == {"ollama2"}
    assert untouched(traps)


def test_a_private_run_paced_by_429s_still_sends_nothing_to_the_cloud(orch, practice, second_ollama, traps):
    # both local vessels answer 429 at first: the routed call fails on every local vessel,
    # the run pauses and asks again — and the cloud vessels, ready all along, get nothing
    for srv in (practice["ollama"], second_ollama):
        srv.set_fault("status", code=429, retry_after=1, times=2)
    run = orch.map(PROMPTS[:2], task={"heartbeat": True}, concurrency=1, progress=False).wait(timeout=90)
    df = run.df
    assert list(df.outcome) == ["ok", "ok"] and set(df.vessel) <= {"ollama", "ollama2"}
    assert run.pacing["auto"]["rate_limited"] >= 1 and df.retries.sum() >= 1
    assert untouched(traps)


def test_when_no_local_vessel_answers_a_private_run_fails_closed(orch, practice, second_ollama, traps):
    practice["ollama"].set_fault("down")
    second_ollama.set_fault("down")
    df = orch.map(PROMPTS[:2], task={"private": True}, progress=False).wait(timeout=60).df
    assert list(df.outcome) == ["refused", "refused"]
    assert df.error.str.contains("never goes to the cloud").all()
    assert untouched(traps)


def test_a_comparison_naming_cloud_vessels_refuses_those_pairs_in_words(orch, traps):
    run = orch.map(PROMPTS[:2], vessels=["ollama", "claude", "openai"], task={"private": True}, progress=False)
    df = run.wait(timeout=60).df.set_index(["prompt_id", "vessel"])
    for pid in ("0", "1"):
        assert df.loc[(pid, "ollama"), "outcome"] == "ok"
        for cloud in ("claude", "openai"):
            row = df.loc[(pid, cloud)]
            assert row.outcome == "refused" and row.error_kind == "private"
            assert f"asked for {cloud!r}, which is not a local vessel" in row.error
    assert untouched(traps)


def test_in_a_mixed_set_only_the_prompts_marked_private_stay_home(orch, traps):
    prompts = {"open": "q0 an open question", "mine": private_list(PROMPTS[1])}
    df = orch.map(prompts, vessels=["ollama", "claude"], progress=False).wait(timeout=60).df
    df = df.set_index(["prompt_id", "vessel"])
    assert df.loc[("mine", "ollama"), "outcome"] == "ok" and df.loc[("mine", "claude"), "outcome"] == "refused"
    assert df.loc[("open", "ollama"), "outcome"] == df.loc[("open", "claude"), "outcome"] == "ok"
    # the open prompt went through the cloud trap: the trap sees what is sent
    assert b"an open question" in traps["claude"].received
    assert SECRET.encode() not in traps["claude"].received
    assert untouched({k: t for k, t in traps.items() if k != "claude"})


def test_private_turns_of_a_prompt_are_withheld_from_a_cloud_pair_and_the_row_says_so(practice):
    history = [
        {"role": "user", "content": f"earlier {SECRET}", "private": True},
        {"role": "assistant", "content": f"noted {SECRET}", "private": True},
        {"role": "user", "content": "q0 an open question"},
    ]
    with practice.orchestrator(log_path=False, timeouts=PATIENT) as orch:
        df = orch.map([history], vessels=["ollama", "claude"], progress=False).wait(timeout=60).df
    assert list(df.outcome) == ["ok", "ok"] and list(df.withheld) == [0, 2]
    sent_to_cloud = b"".join(r.body for r in practice["claude"].requests)
    assert b"an open question" in sent_to_cloud and SECRET.encode() not in sent_to_cloud
    assert SECRET.encode() in b"".join(r.body for r in practice["ollama"].requests if r.path == CHAT)

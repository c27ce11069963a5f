"""Locality by address: a local vessel connects only to checked loopback addresses.

Names are resolved by a fake resolver (never real DNS), and a guard on socket connects
refuses and records any attempt to leave loopback (see tests/netguard.py).
"""

from __future__ import annotations

import pytest

import vessel_nb as vnb
from vessel_nb import locality
from vessel_nb.practice.fleet import MODELS

from .conftest import PATIENT

OFF_MACHINE = "203.0.113.7"  # TEST-NET-3: documentation only, never routed


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: a dict of name -> addresses, and the names it was asked."""
    table: dict[str, list[str]] = {}
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in table:
            raise OSError(f"fake DNS: no such name {host}")
        return table[host]

    monkeypatch.setattr(locality, "resolver", resolve)
    resolve.table, resolve.asked = table, asked
    return resolve


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0:0:0:0:0:ffff:7f00:2", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost", False),  # a name is never loopback by its spelling
        ("", False),
    ],
)
def test_loopback_is_decided_by_the_address(host, loopback):
    assert locality.loopback_ip(host) is loopback


def _orch(practice, host: str, **kw):
    port = practice["ollama"].port
    vessels = practice.adapters()
    vessels["ollama"] = vnb.OllamaAdapter(model=MODELS["ollama"], base_url=f"http://{host}:{port}", **kw)
    return vnb.AIOrchestrator(vessels, log_path=False, timeouts=PATIENT)


def test_a_localhost_name_is_resolved_checked_and_the_checked_address_used(practice, dns, netguard):
    dns.table["ollama.localhost"] = ["127.0.0.1"]
    with _orch(practice, "ollama.localhost") as orch:
        reply = orch.ask("hello", task={"private": True})
    assert reply.vessel == "ollama" and reply.local
    assert dns.asked == ["ollama.localhost"]
    assert practice["ollama"].requests[-1].headers["host"].startswith("ollama.localhost:")  # Host kept


def test_a_name_resolving_off_the_machine_is_refused_before_a_byte_is_sent(practice, dns, netguard):
    dns.table["ollama.localhost"] = ["127.0.0.1", OFF_MACHINE]
    with _orch(practice, "ollama.localhost") as orch:
        with pytest.raises(vnb.NoLocalVessel) as info:
            orch.ask("my private note", task={"private": True})
    text = str(info.value)
    assert f"resolves to {OFF_MACHINE}, which is not on this machine" in text and "Nothing was sent" in text
    assert netguard.refused == []  # refused by vessel_nb before any connect
    for srv in practice:
        assert srv.requests == []


def test_dns_is_checked_again_for_every_new_connection(practice, dns, netguard):
    dns.table["localhost"] = ["127.0.0.1"]
    with _orch(practice, "localhost") as orch:
        orch.ask("one", vessel="ollama")
    dns.table["localhost"] = [OFF_MACHINE]  # the answer changed
    with _orch(practice, "localhost") as orch:
        with pytest.raises(vnb.AllVesselsFailed, match="not on this machine"):
            orch.ask("two", vessel="ollama")
    assert dns.asked == ["localhost", "localhost"]
    assert len(practice["ollama"].requests) == 1


def test_health_probes_and_capability_questions_are_checked_too(practice, dns, netguard):
    dns.table["ollama.localhost"] = [OFF_MACHINE]
    with _orch(practice, "ollama.localhost") as orch:
        health = orch.check_health(["ollama"])["ollama"]
        assert not health.ok and "not on this machine" in health.detail
        with pytest.raises(vnb.AllVesselsFailed):
            orch.ask("look", task={"private": True, "needs_vision": True})
    assert practice["ollama"].requests == []


def test_a_name_that_does_not_claim_loopback_is_not_local():
    assert not vnb.OllamaAdapter(base_url="http://ollama.example:11434").local
    assert vnb.OllamaAdapter(base_url="http://ollama.localhost:11434").local  # claims, then checked


def test_a_proxy_from_the_environment_never_carries_a_local_call(practice, monkeypatch, netguard):
    monkeypatch.setenv("HTTP_PROXY", f"http://{OFF_MACHINE}:3128")
    monkeypatch.setenv("ALL_PROXY", f"http://{OFF_MACHINE}:3128")
    with _orch(practice, "127.0.0.1") as orch:
        assert orch.ask("private", task={"private": True}).vessel == "ollama"

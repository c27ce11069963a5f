"""Shared fixtures: one fleet of practice servers per test session, reset between tests."""

from __future__ import annotations

import pytest

from vessel_nb import Timeouts

#: limits for every test that is not about a time limit: a practice reply starts in
#: milliseconds, but a loaded 2-core CI machine can take seconds, and that must not turn a
#: normal answer into a timeout
PATIENT = Timeouts(connect=5.0, first_token=30.0, idle=30.0, total=120.0)

#: a test about a hang shortens only the limit that hang runs into (the rest stay patient)
HANG_LIMITS = {
    "hang_headers": PATIENT.replace(first_token=1.0),
    "slow_first_token": PATIENT.replace(first_token=1.0),
    "hang_mid_stream": PATIENT.replace(idle=1.0),
}


@pytest.fixture(scope="session")
def fleet():
    """The four practice vessels on 127.0.0.1, started once."""
    from vessel_nb.practice import PracticeFleet

    f = PracticeFleet(pace=0.0)
    f.start()
    yield f
    f.stop()


@pytest.fixture
def practice(fleet):
    """The fleet, with every server up, fault-free and its request records cleared."""
    for name in fleet.names:
        srv = fleet[name]
        srv.clear_fault()
        if not srv.running:
            srv.start()
        srv.requests.clear()
    yield fleet
    for name in fleet.names:
        fleet[name].clear_fault()
        if not fleet[name].running:
            fleet[name].start()


@pytest.fixture
def orch(practice, tmp_path):
    """An orchestrator over the practice fleet, logging to a temporary SQLite file."""
    o = practice.orchestrator(log_path=tmp_path / "calls.sqlite3", timeouts=PATIENT)
    yield o
    o.close()


@pytest.fixture
def netguard(monkeypatch):
    """Refuses and records any connection off loopback; a test that tried fails at teardown
    (tests/netguard.py). Modules use it with ``pytestmark = pytest.mark.usefixtures("netguard")``."""
    from .netguard import guarded

    yield from guarded(monkeypatch)

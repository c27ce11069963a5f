"""Shared fixtures: one fleet of practice servers per test session, reset between tests."""

from __future__ import annotations

import pytest

from vessel_nb import Timeouts

#: short limits so hung-vessel tests finish quickly; a practice reply starts in milliseconds
FAST = Timeouts(connect=2.0, first_token=1.0, idle=1.0, total=10.0)


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
    o = practice.orchestrator(log_path=tmp_path / "calls.sqlite3", timeouts=FAST)
    yield o
    o.close()

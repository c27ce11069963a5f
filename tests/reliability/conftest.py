"""Servers the reliability suites share: each module that asks for one gets its own."""

from __future__ import annotations

import pytest

from vessel_nb.practice import PracticeFleet

from .echo import EchoServer
from .loopback import ask_shell
from .traps import jupyter_servers_left, start_traps


@pytest.fixture(scope="module")
def fleet():
    with PracticeFleet(pace=0.0) as f:
        yield f


@pytest.fixture(scope="module")
def traps(fleet):
    """Byte-counting traps posing as the cloud vessels, in front of the practice fleet."""
    # A Jupyter server still running reconnects to the ports of kernels it shut down; a trap
    # given one of them would count its greeting. The browser tests' servers end with them.
    left = jupyter_servers_left()
    assert not left, f"a Jupyter server an earlier test started is still running: {left[0][:200]}"
    t = start_traps(fleet)
    yield t
    for trap in t.values():
        trap.stop()


@pytest.fixture(scope="module")
def shell():
    yield from ask_shell()


@pytest.fixture(scope="module")
def echo():
    """A hostile server that echoes each key back in every form (echo.py)."""
    srv = EchoServer().start()
    yield srv
    srv.stop()

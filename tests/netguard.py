"""Tests never send a packet off this machine: a guard on socket connects that refuses any
non-loopback address and records the attempt, so a test that tried fails at teardown."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from vessel_nb.locality import loopback_ip


class NetGuard:
    """Records every refused (non-loopback) connection attempt."""

    def __init__(self) -> None:
        self.refused: list[object] = []

    def _check(self, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(host, str) and not loopback_ip(host):
            self.refused.append(address)
            raise ConnectionRefusedError(f"test guard: refused a connection to {address!r} (not loopback)")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetGuard:
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

        def connect(sock: socket.socket, address: object) -> None:
            self._check(address)
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: object) -> int:
            self._check(address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        return self


def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetGuard]:
    """Body of a ``netguard`` fixture: refuse and record any connection off loopback, and
    fail the test if one was tried."""
    guard = NetGuard().install(monkeypatch)
    yield guard
    assert guard.refused == [], f"a test tried to connect off this machine: {guard.refused}"

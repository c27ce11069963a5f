"""Whether an address is on this machine — decided by the address, at connection time.

A host is loopback only when it is a loopback IP literal (127.0.0.0/8, ``::1``, or an
IPv4-mapped ``::ffff:127.x.y.z``) or a name whose *every* resolved address is one. A name
such as ``localhost`` or ``ollama.localhost`` only *claims* to be local: some resolvers send
``*.localhost`` to DNS, which may answer with an address off the machine, and DNS can change
between two calls. So a local vessel's connections go through :class:`LoopbackOnly`, which
resolves the name itself, refuses before a byte is sent unless every address is loopback,
and then connects to the address it checked (TLS still verifies the name; the ``Host``
header is unchanged).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def loopback_ip(text: str) -> bool:
    """``text`` is an IP literal on this machine (127/8, ::1, ::ffff:127.x)."""
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@functools.lru_cache(maxsize=256)  # asked several times per call (adapter.local); ipaddress is slow
def claims_loopback(host: str) -> bool:
    """The host is a loopback literal, or a name meant for this machine (to be checked)."""
    host = host.lower().rstrip(".")
    return loopback_ip(host) or host in _LOCAL_NAMES or host.endswith(".localhost")


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


Resolver = Callable[[str, int], Awaitable[list[str]]]

resolver: Resolver = _system_resolve
"""How names are resolved (tests replace it with a fake; nothing else should)."""


class NotLocalAddress(httpcore.ConnectError):
    """A local vessel's host is not (or no longer) on this machine; nothing was sent."""


async def checked_address(host: str, port: int) -> str:
    """The loopback address to connect to for ``host``; NotLocalAddress when any is not."""
    if loopback_ip(host):
        return host.strip("[]")
    try:
        found = await resolver(host, port)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    outside = sorted({a for a in found if not loopback_ip(a)})
    if not found or outside:
        where = ", ".join(outside) if outside else "no address"
        raise NotLocalAddress(
            f"refused to connect: {host} resolves to {where}, which is not on this machine; "
            "a local vessel must have a loopback address (127.0.0.1 or ::1). Nothing was sent"
        )
    return found[0]


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to checked loopback addresses."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise NotLocalAddress("a local vessel connects over TCP to a loopback address only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def loopback_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through :class:`LoopbackOnly`."""
    # httpx takes no network backend argument; its pool is an httpcore pool, which does.
    # verify=False only spares building a CA context that is replaced at once: the pool below
    # has ssl_context=None, so httpcore builds its verifying default if TLS is ever used.
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False, verify=False)
    transport._pool = httpcore.AsyncConnectionPool(
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        ssl_context=None,
        network_backend=LoopbackOnly(),
    )
    return transport

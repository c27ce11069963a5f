"""Trap servers for the privacy suite: loopback proxies that count every byte they receive.

A trap listens on 127.0.0.1, forwards each connection to a practice server (so calls that
may go to the cloud still get real answers in the provider's wire protocol) and keeps every
byte a client sent it. Adapters pointed at a trap are made with ``local=False``: to
vessel_nb they are cloud vessels, so anything private that reaches a trap is a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

from vessel_nb import ClaudeAdapter, GeminiAdapter, OpenAIAdapter
from vessel_nb.practice.fleet import MODELS, practice_key

from .loopback import LoopbackServer


class ByteTrap(LoopbackServer):
    """A counting TCP proxy in its own thread."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self._received = bytearray()
        self.connections = 0
        self.foreign: list[bytes] = []  # connections from other programs, not counted
        self._lock = threading.Lock()

    @property
    def received(self) -> bytes:
        """Every byte any client sent to this trap since the last reset()."""
        with self._lock:
            return bytes(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            first = count
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if first and _is_zmtp(data):
                        # A ZeroMQ client of a dead Jupyter kernel (a Jupyter server left
                        # running keeps reconnecting to its ports) may reach this trap when
                        # the OS reuses one of them: that greeting is not vessel_nb's (which
                        # speaks only HTTP). conftest's traps fixture checks no such server
                        # of this session is left; this guard stays for any other program.
                        self.foreign.append(bytes(data))
                        break
                    first = False
                    if count:
                        with self._lock:
                            self._received += data
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


def jupyter_servers_left() -> list[str]:
    """Command lines of the Jupyter servers this test process started and has not stopped
    (read from /proc; an empty list where there is none)."""
    me, left = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == me and any(m in cmd for m in ("-m jupyterlab", "-m notebook", "jupyter_server", "jupyter-lab")):
            left.append(cmd.strip())
    return left


def _is_zmtp(data: bytes) -> bool:
    """The 10-byte ZeroMQ (ZMTP 3) signature: 0xFF, 8 bytes, 0x7F."""
    return len(data) >= 10 and data[0] == 0xFF and data[9] == 0x7F


CLOUD = {
    "claude": ("anthropic", ClaudeAdapter),
    "openai": ("openai", OpenAIAdapter),
    "gemini": ("gemini", GeminiAdapter),
}
"""vessel name -> (practice server, adapter class) of the vessels that pose as cloud"""


def start_traps(fleet) -> dict[str, ByteTrap]:
    """One trap in front of each cloud practice server."""
    return {name: ByteTrap(fleet[server].port).start() for name, (server, _cls) in CLOUD.items()}


def cloud_adapters(fleet, traps: dict[str, ByteTrap]) -> dict:
    """Cloud adapters (local=False) whose address is a trap in front of the practice server."""
    out = {}
    for name, (server, cls) in CLOUD.items():
        srv = fleet[server]
        url = srv.base_url.replace(f":{srv.port}", f":{traps[name].port}", 1)
        out[name] = cls(model=MODELS[server], base_url=url, api_key=practice_key(server), local=False)
    return out

"""A hostile loopback HTTP server for the adversarial tests: whatever holds a port may not be
the provider. It answers every request in one of a few bad ways — a body drip-fed one byte
at a time (so a per-read timeout never fires), an HTML page, JSON of the wrong shape."""

from __future__ import annotations

import asyncio
import contextlib

from .loopback import LoopbackServer

BODIES = {
    "html": b"<html><body>Welcome to nginx!</body></html>",
    "list": b"[1, 2, 3]",
    "wrong_models": b'{"models": {"llava": 1}}',
    "wrong_capabilities": b'{"capabilities": "vision"}',
}
"""a whole (bad) body per mode; ``drip`` sends a never-ending one instead"""


class HostileServer(LoopbackServer):
    """Answers every request according to ``mode``; counts the requests."""

    def __init__(self, mode: str = "drip") -> None:
        super().__init__()
        self.mode = mode
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(v) for k, _, v in (ln.partition(":") for ln in head.decode("latin-1").split("\r\n"))
                 if k.strip().lower() == "content-length"),
                0,
            )  # fmt: skip
            await reader.readexactly(length)
            self.requests += 1
            if self.mode == "drip":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n")
                while True:  # a byte every 50 ms: always within any per-read limit
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.05)
            body = BODIES[self.mode]
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            writer.write(b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

"""Trap servers for the privacy suite: loopback proxies that count every byte they receive.

A trap listens on 127.0.0.1, forwards each connection to a practice server (so calls that
may go to the cloud still get real answers in the provider's wire protocol) and keeps every
byte a client sent it. Adapters pointed at a trap are made with ``local=False``: to
vessel_nb they are cloud vessels, so anything private that reaches a trap is a leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from vessel_nb import ClaudeAdapter, GeminiAdapter, OpenAIAdapter
from vessel_nb.practice.fleet import MODELS, practice_key


class ByteTrap:
    """A counting TCP proxy in its own thread."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="byte-trap", daemon=True)
        self.port = 0

    @property
    def received(self) -> bytes:
        """Every byte any client sent to this trap since the last reset()."""
        with self._lock:
            return bytes(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self.connections = 0

    def start(self) -> ByteTrap:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the byte trap did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if count:
                        with self._lock:
                            self._received += data
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


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

"""What the privacy and key suites share: a raw asyncio server on 127.0.0.1 in its own thread,
and an IPython shell with the %%ask extension loaded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

from IPython.core.interactiveshell import InteractiveShell


class LoopbackServer:
    """Listens on a free 127.0.0.1 port in a thread; subclasses handle each connection."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", 0))
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


def ask_shell() -> Iterator[InteractiveShell]:
    """Body of a module fixture: the in-process IPython shell with vessel_nb's magic loaded."""
    from vessel_nb.magic import load_ipython_extension, unload_ipython_extension

    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    yield shell
    unload_ipython_extension(shell)

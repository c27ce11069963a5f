"""PracticeServer: one provider's practice server on a loopback port, in its own thread.

Each server owns a daemon thread running ``asyncio.run`` with a tornado ``HTTPServer``; the
caller's thread only flips state and waits on futures, so the servers work the same from a
test, a notebook kernel or the CLI. Faults are state on the server that the request
handlers consult (``take_fault``); only "down" needs the loop, because it closes the
listening socket.

Lifecycle: ``start()`` returns once the socket listens; ``stop()`` closes the socket, wakes
every waiting handler, closes open connections and joins the thread; ``restart()`` binds the
same port again. A "generation" (:class:`_Gen`) is created per listening period so handlers
from a closed period stop at once, while hung requests of the current one wait on
``release``.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..adapters.registry import PRACTICE
from .faults import Fault, make_fault
from .handler import RecordedRequest
from .replies import Named, ReplySource

PROVIDERS = PRACTICE
"""provider names a practice server can speak (one module each, from the provider registry)"""

_T = TypeVar("_T")


class _Gen:
    """Events shared by the handlers of one listening period."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()  # set by stop() / "down": every handler ends now
        self.release = asyncio.Event()  # set by clear_fault(): hung handlers go on


class PracticeServer:
    """A loopback HTTP server that speaks one provider's real wire protocol, with canned,
    clearly labelled replies and fault injection for tests and lessons."""

    def __init__(
        self,
        provider: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pace: float = 0.02,
        reply: ReplySource = None,
        models: dict[str, list[str]] | list[str] | None = None,
        api_key: str | None = None,
        vessel: str | None = None,
        like: str | None = None,
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
        if pace < 0:
            raise ValueError("pace must be >= 0 seconds")
        module = importlib.import_module(f"{__package__}.{provider}")
        likes: dict[str, str] = getattr(module, "LIKE", {})
        if like is not None and like not in likes:
            choices = ", ".join(map(repr, likes)) or "none"
            raise ValueError(f"a practice {provider} server cannot behave like {like!r}; it can be like: {choices}")
        self.provider = provider
        self.host = host
        self.port = port
        self.pace = pace
        self.reply = reply
        self.vessel = vessel
        """the vessel name the default reply gives ("claude"); None: the provider's name"""
        self.like = like
        """another server of this protocol whose routes it imitates (the module's ``LIKE``:
        e.g. "vllm" for OpenAI, which answers ``GET /v1/models`` but has no ``/v1/models/{id}``)"""
        self._module = module
        self.models = self._module.normalize_models(models)
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.state: dict[str, Any] = {}  # per-provider bits, e.g. Ollama's loaded models
        self._fault: Fault | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: Any = None
        self._gen: _Gen | None = None
        self._stop_event: asyncio.Event | None = None
        self._down = False

    @property
    def reply(self) -> ReplySource:
        """What the chat endpoints answer: the text or function given, else the labelled
        default reply (under ``vessel``'s name when one is set). Set None to go back to it."""
        if self._reply is None and self.vessel:
            return Named(self.vessel)
        return self._reply

    @reply.setter
    def reply(self, value: ReplySource) -> None:
        self._reply = value

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        like = f" like {self.like}" if self.like else ""
        return f"<PracticeServer {self.provider}{like} {state} port={self.port}>"

    # -- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://host:port`` of the server (the port is known once started)."""
        if not self.port:
            raise RuntimeError("start() the practice server first: its port is picked then")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the matching adapter's ``base_url`` wants (OpenAI's includes ``/v1``)."""
        return self._module.base_url(self.url)

    @property
    def running(self) -> bool:
        """True between start() and stop() (also while a "down" fault refuses connections)."""
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> PracticeServer:
        """Listen and serve in a daemon thread; returns once connections are accepted."""
        if self.running:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(ready, failure)),
            name=f"practice-{self.provider}",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"practice {self.provider} server did not start in {timeout} s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the socket and every open stream; afterwards connections are refused."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        try:
            loop.call_soon_threadsafe(stop_event.set)
        except RuntimeError:
            pass  # loop already closed
        thread.join(timeout)
        self._thread = None

    def restart(self) -> PracticeServer:
        """stop() then start() on the same port (connections in flight are cut)."""
        self.stop()
        return self.start()

    def __enter__(self) -> PracticeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_quiet_exceptions)
        self._stop_event = asyncio.Event()
        self._down = False
        try:
            self._listen()  # binds even when "down", so that port=0 picks the port to keep
            if self._fault is not None and self._fault.kind == "down":
                await self._go_down()  # before `ready`: start() must not return while listening
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            failure.append(exc)
            ready.set()
            return
        ready.set()
        await self._stop_event.wait()
        await self._close_period()

    def _listen(self) -> None:
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        sockets = bind_sockets(self.port, address=self.host)
        self.port = sockets[0].getsockname()[1]
        self._gen = _Gen()
        app = self._module.application(self)
        app.settings["log_function"] = lambda handler: None  # notebooks stay quiet
        self._http = HTTPServer(app)
        self._http.add_sockets(sockets)
        self._down = False

    async def _close_period(self) -> None:
        http, gen = self._http, self._gen
        self._http = None
        if http is None:
            return
        http.stop()  # closes the listening socket: new connections are refused from here
        if gen is not None:
            gen.closed.set()
            gen.release.set()
        try:
            await asyncio.wait_for(http.close_all_connections(), 2.0)
        except TimeoutError:
            pass
        # Let handler coroutines see `closed` and return, so nothing is cancelled mid-write.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _go_down(self) -> None:
        self._down = True
        await self._close_period()

    async def _go_up(self) -> None:
        if self._down and self._http is None:
            self._listen()

    def _call(self, coro_fn: Callable[[], Any], timeout: float = 5.0) -> None:
        loop = self._loop
        if not self.running or loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(coro_fn(), loop)
        if threading.current_thread() is not self._thread:  # never wait on our own loop
            fut.result(timeout)

    # -- faults ------------------------------------------------------------------------
    def set_fault(self, kind: str, *, times: int | None = None, **params: Any) -> None:
        """Make the server fail: see FAULT_KINDS. ``times=N`` limits it to the next N chat
        requests; otherwise it lasts until clear_fault(). "down" affects every endpoint."""
        fault = make_fault(kind, times, params)
        was_down = self._fault is not None and self._fault.kind == "down"
        self._release_hung()
        with self._lock:
            self._fault = fault
        if kind == "down" and not was_down:
            self._call(self._go_down)
        elif kind != "down" and was_down:
            self._call(self._go_up)

    def clear_fault(self) -> None:
        """Back to normal: hung requests go on, a "down" server listens again (same port)."""
        with self._lock:
            was_down = self._fault is not None and self._fault.kind == "down"
            self._fault = None
        self._release_hung()
        if was_down:
            self._call(self._go_up)

    @property
    def fault(self) -> Fault | None:
        """The fault in force, if any."""
        return self._fault

    def take_fault(self) -> Fault | None:
        """For chat handlers: the fault for this request, counting down ``times``."""
        with self._lock:
            fault = self._fault
            if fault is None or fault.kind == "down":
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            return fault

    def _release_hung(self) -> None:
        async def release() -> None:
            gen = self._gen
            if gen is not None:
                gen.release.set()
                gen.release = asyncio.Event()

        self._call(release)

    # -- instrumentation ---------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], _T], timeout: float = 5.0, interval: float = 0.01) -> _T:
        """Poll ``predicate`` until it returns something truthy (returned); TimeoutError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s on practice {self.provider}")
            time.sleep(interval)

    def record(self, request: RecordedRequest) -> None:
        """Called by handlers for every request received."""
        self.requests.append(request)

    def count_disconnect(self) -> None:
        """Called by handlers when a client went away mid-stream."""
        with self._lock:
            self.disconnects += 1

    @property
    def closing_gen(self) -> _Gen:
        """The current listening period's events (for handlers, on the loop thread)."""
        assert self._gen is not None
        return self._gen


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # Cut connections are the whole point of several faults; don't print their tracebacks.
    exc = context.get("exception")
    from tornado.iostream import StreamClosedError

    if isinstance(exc, (StreamClosedError, ConnectionError, asyncio.CancelledError)):
        return
    loop.default_exception_handler(context)

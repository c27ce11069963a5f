"""One background event-loop thread that owns every HTTP client, and the bridges to it.

Why not ``nest_asyncio``: a Jupyter cell already runs inside the kernel's event loop, so
``asyncio.run`` raises there. Patching the loop to re-enter it (nest_asyncio, archived in
2024) was measured to lose kernel messages: "Run All" hangs and widget messages are dropped.
Instead, as ``jupyter_core.utils.run_sync`` does, the async core runs on its own loop in a
daemon thread. The calling thread waits in short slices (``timeout=0.1``) so that a kernel
interrupt lands as KeyboardInterrupt, and then cancels the task on the loop and waits until
it has really stopped (``concurrent.futures.Future.cancel()`` returns before it has).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use (never at import)."""
    global _loop, _thread
    with _lock:
        if _loop is None or not _thread or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="vessel_nb-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def on_loop_thread() -> bool:
    """True when called from the background loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def _refuse_reentry() -> None:
    if on_loop_thread():
        raise RuntimeError(
            "a blocking vessel_nb call was made from inside vessel_nb's own event loop "
            "(for example in an on_chunk callback); use the async API there instead"
        )


def _wait(future: concurrent.futures.Future[T], timeout: float | None) -> T:
    """Wait for a loop future in slices so KeyboardInterrupt is delivered; cancel on interrupt."""
    loop = get_loop()
    try:
        return future.result(timeout=timeout) if timeout is not None else _poll(future)
    except (KeyboardInterrupt, concurrent.futures.TimeoutError):
        loop.call_soon_threadsafe(future.cancel)
        try:
            concurrent.futures.wait([future], timeout=5)
        except KeyboardInterrupt:
            pass
        raise


def _poll(future: concurrent.futures.Future[T]) -> T:
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the background loop and return its result (works in Jupyter)."""
    if on_loop_thread():
        coro.close()  # it will never run: do not leave a "never awaited" warning behind
    _refuse_reentry()
    future = asyncio.run_coroutine_threadsafe(coro, get_loop())
    return _wait(future, timeout)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start a coroutine on the background loop without waiting (for widgets)."""
    return asyncio.run_coroutine_threadsafe(coro, get_loop())


_END = object()


@contextmanager
def iterate_sync(agen_factory: Callable[[], AsyncIterator[T]], *, ticks: bool = False) -> Iterator[Iterator[T | None]]:
    """Consume an async generator that runs on the background loop, from a plain thread.

    Items travel through a ``queue.Queue``; the consumer waits with ``get(timeout=0.1)`` so
    a kernel interrupt lands in it. Leaving the ``with`` block — normally, by ``break``, by
    an exception or by KeyboardInterrupt — cancels the producer and waits until it has
    finished, so nothing keeps running (or writing) after the cell ends.

    ``ticks=True`` also yields ``None`` whenever 0.1 s pass with no item, so a consumer that
    coalesces its output can flush what it holds back during a pause in the stream.
    """
    _refuse_reentry()
    loop = get_loop()
    q: queue.Queue[Any] = queue.Queue()

    async def produce() -> None:
        agen = agen_factory()
        try:
            async for item in agen:
                q.put(item)
        except BaseException as exc:  # noqa: BLE001 — every outcome goes to the consumer
            q.put(_Raised(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            await agen.aclose()
            q.put(_END)

    future = asyncio.run_coroutine_threadsafe(produce(), loop)

    def items() -> Iterator[T]:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if ticks:
                    yield None
                continue
            if item is _END:
                return
            if isinstance(item, _Raised):
                if isinstance(item.exc, asyncio.CancelledError):
                    return
                raise item.exc
            yield item

    try:
        yield items()
    finally:
        if not future.done():
            loop.call_soon_threadsafe(future.cancel)
        try:
            concurrent.futures.wait([future], timeout=10)
        except KeyboardInterrupt:  # a second interrupt while cleaning up: stop waiting
            pass


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def bridge(agen_factory: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
    """Iterate a generator that must run on the background loop from *another* event loop
    (a notebook cell's ``async for``). Each step hops threads; closing cancels the producer."""
    loop = get_loop()
    agen = agen_factory()
    try:
        while True:
            step = asyncio.run_coroutine_threadsafe(_anext(agen), loop)
            try:
                item = await asyncio.wrap_future(step)
            except StopAsyncIteration:
                return
            yield item
    finally:
        closing = asyncio.run_coroutine_threadsafe(agen.aclose(), loop)
        await asyncio.wrap_future(closing)


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()

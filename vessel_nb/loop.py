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
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .handoff import Handoff

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


@contextmanager
def iterate_sync(agen_factory: Callable[[], AsyncIterator[T]], *, ticks: bool = False) -> Iterator[Iterator[T | None]]:
    """Consume an async generator that runs on the background loop, from a plain thread.

    The loop reads ahead and hands items over in batches (see :mod:`.handoff`); the
    consumer waits in 0.1 s slices so a kernel interrupt lands in it. Leaving the ``with``
    block — normally, by ``break``, by an exception or by KeyboardInterrupt — cancels the
    producer and waits until it has finished, so nothing keeps running (or writing) after
    the cell ends.

    ``ticks=True`` also yields ``None`` whenever 0.1 s pass with no item, so a consumer that
    coalesces its output can flush what it holds back during a pause in the stream.
    """
    _refuse_reentry()
    handoff = Handoff(agen_factory, get_loop()).start()

    def items() -> Iterator[T | None]:
        while True:
            batch = handoff.take_sync(0.1)
            if batch is None:
                if ticks:
                    yield None
                continue
            if not batch:
                return
            yield from batch

    try:
        yield items()
    finally:
        handoff.stop_sync()


async def bridge(agen_factory: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
    """Iterate a generator that must run on the background loop from *another* event loop
    (a notebook cell's ``async for``). Items come over in batches (see :mod:`.handoff`);
    closing or cancelling the consumer cancels the producer and waits until it has finished."""
    handoff = Handoff(agen_factory, get_loop()).start()
    try:
        while batch := await handoff.take_async():
            for item in batch:
                yield item
    finally:
        await handoff.stop_async()

"""Callbacks queued for a loop from other threads: one wake-up per batch, in order, each in
its own context, errors reported, and no callback lost to an interrupt or a closed loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from vessel_nb import doorbell


class Counting:
    """Counts the loop's self-pipe wake-ups (``call_soon_threadsafe``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fail: BaseException | None = None) -> None:
        self.loop, self.calls, self.fail = loop, 0, fail
        self.real = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = self  # an instance attribute shadows the method

    def __call__(self, *args):
        self.calls += 1
        if self.fail is not None:
            fail, self.fail = self.fail, None
            raise fail
        return self.real(*args)


def test_callbacks_queued_before_the_loop_gets_to_them_share_one_wake_up():
    loop = asyncio.new_event_loop()
    wakes = Counting(loop)
    bell = doorbell.Doorbell(loop)
    ran = []
    worker = threading.Thread(target=lambda: [bell.ring(ran.append, i) for i in range(100)])
    worker.start()
    worker.join()
    assert ran == [] and wakes.calls == 1  # the loop has not run yet: one byte in its self-pipe
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == list(range(100))  # all of them, in order
    bell.ring(ran.append, 100)  # after the loop ran the queue, the next one rings again
    loop.run_until_complete(asyncio.sleep(0))
    assert ran[-1] == 100 and wakes.calls == 2
    loop.close()


def test_each_callback_runs_in_the_context_it_was_queued_in():
    var = contextvars.ContextVar("var", default="unset")
    loop = asyncio.new_event_loop()
    bell = doorbell.for_loop(loop)
    assert doorbell.for_loop(loop) is bell
    seen = []

    def queue(value):
        var.set(value)
        bell.ring(lambda: seen.append(var.get()))

    for value in ("a", "b"):
        worker = threading.Thread(target=queue, args=(value,))
        worker.start()
        worker.join()
    loop.run_until_complete(asyncio.sleep(0))
    assert seen == ["a", "b"]
    loop.close()


def test_a_failing_callback_is_reported_and_the_others_still_run():
    loop = asyncio.new_event_loop()
    reported = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    bell = doorbell.Doorbell(loop)
    ran = []
    bell.ring(ran.append, 1)
    bell.ring(lambda: 1 / 0)
    bell.ring(ran.append, 2)
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1, 2]
    assert [type(c["exception"]) for c in reported] == [ZeroDivisionError]
    loop.close()


def test_an_interrupted_ring_loses_nothing():
    loop = asyncio.new_event_loop()
    wakes = Counting(loop, fail=KeyboardInterrupt())
    bell = doorbell.Doorbell(loop)
    ran = []
    with pytest.raises(KeyboardInterrupt):
        bell.ring(ran.append, 1)  # queued, but the loop was not rung
    bell.ring(ran.append, 2)  # so this one rings
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1, 2] and wakes.calls == 2
    loop.close()


def test_an_interrupt_inside_a_callback_keeps_the_callbacks_after_it():
    # On a notebook's own loop a kernel interrupt can land in any callback; the wake-ups
    # queued after it belong to other streams and must still run.
    loop = asyncio.new_event_loop()
    bell = doorbell.Doorbell(loop)
    ran = []

    def interrupted():
        raise KeyboardInterrupt

    bell.ring(ran.append, 1)
    bell.ring(interrupted)
    bell.ring(ran.append, 2)
    bell.ring(ran.append, 3)
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1]
    bell.ring(ran.append, 4)  # queued after the ones put back
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1, 2, 3, 4]
    loop.close()


def test_a_ring_lost_between_two_steps_is_rung_again_later():
    loop = asyncio.new_event_loop()
    wakes = Counting(loop)
    bell = doorbell.Doorbell(loop)
    ran = []
    # as if interrupted after marking the loop rung and before ringing it
    bell._queued.append((contextvars.copy_context(), ran.append, (1,)))
    bell._rung = time.monotonic()
    bell.ring(ran.append, 2)  # recent: taken as rung, not rung again
    assert wakes.calls == 0
    bell._rung -= doorbell._RING_AGAIN
    bell.ring(ran.append, 3)  # the ring is too old to wait for: rung again
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == [1, 2, 3] and wakes.calls == 1
    loop.close()


def test_a_closed_loop_is_an_error_and_keeps_nothing():
    loop = asyncio.new_event_loop()
    loop.close()
    bell = doorbell.Doorbell(loop)
    with pytest.raises(RuntimeError, match="closed"):
        bell.ring(print, "never")
    assert bell._queued == []

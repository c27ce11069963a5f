"""The batched hand-over from the background loop: batching, backpressure, first item,
cancellation, exceptions and interrupts. Nothing here measures time."""

from __future__ import annotations

import _thread
import asyncio
import threading
from contextlib import aclosing

import pytest

from vessel_nb import loop as bg
from vessel_nb.handoff import Handoff


class Source:
    """An async generator factory that records how far it got and whether it was closed."""

    def __init__(self, n: int | None = None, *, fail_after: int | None = None, hang_after: int | None = None):
        self.n, self.fail_after, self.hang_after = n, fail_after, hang_after
        self.produced = 0
        self.closed = threading.Event()

    async def gen(self):
        try:
            i = 0
            while self.n is None or i < self.n:
                if self.fail_after is not None and i == self.fail_after:
                    raise ValueError("broken stream")
                if self.hang_after is not None and i == self.hang_after:
                    await asyncio.Event().wait()
                self.produced += 1
                yield i
                i += 1
        finally:
            self.closed.set()


def _poll(predicate, timeout: float = 5.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")


def _drain(h: Handoff) -> list[list[int]]:
    batches = []
    while (batch := h.take_sync(0.1)) != []:
        if batch is not None:
            batches.append(list(batch))
    return batches


def test_the_first_item_comes_alone_then_items_come_in_batches_with_one_wakeup_each():
    src = Source(5000)
    h = Handoff(src.gen, bg.get_loop(), limit=256).start()
    batches = _drain(h)
    assert [i for b in batches for i in b] == list(range(5000))
    assert batches[0] == [0]  # handed over before the rest is parsed: a prompt first token
    assert len(batches) < 5000 / 10  # read ahead, not one hop per item
    assert max(len(b) for b in batches) <= 256
    # each batch costs at most one wake-up each way (consumer woken, producer freed)
    assert h.wakeups <= 2 * len(batches) + 1
    assert src.closed.is_set()


def test_items_parsed_in_one_go_wake_a_waiting_consumer_once_when_the_producer_pauses():
    """A response's bytes arrive at once and hold many items: waking the consumer per item
    made the two threads take turns item by item (17 wake-ups for a 20-token answer)."""
    h = Handoff(Source(0).gen, bg.get_loop())
    h._first = False  # past the first item, which is handed over alone (tested above)
    woken = []

    async def produce_three() -> tuple[int, int]:
        h._wake = lambda: woken.append(len(h._items))  # the consumer waits
        for i in range(3):
            await h._put(i)  # no pause between items: nothing is handed over yet
        before = len(woken)
        await asyncio.sleep(0)  # the producer gives the loop a turn (it waits for data)
        return before, len(woken)

    assert bg.run_sync(produce_three(), timeout=5) == (0, 1)
    assert woken == [3]  # one wake-up, all three items ready


def test_a_long_run_of_items_wakes_a_waiting_consumer_at_batch_size_without_a_pause():
    from vessel_nb.handoff import BATCH

    h = Handoff(Source(0).gen, bg.get_loop())
    h._first = False
    woken = []

    async def produce() -> None:
        h._wake = lambda: woken.append(len(h._items))
        for i in range(BATCH):
            await h._put(i)  # no pause: the consumer is not left idle until the limit

    bg.run_sync(produce(), timeout=5)
    assert woken == [BATCH]


def test_a_slow_consumer_holds_the_producer_at_the_limit():
    src = Source()  # endless
    h = Handoff(src.gen, bg.get_loop(), limit=8).start()
    assert list(h.take_sync(5)) == [0]
    _poll(lambda: h._space is not None and src.produced > 1)  # the producer waits for room
    assert src.produced == 1 + 8
    assert list(h.take_sync(5)) == list(range(1, 9))
    _poll(lambda: h._space is not None and src.produced > 9)
    assert src.produced == 1 + 8 + 8
    h.stop_sync()
    assert src.closed.is_set()  # stop waited for the producer's clean-up


def test_an_exception_arrives_after_the_items_and_after_the_clean_up():
    src = Source(10, fail_after=3)
    seen = []
    with pytest.raises(ValueError, match="broken stream"):
        with bg.iterate_sync(src.gen) as items:
            for item in items:
                seen.append(item)
    assert seen == [0, 1, 2]
    assert src.closed.is_set()


def test_leaving_the_block_early_cancels_the_producer_and_waits_for_it():
    src = Source(hang_after=2)
    with bg.iterate_sync(src.gen) as items:
        for item in items:
            if item == 1:
                break
    assert src.closed.is_set()


def test_stop_before_the_producer_started_opens_nothing():
    src = Source(3)
    h = Handoff(src.gen, bg.get_loop())
    h._cancelled = True  # as if stopped before the loop ran the start
    h.start()
    assert h.take_sync(5) == []
    assert src.produced == 0


def test_a_kernel_interrupt_while_waiting_stops_the_producer():
    src = Source(hang_after=1)
    with pytest.raises(KeyboardInterrupt):
        with bg.iterate_sync(src.gen) as items:
            for _ in items:
                _thread.interrupt_main()  # lands while the consumer waits for the next item
    assert src.closed.is_set()


def test_ticks_come_during_silence():
    src = Source(hang_after=1)
    got = []
    with bg.iterate_sync(src.gen, ticks=True) as items:
        for item in items:
            got.append(item)
            if item is None:
                break
    assert got == [0, None]
    assert src.closed.is_set()


def test_bridge_from_another_event_loop():
    src = Source(3000)

    async def consume():
        return [item async for item in bg.bridge(src.gen)]

    assert asyncio.run(consume()) == list(range(3000))
    assert src.closed.is_set()


def test_bridge_consumer_breaking_or_cancelled_stops_the_producer():
    early = Source(hang_after=2)
    hung = Source(hang_after=1)

    async def consume_and_break():
        async with aclosing(bg.bridge(early.gen)) as items:
            async for item in items:
                if item == 1:
                    break

    async def consume_and_get_cancelled():
        got = asyncio.Event()

        async def run():
            async for _ in bg.bridge(hung.gen):
                got.set()

        task = asyncio.create_task(run())
        await got.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(consume_and_break())
    assert early.closed.is_set()
    asyncio.run(consume_and_get_cancelled())
    assert hung.closed.is_set()


def test_bridge_passes_exceptions_on():
    src = Source(10, fail_after=4)

    async def consume():
        seen = []
        with pytest.raises(ValueError, match="broken stream"):
            async for item in bg.bridge(src.gen):
                seen.append(item)
        return seen

    assert asyncio.run(consume()) == [0, 1, 2, 3]

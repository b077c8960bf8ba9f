"""The handoff from a reading thread to the event loop, with real threads.

Each test starts a real producer thread and waits on conditions under a
deadline: order, backpressure, the producer's end and errors, and a close
that stops a producer blocked on a full handoff.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from shipper.sources.handoff import Ended, Handoff

DEADLINE = 10.0


async def take_all(handoff: Handoff[int]) -> list[int]:
    got = []
    async with asyncio.timeout(DEADLINE):
        while True:
            try:
                got.append(await handoff.get())
            except Ended:
                return got


async def test_items_arrive_in_order_and_the_end_is_said() -> None:
    handoff: Handoff[int] = Handoff(room=2)

    def produce(put: Callable[[int], bool]) -> None:
        for n in range(1000):
            assert put(n)

    handoff.start(produce, name="test-producer")
    assert await take_all(handoff) == list(range(1000))
    assert await handoff.finish() == ([], None)


async def test_a_full_handoff_holds_the_producer_back() -> None:
    handoff: Handoff[int] = Handoff(room=3)
    put_so_far: list[int] = []
    blocked = threading.Event()
    fourth = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        for n in range(10):
            if n == 3:
                blocked.set()  # the next put finds no room
            put(n)
            put_so_far.append(n)
            if n == 3:
                fourth.set()

    handoff.start(produce, name="test-producer")
    assert await asyncio.to_thread(blocked.wait, DEADLINE)
    await asyncio.sleep(0.05)  # room for a wrong producer to run ahead: it must not
    assert put_so_far == [0, 1, 2]
    assert await handoff.get() == 0  # one taken: one more fits
    assert await asyncio.to_thread(fourth.wait, DEADLINE)
    assert await take_all(handoff) == list(range(1, 10))
    assert await handoff.finish() == ([], None)


async def test_what_the_producer_raises_comes_out_of_get_after_its_items() -> None:
    handoff: Handoff[int] = Handoff()

    def produce(put: Callable[[int], bool]) -> None:
        put(1)
        raise OSError(5, "Input/output error")

    handoff.start(produce, name="test-producer")
    assert await handoff.get() == 1
    with pytest.raises(OSError, match="Input/output error"):
        async with asyncio.timeout(DEADLINE):
            await handoff.get()
    assert await handoff.finish() == ([], None)  # said once


async def test_finish_returns_the_items_and_the_error_nobody_took() -> None:
    handoff: Handoff[int] = Handoff()
    failed = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        put(1)
        put(2)
        failed.set()
        raise OSError(5, "Input/output error")

    handoff.start(produce, name="test-producer")
    assert await asyncio.to_thread(failed.wait, DEADLINE)
    async with asyncio.timeout(DEADLINE):
        rest, error = await handoff.finish()
    assert rest == [1, 2]
    assert isinstance(error, OSError) and error.errno == 5


async def test_finish_keeps_a_blocked_producers_item_and_tells_it_to_stop() -> None:
    handoff: Handoff[int] = Handoff(room=1)
    told_to_stop = threading.Event()
    ended = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        try:
            put(1)
            if not put(2):  # blocked: no room until the finish, which takes it all the same
                told_to_stop.set()
        finally:
            ended.set()

    handoff.start(produce, name="test-producer")
    async with asyncio.timeout(DEADLINE):
        rest, error = await handoff.finish()
    assert ended.is_set() and told_to_stop.is_set()
    assert rest == [1, 2] and error is None  # nothing produced is dropped


async def test_a_cancelled_finish_still_waits_for_the_thread() -> None:
    handoff: Handoff[int] = Handoff()
    release = threading.Event()
    ended = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        release.wait(DEADLINE)
        ended.set()

    handoff.start(produce, name="test-producer")
    closing = asyncio.create_task(handoff.finish())
    await asyncio.sleep(0)
    closing.cancel()
    await asyncio.sleep(0.01)
    closing.cancel()  # twice: still waited for
    await asyncio.sleep(0.01)
    assert not closing.done()  # the thread still runs: the finish waits for it
    release.set()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(DEADLINE):
            await closing
    assert ended.is_set()


async def test_a_waiting_get_is_woken_by_an_item_put_later() -> None:
    handoff: Handoff[int] = Handoff()
    go = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        go.wait(DEADLINE)
        put(7)

    handoff.start(produce, name="test-producer")
    getting = asyncio.create_task(handoff.get())
    await asyncio.sleep(0.01)
    assert not getting.done()
    go.set()
    async with asyncio.timeout(DEADLINE):
        assert await getting == 7
    assert await handoff.finish() == ([], None)

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
    await handoff.aclose()
    assert handoff.taken_all


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
    assert not handoff.taken_all
    assert await handoff.get() == 0  # one taken: one more fits
    assert await asyncio.to_thread(fourth.wait, DEADLINE)
    assert await take_all(handoff) == list(range(1, 10))
    await handoff.aclose()


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
    await handoff.aclose()


async def test_close_refuses_items_and_waits_for_a_blocked_producer() -> None:
    handoff: Handoff[int] = Handoff(room=1)
    refused = threading.Event()
    ended = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        try:
            put(1)
            if not put(2):  # blocked: no room until the close
                refused.set()
        finally:
            ended.set()

    handoff.start(produce, name="test-producer")
    async with asyncio.timeout(DEADLINE):
        await handoff.aclose()
    assert ended.is_set() and refused.is_set()
    assert not handoff.taken_all  # item 1 was never taken


async def test_a_cancelled_close_still_waits_for_the_thread() -> None:
    handoff: Handoff[int] = Handoff()
    release = threading.Event()
    ended = threading.Event()

    def produce(put: Callable[[int], bool]) -> None:
        release.wait(DEADLINE)
        ended.set()

    handoff.start(produce, name="test-producer")
    closing = asyncio.create_task(handoff.aclose())
    await asyncio.sleep(0)
    closing.cancel()
    await asyncio.sleep(0.01)
    assert not closing.done()  # the thread still runs: the close waits for it
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
    await handoff.aclose()

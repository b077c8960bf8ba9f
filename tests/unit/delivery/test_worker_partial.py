"""The worker settles a ``Partial`` answer: the items the service took, then the rest.

A scripted sender stands for the service: each post gets the next scripted
outcome. No network, and a ``FakeClock``: a retry's pause is read, not waited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.worker import ChannelWorker
from shipper.routing.event import Alert
from shipper.sinks.answers import Delivered, Outcome, Partial
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets, Sink
from shipper.spool.backlog import MemoryBacklog
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock


class AllSink:
    kind = "all"
    limits = Limits(None, None, None, 10, FLOOD_CONTROL_OFF)
    secret_keys = frozenset[str]()

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return Rendered([a.line for a in alerts], len(alerts))

    def read_answer(self, channel: ChannelConfig, answer: object, *, now: float) -> Outcome:
        raise AssertionError("the scripted sender reads no answer")

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return Secrets()


class Scripted:
    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.posted: list[list[int]] = []

    async def post(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        self.posted.append(list(request.payload))
        return self.outcomes.pop(0) if self.outcomes else Delivered(200, "ok")


class Letters:
    def __init__(self) -> None:
        self.written: list[tuple[list[int], str, int]] = []

    def write(self, channel_name: str, alerts: Sequence[Alert], reason: str, attempts: int) -> None:
        self.written.append(([a.line for a in alerts], reason, attempts))


async def run(sender: Scripted, letters: Letters, n: int) -> tuple[ChannelWorker, FakeClock]:
    clock = FakeClock()
    backlog = MemoryBacklog()
    channel = ChannelConfig("c", "all", "http://127.0.0.1:1/", delivery=DeliveryConfig())
    worker = ChannelWorker(
        channel, backlog, sender, letters, sink=AllSink(), clock=clock, linger=False
    )
    await backlog.append([make_alert(i) for i in range(1, n + 1)])
    backlog.close()
    async with asyncio.timeout(10):
        await worker.run()
    assert len(backlog) == 0
    return worker, clock


async def test_a_refused_item_is_dead_lettered_alone_after_the_taken_ones() -> None:
    sender, letters = Scripted(Partial(2, True, "item 2 is bad", 400)), Letters()
    worker, clock = await run(sender, letters, 5)
    assert sender.posted == [[1, 2, 3, 4, 5], [4, 5]]
    assert letters.written == [([3], "item 2 is bad", 1)]
    assert (worker.stats.delivered_events, worker.stats.dead_lettered) == (4, 1)
    assert clock.sleeps == []


async def test_the_rest_is_retried_after_the_pause_asked_for() -> None:
    sender, letters = Scripted(Partial(3, False, "busy", 503, after=2.0)), Letters()
    worker, clock = await run(sender, letters, 5)
    assert sender.posted == [[1, 2, 3, 4, 5], [4, 5]]
    assert letters.written == [] and clock.sleeps == [2.0]
    assert worker.stats.delivered_events == 5 and worker.stats.retries == 1


async def test_an_answer_claiming_every_item_still_settles_the_last() -> None:
    sender, letters = Scripted(Partial(9, True, "bad at 9", 400)), Letters()
    worker, _ = await run(sender, letters, 3)
    assert sender.posted == [[1, 2, 3]]
    assert letters.written == [([3], "bad at 9", 1)]
    assert worker.stats.delivered_events == 2

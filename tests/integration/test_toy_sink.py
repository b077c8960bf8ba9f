"""A destination delivery has never heard of: a toy sink defined here, delivered by the real
worker, poster and channel set against a fake on 127.0.0.1.

The toy renders its own body and header, reads its own answers (``201 yum`` is
success, ``wait=N`` asks for a pause, ``418`` refuses for good), keeps its own
size limit (two alerts a request) and declares its own secret. Nothing outside
this module knows it: the worker is handed the sink, and the channel set finds
it in ``sinks.SINKS``, where the test registers it for its own duration. That
is the whole of what a new destination needs: one sink and one row.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.clock import SystemClock
from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.severity import Severity
from shipper.delivery.channels import ChannelSet
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.poster import Poster
from shipper.delivery.worker import ChannelWorker
from shipper.routing.event import Alert
from shipper.sinks import SINKS
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Retry
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets
from shipper.spool.backlog import MemoryBacklog
from shipper.spool.state import StateDir
from tests.integration.fake_webhook import FakeWebhook, Reply
from tests.support.clock import FakeClock

DEADLINE = 10.0
TOY_SECRET = "toy-secret-7f3a9c"
_WAIT = re.compile(r"wait=(\d+)")


class ToySink:
    """Feeds a toy: each request is ``{"bites": [action, ...]}``, two bites at most."""

    kind = "toy"
    limits = Limits(
        request_bytes=None,
        request_items=2,
        max_rate=None,
        batch_max=10,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"label"})

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        covered = alerts[: self.limits.request_items]
        payload = {"bites": [a.action for a in covered], "line": covered[0].line}
        return Rendered(payload, count=len(covered), headers=(("X-Toy", "hungry"),))

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        if answer.status == 201 and answer.body == "yum":
            return Delivered(201, "the toy ate it")
        wait = _WAIT.fullmatch(answer.body)
        if wait is not None:
            return Retry(float(wait.group(1)), f"the toy is chewing ({answer.body})", answer.status)
        return GiveUp(f"the toy spat it out: {answer.body}", answer.status)

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return Secrets(values=(TOY_SECRET,))


TOY = ToySink()


def alert(n: int) -> Alert:
    return Alert(
        line=n,
        raw={"action": f"toy.{n}"},
        action=f"toy.{n}",
        severity=Severity.HIGH,
        actor=None,
        status=None,
        timestamp=None,
        facts=(),
    )


def toy_channel(url: str, **delivery: Any) -> ChannelConfig:
    # "toy" is no kind the config knows: only this test makes such a channel.
    return ChannelConfig(
        name="toybox",
        kind="toy",
        url=url,
        delivery=DeliveryConfig(max_rate=None, retry_initial=0.01, retry_max=0.05, **delivery),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook(Reply(201, "yum"), clock=clock.monotonic) as server:
        yield server


async def test_the_real_worker_delivers_through_a_toy_sink(
    fake: FakeWebhook, clock: FakeClock, tmp_path: Path
) -> None:
    fake.script(
        "/toy",
        Reply(503, "wait=7"),  # the toy's own words for "later"
        Reply(201, "yum"),
        Reply(418, f"no more, said {TOY_SECRET}"),
    )
    backlog = MemoryBacklog()
    dead = DeadLetters(tmp_path)
    async with Poster(clock=clock) as poster:
        worker = ChannelWorker(
            toy_channel(fake.to("/toy")), backlog, poster, dead, sink=TOY, clock=clock
        )
        await backlog.append([alert(n) for n in range(1, 6)])
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()

    posted = fake.requests_to("/toy")
    assert [r.json for r in posted] == [
        {"bites": ["toy.1", "toy.2"], "line": 1},  # the toy's size limit: two a request
        {"bites": ["toy.1", "toy.2"], "line": 1},  # again, after the pause it asked for
        {"bites": ["toy.3", "toy.4"], "line": 3},  # refused for good
        {"bites": ["toy.5"], "line": 5},
    ]
    assert all(r.headers["X-Toy"] == "hungry" for r in posted)
    assert all(r.headers["Content-Type"] == "application/json" for r in posted)
    assert clock.sleeps == [7.0]
    stats = worker.stats
    assert (stats.delivered_events, stats.delivered_messages, stats.retries) == (3, 2, 1)
    assert stats.dead_lettered == 2 and stats.failures["refused"] == 1
    letters = [orjson.loads(line) for line in dead.path_for("toybox").read_bytes().splitlines()]
    assert [d["line"] for d in letters] == [3, 4]
    # The reason is the toy's, and the secret the toy declared is scrubbed from it.
    assert letters[0]["reason"].startswith("the toy spat it out: no more, said ")
    assert TOY_SECRET not in dead.path_for("toybox").read_text()
    assert len(backlog) == 0


async def test_the_channel_set_finds_a_registered_toy_by_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SINKS, TOY.kind, TOY)
    state = StateDir(tmp_path / "state")
    state.prepare()
    channels = ChannelSet(state, DeadLetters(state.root), clock=SystemClock())
    async with FakeWebhook(Reply(201, "yum")) as fake, Poster() as poster:
        toy = toy_channel(fake.to("/toy"))
        await channels.add(toy, await channels.open_spool(toy))
        channels.start(poster, [toy])
        async with channels.lock:
            await channels.spools["toybox"].append([alert(1), alert(2), alert(3)])
            await channels.spools["toybox"].commit()
        await fake.wait_for(lambda requests: len(requests) == 2, DEADLINE)
        await channels.drain(DEADLINE, asyncio.Event())  # the worker empties the spool
        (status,) = channels.statuses()
        await channels.aclose()
    assert status.stats.delivered_events == 3 and status.backlog_events == 0
    assert [r.json["bites"] for r in fake.requests] == [["toy.1", "toy.2"], ["toy.3"]]
    assert all(r.headers["X-Toy"] == "hungry" for r in fake.requests)

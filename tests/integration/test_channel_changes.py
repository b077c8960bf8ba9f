"""Channels changing under a running delivery: retiring workers, replacing them, failure classes.

The real aiohttp client and durable spools against a fake webhook on 127.0.0.1,
with real time and deadlines (retiring is about what is in flight right now).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shipper.clock import SystemClock
from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.channels import ChannelSet
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.stats import failure_class
from shipper.delivery.worker import ChannelWorker, Poster
from shipper.routing.event import Alert
from shipper.sinks.answers import TimedOut, Unreachable
from shipper.sinks.base import Rendered
from shipper.sinks.webhook import WEBHOOK
from shipper.spool.backlog import MemoryBacklog
from shipper.spool.state import StateDir
from tests.integration.fake_webhook import HANG, FakeWebhook, Reply, Request, posted_seqs
from tests.integration.workers import Rerendered
from tests.support.alerts import make_alert

DEADLINE = 10.0


def alert(n: int) -> Alert:
    return make_alert(n, raw={"action": "user.lock", "seq": n}, actor="ann")


def channel(url: str, name: str = "siem", **delivery: Any) -> ChannelConfig:
    limits = {"retry_initial": 0.05, "retry_max": 0.2, "max_rate": None, **delivery}
    return ChannelConfig(name=name, kind="webhook", url=url, delivery=DeliveryConfig(**limits))


def render_all(ch: ChannelConfig, alerts: Any) -> Rendered:
    return Rendered([a.line for a in alerts], count=len(alerts))


ONE = Rendered({"x": 1}, count=1)


def seqs(requests: list[Request]) -> list[int]:
    return posted_seqs(requests)


@pytest.fixture
def fake(fake: FakeWebhook) -> FakeWebhook:
    fake.default = Reply(204, "")
    return fake


@pytest.fixture
async def poster() -> AsyncIterator[Poster]:
    async with Poster() as p:
        yield p


async def until(predicate: Callable[[], bool]) -> None:
    """Worker stats offer nothing to await: check every 10 ms, failing at the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(429, "slow down"), "http_429"),
        (Reply(503, "down"), "http_5xx"),
        (Reply(500, "boom"), "http_5xx"),
        (Reply(408, "late"), "http_other"),
        (Reply(404, "gone"), "refused"),
        (Reply(204, "", delay=HANG), "timeout"),
    ],
)
async def test_failure_classes_of_real_answers(
    fake: FakeWebhook, poster: Poster, reply: Reply, expected: str
) -> None:
    fake.script("/hook", reply)
    outcome = await poster.post(channel(fake.to("/hook"), timeout=0.3), WEBHOOK, ONE)
    assert not hasattr(outcome, "status") or outcome.status != 204
    assert failure_class(outcome) == expected  # type: ignore[arg-type]
    assert isinstance(outcome, TimedOut) is (expected == "timeout")


async def test_failure_class_of_a_refused_connection(poster: Poster) -> None:
    outcome = await poster.post(channel(f"http://127.0.0.1:{closed_port()}/x"), WEBHOOK, ONE)
    assert isinstance(outcome, Unreachable)
    assert failure_class(outcome) == "connection"


async def test_retire_lets_the_post_in_flight_finish(
    fake: FakeWebhook, poster: Poster, tmp_path: Path
) -> None:
    fake.script("/hook", Reply(204, "", delay=0.3))
    backlog = MemoryBacklog()
    await backlog.append([alert(1)])
    worker = ChannelWorker(
        channel(fake.to("/hook"), batch_max=1),
        backlog,
        poster,
        DeadLetters(tmp_path),
        sink=Rerendered(WEBHOOK, render_all),
    )
    task = asyncio.create_task(worker.run())
    await fake.wait_for(lambda requests: len(requests) == 1)
    await backlog.append([alert(2)])
    assert worker.retire() is False, "a post is in flight: let it finish"
    async with asyncio.timeout(DEADLINE):
        await task
    assert worker.stats.delivered_events == 1
    assert len(backlog) == 1, "the answered post was acknowledged; the next one waits"
    assert len(fake.requests) == 1


async def test_retire_of_a_waiting_worker_says_cancel_now(
    fake: FakeWebhook, poster: Poster, tmp_path: Path
) -> None:
    fake.always("/hook", Reply(500, "down"))
    backlog = MemoryBacklog()
    await backlog.append([alert(1)])
    ch = channel(fake.to("/hook"), retry_initial=30.0, retry_max=60.0)
    worker = ChannelWorker(
        ch,
        backlog,
        poster,
        DeadLetters(tmp_path),
        sink=Rerendered(WEBHOOK, render_all),
        rand=lambda: 0.5,
    )
    task = asyncio.create_task(worker.run())
    await fake.wait_for(lambda requests: len(requests) == 1)
    await until(lambda: worker.stats.retries > 0)  # the answer is settled: it backs off now
    assert worker.retire() is True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(backlog) == 1 and worker.stats.failures["http_5xx"] == 1


async def test_a_replaced_channel_delivers_its_backlog_with_the_new_settings(
    fake: FakeWebhook, poster: Poster, tmp_path: Path
) -> None:
    fake.always("/old", Reply(503, "down"))
    state = StateDir(tmp_path / "state")
    state.prepare()
    channels = ChannelSet(state, DeadLetters(state.root), clock=SystemClock())
    old = channel(fake.to("/old"))
    await channels.add(old, await channels.open_spool(old))
    channels.start(poster, [old])
    async with channels.lock:
        await channels.spools["siem"].append([alert(1), alert(2)])
        await channels.spools["siem"].commit()
    await fake.wait_for(lambda requests: len(requests) >= 2, DEADLINE)

    new = channel(fake.to("/new"))
    await channels.replace(new)
    await fake.wait_for(lambda _: seqs(fake.requests_to("/new")) == [1, 2], DEADLINE)
    await until(lambda: channels.statuses()[0].stats.delivered_events == 2)  # settled
    (status,) = channels.statuses()
    assert status.stats.failures["http_5xx"] >= 2, "the stats carry over to the new worker"
    assert status.stats.delivered_events == 2 and status.stats.failing_since is None
    assert status.backlog_events == 0

    spool = await channels.remove("siem")
    assert spool.closed is False and len(spool) == 0
    assert channels.statuses() == ()
    await channels.drain(1.0, asyncio.Event())
    await channels.aclose()


async def test_a_removed_channel_keeps_its_backlog_on_disk(
    fake: FakeWebhook, poster: Poster, tmp_path: Path
) -> None:
    fake.always("/down", Reply(500, "down"))
    state = StateDir(tmp_path / "state")
    state.prepare()
    channels = ChannelSet(state, DeadLetters(state.root), clock=SystemClock())
    ch = channel(fake.to("/down"))
    await channels.add(ch, await channels.open_spool(ch))
    channels.start(poster, [ch])
    async with channels.lock:
        await channels.spools["siem"].append([alert(1), alert(2), alert(3)])
        await channels.spools["siem"].commit()
    await fake.wait_for(lambda requests: len(requests) >= 1, DEADLINE)
    async with asyncio.timeout(DEADLINE):
        spool = await channels.remove("siem")
    assert len(spool) == 3 and "siem" not in channels.spools

    again = await channels.open_spool(ch)
    assert [a.line for a in await again.peek(10)] == [1, 2, 3]
    await again.aclose()
    await channels.drain(1.0, asyncio.Event())


async def test_a_change_waits_for_a_batch_stuck_on_a_full_backlog(
    fake: FakeWebhook,
    poster: Poster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("shipper.delivery.channels.LOCK_NOTICE_SECONDS", 0.1)
    fake.always("/down", Reply(500, "down"))
    state = StateDir(tmp_path / "state")
    state.prepare()
    channels = ChannelSet(state, DeadLetters(state.root), clock=SystemClock())
    ch = channel(fake.to("/down"), spool_max_bytes=1)
    await channels.add(ch, await channels.open_spool(ch))
    channels.start(poster, [ch])
    spool = channels.spools["siem"]
    await spool.append([alert(1)])

    async def store_a_batch() -> None:
        async with channels.lock:  # as the pipeline stores a batch
            await spool.append([alert(2)])  # waits: the backlog is full
            await spool.commit()

    storing = asyncio.create_task(store_a_batch())
    await fake.wait_for(lambda requests: len(requests) >= 1, DEADLINE)
    removing = asyncio.create_task(channels.remove("siem"))
    await until(lambda: "reading is paused while a channel's backlog is full" in caplog.text)
    assert not removing.done()

    fake.always("/down", Reply(204, ""))  # the channel makes room; the batch, then the change
    async with asyncio.timeout(DEADLINE):
        await storing
        removed = await removing
    assert removed is spool and "siem" not in channels.spools
    await channels.drain(1.0, asyncio.Event())

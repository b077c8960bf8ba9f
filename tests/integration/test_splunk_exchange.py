"""The splunk exchange and the worker against the fake HEC: acks, the channel id, partial answers.

Time is a ``FakeClock``: the ack polls' backoff and the ack timeout are read as
exact numbers, without waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.poster import Poster
from shipper.delivery.worker import ChannelWorker
from shipper.sinks.answers import Delivered, Retry
from shipper.sinks.splunk import SPLUNK
from shipper.sinks.splunk_settings import SplunkSettings
from shipper.spool.backlog import MemoryBacklog
from tests.integration.fake_hec import TOKEN, FakeHec, seqs
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

DEADLINE = 20.0


def channel(url: str, name: str = "siem", **settings: Any) -> ChannelConfig:
    return ChannelConfig(
        name,
        "splunk",
        url,
        delivery=DeliveryConfig(timeout=5.0, retry_initial=0.01, retry_max=0.05, batch_max=500),
        settings=SplunkSettings(token=TOKEN, **settings),
    )


def alerts(n: int, start: int = 0, **extra: Any) -> list[Any]:
    return [make_alert(i, seq=i, **extra) for i in range(start, start + n)]


async def post(poster: Poster, ch: ChannelConfig, n: int = 3) -> Any:
    return await poster.post(ch, SPLUNK, SPLUNK.render(ch, alerts(n)))


async def test_acks_are_polled_with_backoff_until_indexed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeHec(acks=True) as hec, Poster(clock=clock, state_dir=tmp_path / "kinds") as p:
        hec.ack_after_queries = 4
        outcome = await post(p, channel(hec.url, acknowledgements=True))
    assert isinstance(outcome, Delivered) and outcome.reason.endswith("indexed (ackId 0)")
    assert clock.sleeps == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert [ids for _, ids in hec.ack_queries] == [[0]] * 5
    (query,) = {r.headers["X-Splunk-Request-Channel"] for r in hec.requests}
    assert all(r.headers["Authorization"] == f"Splunk {TOKEN}" for r in hec.requests)
    kept = tmp_path / "kinds" / "splunk.siem.channel"
    assert kept.read_text() == f"{uuid.UUID(query)}\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kinds").stat().st_mode) == 0o700


async def test_an_ack_that_never_comes_is_a_retry_after_ack_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeHec(acks=True) as hec, Poster(clock=clock, state_dir=tmp_path) as p:
        hec.hold_acks = True
        outcome = await post(p, channel(hec.url, acknowledgements=True, ack_timeout=30.0))
    assert isinstance(outcome, Retry)
    assert "did not report them indexed within 30s (ack_timeout" in outcome.reason
    assert sum(clock.sleeps) == pytest.approx(30.0)
    assert max(clock.sleeps) == 10.0, "polls back off to every 10 s"


async def test_the_channel_id_survives_a_restart_and_a_bad_file_is_replaced(
    tmp_path: Path,
) -> None:
    async with FakeHec(acks=True) as hec:
        for _ in range(2):  # two runs of shipper: two posters, one state directory
            async with Poster(clock=FakeClock(), state_dir=tmp_path) as p:
                assert isinstance(await post(p, channel(hec.url, acknowledgements=True)), Delivered)
        (tmp_path / "splunk.siem.channel").write_text("not a guid\n")
        async with Poster(clock=FakeClock(), state_dir=tmp_path) as p:
            assert isinstance(await post(p, channel(hec.url, acknowledgements=True)), Delivered)
    ids = [r.headers["X-Splunk-Request-Channel"] for r in hec.event_posts()]
    assert ids[0] == ids[1] != ids[2]
    assert (tmp_path / "splunk.siem.channel").read_text() == f"{ids[2]}\n"
    # HEC numbers acks per channel: the second run's request continued the first's.
    assert [r.answer["ackId"] for r in hec.event_posts()] == [0, 1, 0]


async def test_a_link_planted_as_the_channel_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    state = tmp_path / "kinds"
    state.mkdir(mode=0o700)
    os.symlink(target, state / "splunk.siem.channel")
    async with FakeHec(acks=True) as hec, Poster(clock=FakeClock(), state_dir=state) as p:
        outcome = await post(p, channel(hec.url, acknowledgements=True))
    assert isinstance(outcome, Retry) and "symbolic link" in outcome.reason
    assert target.read_text() == "keep me\n" and hec.requests == []


async def test_shipper_test_keeps_no_channel_file_and_a_token_without_acks_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeHec(acks=False) as hec, Poster(clock=FakeClock(), state_dir=None) as p:
        outcome = await post(p, channel(hec.url, acknowledgements=True))
        await post(p, channel(hec.url, acknowledgements=True))
        plain = await post(p, channel(hec.url, "plain"))
    assert isinstance(outcome, Delivered) and "not confirmed indexed" in outcome.reason
    assert isinstance(plain, Delivered)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "indexer acknowledgement is off" in warnings[0].getMessage()
    channels = [r.headers.get("X-Splunk-Request-Channel") for r in hec.event_posts()]
    assert channels[0] is not None and channels[2] is None
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_the_worker_dead_letters_the_bad_event_alone_and_sends_the_rest(
    tmp_path: Path,
) -> None:
    backlog = MemoryBacklog()
    dead = DeadLetters(tmp_path)
    clock = FakeClock()
    async with FakeHec() as hec, Poster(clock=clock) as poster:
        hec.busy = 1
        worker = ChannelWorker(
            channel(hec.url), backlog, poster, dead, sink=SPLUNK, clock=clock, linger=False
        )
        await backlog.append([*alerts(5), make_alert(5, seq=5, poison=True), *alerts(4, 6)])
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()
    assert seqs(hec.received) == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert [len(r.envelopes) for r in hec.event_posts()] == [0, 10, 4]  # busy, then 5 + 1 bad
    assert clock.sleeps[0] == 1.0, "Retry-After of the busy answer"
    stats = worker.stats
    assert (stats.delivered_events, stats.dead_lettered) == (9, 1)
    (letter,) = dead.path_for("siem").read_text().splitlines()
    assert '"seq":5' in letter and "code 6" in letter and TOKEN not in letter


async def test_a_busy_hec_that_took_some_events_is_not_sent_them_again(tmp_path: Path) -> None:
    backlog = MemoryBacklog()
    clock = FakeClock()
    async with FakeHec() as hec, Poster(clock=clock) as poster:
        hec.busy_after = 3  # takes three, then is busy
        worker = ChannelWorker(
            channel(hec.url),
            backlog,
            poster,
            DeadLetters(tmp_path),
            sink=SPLUNK,
            clock=clock,
            linger=False,
        )
        await backlog.append(alerts(6))
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()
    assert seqs(hec.received) == list(range(6))
    assert [len(r.envelopes) for r in hec.event_posts()] == [6, 3]
    assert clock.sleeps == [1.0] and worker.stats.delivered_events == 6

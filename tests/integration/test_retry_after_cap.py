"""A server asking for a very long Retry-After: the wait is cut to ``retry_after_max``.

The real aiohttp client and a channel worker against a fake webhook on
127.0.0.1; delays go through a ``FakeClock``, so the test checks the delay
that was asked for, never waits it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.worker import ChannelWorker, Poster
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Retry
from shipper.sinks.base import Rendered
from shipper.sinks.teams import TEAMS
from shipper.spool.backlog import MemoryBacklog
from tests.integration.fake_webhook import FakeWebhook, Reply
from tests.integration.workers import Recorder, Report, Rerendered
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

DEADLINE = 5.0


def alert(n: int) -> Alert:
    return make_alert(n, actor="ann")


def render(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    return Rendered({"text": "one", "lines": [alerts[0].line]}, count=1)


def channel(kind: str, url: str, **delivery: Any) -> ChannelConfig:
    return ChannelConfig(name="security", kind=kind, url=url, delivery=DeliveryConfig(**delivery))


async def deliver(ch: ChannelConfig, clock: FakeClock, tmp_path: Path) -> list[Report]:
    backlog = MemoryBacklog()
    async with Poster(clock=clock) as poster:
        recorder = Recorder(poster, DeadLetters(tmp_path))
        worker = ChannelWorker(
            ch,
            backlog,
            recorder.poster,
            recorder.dead_letters,
            sink=Rerendered.of(ch.kind, render),
            clock=clock,
        )
        await backlog.append([alert(1)])
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()
    return recorder.reports


async def test_a_429_asking_for_eleven_days_waits_an_hour(
    fake: FakeWebhook, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script("/hook", Reply(429, "slow down", {"Retry-After": "999999"}))
    with caplog.at_level(logging.WARNING, logger="shipper.delivery.worker"):
        reports = await deliver(channel("webhook", fake.to("/hook")), clock, tmp_path)
    assert clock.sleeps == [3600.0]
    assert len(fake.requests_to("/hook")) == 2
    retry = reports[0].outcome
    assert isinstance(retry, Retry)
    assert (retry.after, retry.asked) == (3600.0, 999999.0)
    assert retry.reason == (
        "The webhook answered 429 slow down: rate limited, "
        "retrying after 3600s (retry_after_max), not the 999999s asked for"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "channel security: the endpoint asked to wait 999999s before the next try; "
        "waiting 3600s instead (retry_after_max)"
    ) in warnings


async def test_the_cap_is_per_channel_and_covers_slack_retry_after(
    fake: FakeWebhook, clock: FakeClock, tmp_path: Path
) -> None:
    slack_429 = Reply(429, '{"ok":false,"error":"rate_limited","retry_after":86400}')
    fake.script("/services/T0/B0/x", slack_429)
    ch = channel("slack", fake.to("/services/T0/B0/x"), retry_after_max=30.0)
    await deliver(ch, clock, tmp_path)
    assert clock.sleeps == [30.0]


async def test_a_retry_after_within_the_cap_is_honoured_as_asked(
    fake: FakeWebhook, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script("/hook", Reply(503, "", {"Retry-After": "120"}))
    with caplog.at_level(logging.WARNING, logger="shipper.delivery.worker"):
        await deliver(channel("webhook", fake.to("/hook")), clock, tmp_path)
    assert clock.sleeps == [120.0]
    assert not any("retry_after_max" in r.getMessage() for r in caplog.records)


def test_an_http_date_far_ahead_is_capped_too() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(days=30), usegmt=True)
    workflows = ChannelConfig(
        name="infra",
        kind="teams",
        url="https://example.logic.azure.com/workflows/x",
        teams_format="adaptivecard",
        delivery=DeliveryConfig(retry_after_max=3600.0),
    )
    answer = Answer(503, "", {"Retry-After": header})
    outcome = TEAMS.read_answer(workflows, answer, now=now.timestamp())
    assert isinstance(outcome, Retry)
    assert outcome.after == 3600.0 and outcome.asked == 30 * 86400.0

"""The datadog kind through the real worker and poster, against a fake intake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.severity import Severity
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.poster import Poster
from shipper.delivery.worker import ChannelWorker
from shipper.routing.event import Alert
from shipper.sinks.datadog import DATADOG
from shipper.sinks.datadog_keys import DatadogSettings
from shipper.spool.backlog import MemoryBacklog
from tests.integration.fake_datadog import API_KEY, Canned, FakeDatadog
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

DEADLINE = 30.0
NOW = 1_700_000_000.0  # FakeClock's unix start


def channel(url: str, key: str = API_KEY, **delivery: Any) -> ChannelConfig:
    settings = DatadogSettings(key, service="gateway", tags=("env:test",))
    return ChannelConfig(
        "dd",
        "datadog",
        url,
        delivery=DeliveryConfig(
            **{"batch_max": 500, "retry_initial": 0.01, "retry_max": 0.05, **delivery}
        ),
        settings=settings,
    )


def alert(n: int, **extra: Any) -> Alert:
    stamp = str(int(NOW) - 60)
    return make_alert(n, severity=Severity.HIGH, timestamp=stamp, seq=n, **extra)


async def run(
    fake: FakeDatadog, clock: FakeClock, tmp_path: Path, alerts: list[Alert], **delivery: Any
) -> tuple[ChannelWorker, DeadLetters]:
    backlog = MemoryBacklog()
    dead = DeadLetters(tmp_path)
    async with Poster(clock=clock) as poster:
        worker = ChannelWorker(
            channel(fake.intake_url, **delivery), backlog, poster, dead, sink=DATADOG, clock=clock
        )
        await backlog.append(alerts)
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()
    return worker, dead


def letters(dead: DeadLetters) -> list[dict[str, Any]]:
    path = dead.path_for("dd")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_3000_events_arrive_complete_in_order_within_the_limits(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeDatadog() as fake:
        worker, _ = await run(fake, clock, tmp_path, [alert(n) for n in range(3000)])
    assert [log["seq"] for log in fake.logs] == list(range(3000))
    assert all(
        i.gzipped and i.raw_bytes <= 5_000_000 and len(i.logs) <= 1000 for i in fake.accepted
    )
    assert len(fake.accepted) == 6  # batch_max 500
    assert not fake.cut and not fake.refused
    first = fake.logs[0]
    assert first["status"] == "error" and first["ddsource"] == "shipper"
    assert first["service"] == "gateway" and first["ddtags"] == "env:test"
    assert first["hostname"] and first["timestamp"] == (int(NOW) - 60) * 1000
    assert worker.stats.delivered_events == 3000 and worker.stats.late_events == 0


async def test_a_proxy_with_a_lower_limit_gets_the_logs_in_halves(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeDatadog(max_bytes=300_000) as fake:
        alerts = [alert(n, pad="p" * 20_000) for n in range(40)]
        worker, dead = await run(fake, clock, tmp_path, alerts)
    assert [log["seq"] for log in fake.logs] == list(range(40))
    assert 413 in fake.refused and not letters(dead)
    assert worker.stats.delivered_events == 40


async def test_a_log_over_1_mb_is_dead_lettered_whole_and_the_rest_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeDatadog() as fake:
        alerts = [alert(1), alert(2, pad="z" * 1_000_000), alert(3)]
        worker, dead = await run(fake, clock, tmp_path, alerts)
    assert [log["seq"] for log in fake.logs] == [1, 3]
    (letter,) = letters(dead)
    assert letter["event"]["seq"] == 2 and len(letter["event"]["pad"]) == 1_000_000
    assert "over Datadog's limit of 1,000,000 bytes a log" in letter["reason"]
    assert worker.stats.failures["unsendable"] == 1 and not fake.cut


async def test_late_events_are_sent_restamped_warned_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    old = str(int(NOW) - 20 * 3600)
    async with FakeDatadog() as fake:
        worker, _ = await run(
            fake,
            clock,
            tmp_path,
            [alert(1), make_alert(2, timestamp=old, seq=2), make_alert(3, timestamp=old, seq=3)],
            batch_max=2,
        )
    assert [log["seq"] for log in fake.logs] == [1, 2, 3]
    assert [log.get("original_timestamp") for log in fake.logs] == [
        None,
        int(old) * 1000,
        int(old) * 1000,
    ]
    assert fake.logs[1]["timestamp"] == int(NOW * 1000)
    assert worker.stats.late_events == 2
    warned = [r for r in caplog.records if "Datadog would drop" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING


async def test_429_waits_for_the_rate_limit_reset(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeDatadog() as fake:
        fake.can(
            "logs", Canned(429, '{"errors":["Too many requests"]}', {"X-RateLimit-Reset": "9"})
        )
        worker, _ = await run(fake, clock, tmp_path, [alert(1)])
    assert [log["seq"] for log in fake.logs] == [1]
    assert 9.0 in clock.sleeps and worker.stats.failures["http_429"] == 1


async def test_a_wrong_key_dead_letters_with_the_fix_and_never_shows_the_key(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    wrong = "ffffffffffffffffffffffffffffffff"
    async with FakeDatadog() as fake:
        fake.api_key = "another"
        fake.echo_key = True
        backlog = MemoryBacklog()
        dead = DeadLetters(tmp_path)
        async with Poster(clock=clock) as poster:
            worker = ChannelWorker(
                channel(fake.intake_url, key=wrong),
                backlog,
                poster,
                dead,
                sink=DATADOG,
                clock=clock,
            )
            await backlog.append([alert(1)])
            backlog.close()
            await asyncio.wait_for(worker.run(), DEADLINE)
    (letter,) = letters(dead)
    assert "Datadog answered 403 Forbidden: API key is invalid" in letter["reason"]
    assert wrong not in dead.path_for("dd").read_text()

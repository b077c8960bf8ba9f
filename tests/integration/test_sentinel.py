"""The sentinel kind through the real worker, poster and exchange, against fakes of Entra ID
and the Logs Ingestion API on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.poster import Poster
from shipper.delivery.worker import ChannelWorker
from shipper.routing.event import Alert
from shipper.sinks.answers import Delivered, GiveUp
from shipper.sinks.sentinel import SENTINEL, SentinelSettings, render_sentinel
from shipper.spool.backlog import MemoryBacklog
from tests.integration.fake_azure import CLIENT, DCR, SECRET, STREAM, TENANT, Canned, FakeAzure
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

DEADLINE = 30.0


def channel(url: str, name: str = "sec", secret: str = SECRET, **delivery: Any) -> ChannelConfig:
    settings = SentinelSettings(DCR, STREAM, TENANT, CLIENT, secret, authority=url)
    return ChannelConfig(
        name,
        "sentinel",
        url,
        delivery=DeliveryConfig(
            **{"batch_max": 500, "retry_initial": 0.01, "retry_max": 0.05, **delivery}
        ),
        settings=settings,
    )


def alert(n: int, **extra: Any) -> Alert:
    return make_alert(n, timestamp="2026-11-30T12:00:00Z", seq=n, **extra)


async def run(
    fake: FakeAzure, clock: FakeClock, tmp_path: Path, alerts: list[Alert], **delivery: Any
) -> tuple[ChannelWorker, DeadLetters]:
    backlog = MemoryBacklog()
    dead = DeadLetters(tmp_path)
    async with Poster(clock=clock) as poster:
        worker = ChannelWorker(
            channel(fake.url, **delivery), backlog, poster, dead, sink=SENTINEL, clock=clock
        )
        await backlog.append(alerts)
        backlog.close()
        async with asyncio.timeout(DEADLINE):
            await worker.run()
    return worker, dead


def letters(dead: DeadLetters) -> list[dict[str, Any]]:
    path = dead.path_for("sec")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_3000_events_arrive_in_order_within_1_mb_a_call_with_one_token(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake:
        worker, _ = await run(fake, clock, tmp_path, [alert(n) for n in range(3000)])
    assert [row["Event"]["seq"] for row in fake.rows] == list(range(3000))
    assert all(c.raw_bytes <= 1_000_000 and c.wire_bytes <= 1_048_576 for c in fake.calls)
    assert len(fake.token_forms) == 1 and not fake.refused
    (form,) = fake.token_forms
    assert form == {
        "grant_type": "client_credentials",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "scope": "https://monitor.azure.com//.default",
    }
    assert fake.rows[0]["TimeGenerated"] == "2026-11-30T12:00:00Z"
    assert worker.stats.delivered_events == 3000


async def test_a_token_revoked_mid_run_is_renewed_and_nothing_is_lost(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeAzure(uses=2) as fake:  # each token is refused after two calls
        worker, dead = await run(fake, clock, tmp_path, [alert(n) for n in range(50)], batch_max=5)
    assert [row["Event"]["seq"] for row in fake.rows] == list(range(50))
    assert fake.refused.count(401) >= 4 and len(fake.issued) >= 5
    assert not letters(dead) and worker.stats.delivered_events == 50
    assert len({c.token for c in fake.calls}) == len(fake.issued)


async def test_a_token_is_renewed_before_it_expires_and_shared_by_channels(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeAzure(lifetime=3599) as fake, Poster(clock=clock) as poster:
        a, b = channel(fake.url, "a"), channel(fake.url, "b")
        first = await poster.post(a, SENTINEL, render_sentinel(a, [alert(1)]))
        second = await poster.post(b, SENTINEL, render_sentinel(b, [alert(2)]))
        clock.advance(3599 - 300 - 1)  # still fresh: renewed five minutes early
        third = await poster.post(a, SENTINEL, render_sentinel(a, [alert(3)]))
        clock.advance(2)
        fourth = await poster.post(b, SENTINEL, render_sentinel(b, [alert(4)]))
    assert all(isinstance(o, Delivered) for o in (first, second, third, fourth))
    assert len(fake.token_forms) == 2
    assert [c.token for c in fake.calls] == [fake.issued[0]] * 3 + [fake.issued[1]]


async def test_a_row_without_a_time_gets_its_arrival_time(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake:
        await run(fake, clock, tmp_path, [make_alert(1, timestamp="soon")])
    assert fake.rows[0]["TimeGenerated"] == "2023-11-14T22:13:20.000Z"  # FakeClock's unix time


async def test_a_wrong_secret_dead_letters_with_the_fix_never_the_secret(tmp_path: Path) -> None:
    clock = FakeClock()
    wrong = "not-the-secret~4f0e9c1a"
    async with FakeAzure() as fake, Poster(clock=clock) as poster:
        sec = channel(fake.url, secret=wrong)
        outcome = await poster.post(sec, SENTINEL, render_sentinel(sec, [alert(1)]))
    assert isinstance(outcome, GiveUp) and outcome.status == 401
    assert outcome.reason.startswith(
        "Microsoft Entra ID refused the token request (401 AADSTS7000215): the client secret is "
        "wrong: client_secret must be the secret's Value (not its Secret ID)"
    )
    assert wrong not in outcome.reason and not fake.calls


async def test_an_echoed_access_token_is_scrubbed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake, Poster(clock=clock) as poster:
        sec = channel(fake.url)
        await poster.post(sec, SENTINEL, render_sentinel(sec, [alert(1)]))
        token = fake.issued[0]
        fake.can(
            "rows", Canned(400, orjson.dumps({"error": {"code": "Bad", "message": token}}).decode())
        )
        outcome = await poster.post(sec, SENTINEL, render_sentinel(sec, [alert(2)]))
    assert isinstance(outcome, GiveUp) and "Azure Monitor answered 400 Bad" in outcome.reason
    assert token not in outcome.reason


async def test_413_splits_429_waits_and_a_403_is_retried_slowly_then_says_the_role(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake:
        fake.can(
            "rows",
            Canned(413, '{"error":{"code":"ContentLengthLimitExceeded","message":"1 MB"}}'),
            Canned(
                429, '{"error":{"code":"TooManyRequests","message":"slow"}}', {"Retry-After": "17"}
            ),
        )
        _, dead = await run(fake, clock, tmp_path, [alert(n) for n in range(8)])
        assert [row["Event"]["seq"] for row in fake.rows] == list(range(8))
        assert 17.0 in clock.sleeps and fake.refused[:2] == [413, 429]
        refused = Canned(403, '{"error":{"code":"OperationFailed","message":"no access"}}')
        fake.can("rows", *[refused] * 10)
        # A role grant takes up to 30 minutes to apply: retried a minute apart, until
        # give_up_after, not dead-lettered at once.
        _, dead = await run(fake, clock, tmp_path, [alert(9)], give_up_after=300.0)
        assert clock.sleeps.count(60.0) >= 4
    (letter,) = letters(dead)
    assert 'the role "Monitoring Metrics Publisher" on the DCR' in letter["reason"]


async def test_a_value_azure_will_cut_is_sent_whole_warned_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake:
        alerts = [alert(1), alert(2, pad="c" * 70_000), alert(3, pad="c" * 70_000)]
        worker, dead = await run(fake, clock, tmp_path, alerts, batch_max=2)
    assert [row["Event"]["seq"] for row in fake.rows] == [1, 2, 3]
    assert len(fake.rows[1]["Event"]["pad"]) == 70_000, "sent whole: Azure, not shipper, cuts it"
    assert worker.stats.cut_events == 2 and worker.stats.delivered_events == 3
    warned = [r for r in caplog.records if "Azure Monitor cuts short" in r.getMessage()]
    assert len(warned) == 1 and not letters(dead)


async def test_a_row_over_1_mb_is_dead_lettered_whole_and_the_rest_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    async with FakeAzure() as fake:
        alerts = [alert(1), alert(2, pad="z" * 1_000_000), alert(3)]
        worker, dead = await run(fake, clock, tmp_path, alerts)
    assert [row["Event"]["seq"] for row in fake.rows] == [1, 3]
    (letter,) = letters(dead)
    assert letter["event"]["seq"] == 2 and len(letter["event"]["pad"]) == 1_000_000
    assert "over Azure's limit of 1,000,000 bytes a call" in letter["reason"]
    assert worker.stats.failures["unsendable"] == 1 and 413 not in fake.refused

"""The real aiohttp client and channel workers against a scripted fake webhook on 127.0.0.1.

Worker delays go through a ``FakeClock``, so backoff, Retry-After and pacing
are checked by the delays that were asked for, never by waiting. Only the
isolation and timeout tests use real time, with small timeouts and deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.clock import Clock, SystemClock
from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery import worker as delivery
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.worker import ChannelWorker, Poster
from shipper.routing.event import Alert
from shipper.sinks import sink_for
from shipper.sinks.answers import Delivered, GiveUp, Retry, TimedOut, Unreachable
from shipper.sinks.base import Rendered
from shipper.spool.backlog import MemoryBacklog
from tests.integration.fake_webhook import HANG, FakeWebhook, Reply
from tests.integration.workers import Recorder, Report, Rerendered, drain_workers
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

SECRET = "SECRETTOKEN123"
SLACK_PATH = f"/services/T000/B000/{SECRET}"
TEAMS_PATH = f"/webhookb2/{SECRET}/IncomingWebhook/x"
TEAMS_429 = "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"
TEAMS_413 = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
    "HTTP error 413 with ContextId tcid=0,server=msgapi"
)
DEADLINE = 5.0


def alert(n: int) -> Alert:
    return make_alert(n, f"user.{n}", actor="ann")


def render_all(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    return Rendered({"text": "batch", "lines": [a.line for a in alerts]}, count=len(alerts))


def render_one(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    return Rendered({"text": "one", "lines": [alerts[0].line]}, count=1)


def channel(kind: str, url: str, name: str = "security", **delivery: Any) -> ChannelConfig:
    return ChannelConfig(name=name, kind=kind, url=url, delivery=DeliveryConfig(**delivery))


def sequence(*values: float) -> Callable[[], float]:
    """A ``rand`` that returns ``values`` in order."""
    it: Iterator[float] = iter(values)
    return lambda: next(it)


def lines_posted(fake: FakeWebhook, path: str) -> list[list[int]]:
    return [r.json["lines"] for r in fake.requests_to(path)]


@pytest.fixture
async def poster(clock: FakeClock) -> AsyncIterator[Poster]:
    async with Poster(clock=clock) as p:
        yield p


@pytest.fixture
def dead(tmp_path: Path) -> DeadLetters:
    return DeadLetters(tmp_path)


def dead_letters(dead: DeadLetters, name: str = "security") -> list[dict[str, Any]]:
    path = dead.path_for(name)
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class Run:
    """A worker plus everything it reported."""

    def __init__(
        self,
        ch: ChannelConfig,
        poster: Poster,
        dead: DeadLetters,
        clock: Clock,
        renderer: Callable[[ChannelConfig, Sequence[Alert]], Rendered] = render_one,
        rand: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.backlog = MemoryBacklog()
        self.recorder = Recorder(poster, dead)
        self.reports = self.recorder.reports
        self.worker = ChannelWorker(
            ch,
            self.backlog,
            self.recorder.poster,
            self.recorder.dead_letters,
            sink=Rerendered.of(ch.kind, renderer),
            clock=clock,
            rand=rand,
        )

    async def until(self, predicate: Callable[[list[Report]], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not predicate(self.reports):
                self.recorder.changed.clear()
                await self.recorder.changed.wait()

    async def drain(self, *alerts: Alert) -> None:
        """Queue ``alerts``, close the backlog and run the worker until it is empty."""
        await self.backlog.append(alerts)
        self.backlog.close()
        async with asyncio.timeout(DEADLINE):
            await self.worker.run()


# (a)
async def test_429_retry_after_pauses_then_delivers(fake, poster, dead, clock) -> None:
    fake.script(
        SLACK_PATH,
        Reply(
            429,
            '{"ok":false,"error":"rate_limited"}',
            {"Retry-After": "2", "Content-Type": "application/json"},
        ),
    )
    run = Run(channel("slack", fake.to(SLACK_PATH), max_rate=1.0), poster, dead, clock)
    await run.drain(alert(1))
    assert clock.sleeps == [2.0]
    first, second = fake.requests_to(SLACK_PATH)
    assert second.time - first.time >= 2.0
    assert [type(r.outcome) for r in run.reports] == [Retry, Delivered]
    assert run.reports[0].outcome.reason == (
        "Slack answered 429 rate_limited: rate limited, retrying after 2s"
    )
    assert run.worker.stats.delivered_events == 1
    assert run.worker.stats.retries == 1
    assert dead_letters(dead) == []


async def test_retry_after_zero_still_pauses_retry_initial(fake, poster, dead, clock) -> None:
    fake.script("/h", Reply(429, "", {"Retry-After": "0"}), Reply(503, "", {"Retry-After": "0"}))
    run = Run(channel("webhook", fake.to("/h"), retry_initial=0.5), poster, dead, clock)
    await run.drain(alert(1))
    assert clock.sleeps == [0.5, 0.5]
    assert run.worker.stats.delivered_events == 1


# (b)
async def test_5xx_backs_off_with_full_jitter(fake, poster, dead, clock) -> None:
    fake.script("/hook", Reply(500, "boom"), Reply(502), Reply(500))
    ch = channel("webhook", fake.to("/hook"), retry_initial=1.0, retry_max=60.0)
    run = Run(ch, poster, dead, clock, rand=sequence(0.5, 0.25, 0.75))
    await run.drain(alert(1))
    # uniform(0, 1), uniform(0, 2), uniform(0, 4) for the injected rand values
    assert clock.sleeps == pytest.approx([0.5, 0.5, 3.0])
    assert len(fake.requests_to("/hook")) == 4
    assert run.worker.stats.delivered_events == 1
    assert [r.attempt for r in run.reports] == [1, 2, 3, 4]


# (c)
async def test_404_dead_letters_at_once_and_keeps_working(fake, poster, dead, clock) -> None:
    fake.script(SLACK_PATH, Reply(404, "no_service"))
    run = Run(channel("slack", fake.to(SLACK_PATH)), poster, dead, clock)
    task = asyncio.create_task(run.worker.run())
    await run.backlog.append([alert(7)])
    await run.until(lambda reports: any(r.dead_lettered for r in reports))
    await run.backlog.append([alert(8)])
    run.backlog.close()
    async with asyncio.timeout(DEADLINE):
        await task
    (letter,) = dead_letters(dead)
    assert letter["reason"] == (
        "Slack answered 404 no_service: the webhook was revoked or the URL is wrong"
    )
    assert letter["channel"] == "security"
    assert letter["attempts"] == 1
    assert letter["line"] == 7
    assert letter["event"] == {"action": "user.7", "n": 7}
    assert letter["time"].endswith("Z")
    assert lines_posted(fake, SLACK_PATH) == [[7], [8]]
    assert run.worker.stats.dead_lettered == 1
    assert run.worker.stats.delivered_events == 1
    assert clock.sleeps == []  # a permanent refusal is not retried


# (d)
async def test_teams_200_with_429_text_is_retried(fake, poster, dead, clock) -> None:
    fake.script(TEAMS_PATH, Reply(200, TEAMS_429), Reply(200, "1"))
    run = Run(channel("teams", fake.to(TEAMS_PATH), max_rate=4.0), poster, dead, clock)
    await run.drain(alert(1))
    assert [type(r.outcome) for r in run.reports] == [Retry, Delivered]
    assert len(fake.requests_to(TEAMS_PATH)) == 2
    assert dead_letters(dead) == []


@pytest.mark.parametrize(
    ("body", "meaning"),
    [
        ("Summary or Text is required.", "the card has neither a summary nor a text"),
        (TEAMS_413, "the message is too large"),
    ],
)
async def test_teams_200_with_permanent_error_dead_letters(
    fake, poster, dead, clock, body: str, meaning: str
) -> None:
    fake.script(TEAMS_PATH, Reply(200, body))
    run = Run(channel("teams", fake.to(TEAMS_PATH)), poster, dead, clock)
    await run.drain(alert(1))
    (letter,) = dead_letters(dead)
    assert letter["reason"] == f"Teams answered 200 with an error: {body}: {meaning}"
    assert run.worker.stats.delivered_events == 0


async def test_workflows_202_is_delivered(fake, poster, dead, clock) -> None:
    path = "/workflows/abc/triggers/manual/paths/invoke"
    fake.script(path, Reply(202, ""))
    ch = ChannelConfig(name="infra", kind="teams", url=fake.to(path), teams_format="adaptivecard")
    run = Run(ch, poster, dead, clock)
    await run.drain(alert(1))
    assert run.worker.stats.delivered_events == 1


# (e)
async def test_slow_endpoint_times_out_then_succeeds(fake, poster, dead, clock) -> None:
    fake.script("/slow", Reply(200, "ok", delay=HANG), Reply(200, "ok"))
    run = Run(channel("webhook", fake.to("/slow"), timeout=0.2), poster, dead, clock)
    await run.drain(alert(1))
    retry, delivered = (r.outcome for r in run.reports)
    assert isinstance(retry, TimedOut)
    assert retry.reason == "127.0.0.1 did not answer within 0.2s"
    assert retry.status is None
    assert isinstance(delivered, Delivered)


# (f)
@pytest.mark.parametrize(
    "stuck_reply", [Reply(delay=HANG), Reply(500, "down")], ids=["hangs", "500s"]
)
async def test_a_stuck_channel_does_not_delay_a_healthy_one(tmp_path, stuck_reply) -> None:
    real = SystemClock()
    async with FakeWebhook() as server, Poster() as poster:
        server.always("/stuck", stuck_reply)
        dead = DeadLetters(tmp_path)
        limits = {"timeout": 0.3, "retry_initial": 0.05, "retry_max": 0.2}
        stuck = Run(channel("webhook", server.to("/stuck"), "stuck", **limits), poster, dead, real)
        healthy = Run(channel("webhook", server.to("/ok"), "healthy", **limits), poster, dead, real)
        tasks = [asyncio.create_task(stuck.worker.run()), asyncio.create_task(healthy.worker.run())]
        await stuck.backlog.append([alert(n) for n in range(1, 6)])
        await server.wait_for(lambda reqs: any(r.path == "/stuck" for r in reqs))
        await healthy.backlog.append([alert(n) for n in range(1, 6)])
        await server.wait_for(lambda reqs: sum(r.path == "/ok" for r in reqs) == 5, DEADLINE)
        assert lines_posted(server, "/ok") == [[1], [2], [3], [4], [5]]
        assert stuck.worker.stats.delivered_events == 0
        stuck.backlog.close()
        healthy.backlog.close()
        assert await drain_workers(tasks, 0.5) is False  # the stuck one is cancelled
        assert all(t.done() for t in tasks)
        assert healthy.worker.stats.delivered_events == 5
        assert len(stuck.backlog) == 5  # nothing lost: it waits for the next run
        assert dead_letters(dead, "stuck") == []


# (g)
async def test_give_up_after_dead_letters_with_attempt_count(fake, poster, dead, clock) -> None:
    fake.always("/down", Reply(500, "down"))
    ch = channel("webhook", fake.to("/down"), retry_initial=1.0, retry_max=4.0, give_up_after=10.0)
    run = Run(ch, poster, dead, clock, rand=lambda: 0.999)
    await run.drain(alert(3))
    (letter,) = dead_letters(dead)
    assert letter["attempts"] == len(fake.requests_to("/down")) == 5
    assert letter["reason"] == (
        "The webhook answered 500 down: the service had an internal error, retrying with backoff"
    )
    # 0.999, 1.998, 3.996, then capped so the last try lands on the deadline.
    assert clock.sleeps == pytest.approx([0.999, 1.998, 3.996, 3.007])
    assert sum(clock.sleeps) == pytest.approx(10.0)
    assert run.reports[-1].dead_lettered


async def test_after_give_up_a_still_failing_channel_dead_letters_each_message_once(
    fake, poster, dead, clock
) -> None:
    fake.always("/down", Reply(503))
    ch = channel("webhook", fake.to("/down"), retry_initial=1.0, retry_max=1.0, give_up_after=2.0)
    run = Run(ch, poster, dead, clock, rand=lambda: 0.5)
    await run.drain(alert(1), alert(2))
    assert [d["line"] for d in dead_letters(dead)] == [1, 2]
    assert [d["attempts"] for d in dead_letters(dead)] == [5, 1]
    # The pause between messages remains: a failing endpoint is not hammered.
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.5])


# (h)
async def test_pacing_batches_a_burst(fake, poster, dead, clock) -> None:
    ch = channel("slack", fake.to(SLACK_PATH), max_rate=1.0, batch_max=20)
    run = Run(ch, poster, dead, clock, renderer=render_all)
    await run.drain(*(alert(n) for n in range(1, 46)))
    batches = lines_posted(fake, SLACK_PATH)
    assert [len(b) for b in batches] == [20, 20, 5]
    assert [n for b in batches for n in b] == list(range(1, 46))
    times = [r.time for r in fake.requests_to(SLACK_PATH)]
    assert all(b - a >= 1.05 - 1e-9 for a, b in pairwise(times))
    assert clock.sleeps == pytest.approx([1.05, 1.05])
    assert run.worker.stats.delivered_messages == 3
    assert run.worker.stats.delivered_events == 45


async def test_alerts_that_keep_arriving_fill_a_batch(
    fake, poster, dead, clock, monkeypatch
) -> None:
    # Gaps far wider than the 5 ms default, so a stalled test machine cannot split a batch.
    monkeypatch.setattr(delivery, "LINGER_GAP", 2.0)
    monkeypatch.setattr(delivery, "LINGER_MAX", 4.0)
    ch = channel("slack", fake.to(SLACK_PATH), max_rate=0.0, batch_max=5)
    run = Run(ch, poster, dead, clock, renderer=render_all)
    worker = asyncio.create_task(run.worker.run())
    for n in range(1, 8):  # one alert at a time, as a source catching up appends them
        await run.backlog.append([alert(n)])
        await asyncio.sleep(0)
    await run.until(lambda reports: sum(r.count for r in reports) == 5)
    run.backlog.close()  # the end of the input: what waits goes out at once
    await asyncio.wait_for(worker, DEADLINE)
    assert lines_posted(fake, SLACK_PATH) == [[1, 2, 3, 4, 5], [6, 7]]
    assert clock.sleeps == [], "waiting for alerts is not a pacing or backoff delay"


async def test_an_idle_channel_posts_a_lone_alert_at_once(
    fake, poster, dead, clock, monkeypatch
) -> None:
    """A live log's alert to a channel that posted nothing for ``LINGER_MAX`` does not wait
    for company, not even one turn of the loop; the ones after it, while it is posted, do."""
    monkeypatch.setattr(delivery, "LINGER_GAP", 2.0)
    monkeypatch.setattr(delivery, "LINGER_MAX", 0.05)
    ch = channel("slack", fake.to(SLACK_PATH), max_rate=0.0, batch_max=5)
    run = Run(ch, poster, dead, clock, renderer=render_all)
    worker = asyncio.create_task(run.worker.run())
    await asyncio.sleep(0.1)  # idle for longer than LINGER_MAX: how long more does not matter
    for n in range(1, 4):
        await run.backlog.append([alert(n)])
        await asyncio.sleep(0)
    await run.until(lambda reports: sum(r.count for r in reports) == 3)
    run.backlog.close()
    await asyncio.wait_for(worker, DEADLINE)
    posted = lines_posted(fake, SLACK_PATH)
    assert posted[0] == [1], "posted as it came"
    assert [n for batch in posted for n in batch] == [1, 2, 3]


async def test_without_lingering_each_arrival_is_posted(fake, poster, dead, clock) -> None:
    ch = channel("slack", fake.to(SLACK_PATH), max_rate=0.0, batch_max=5)
    run = Run(ch, poster, dead, clock, renderer=render_all)
    run.worker = ChannelWorker(
        ch, run.backlog, run.recorder.poster, run.recorder.dead_letters,
        sink=Rerendered.of("slack", render_all), clock=clock, linger=False,
    )  # fmt: skip
    worker = asyncio.create_task(run.worker.run())
    await run.backlog.append([alert(1)])
    await run.until(lambda reports: len(reports) == 1)
    run.backlog.close()
    await asyncio.wait_for(worker, DEADLINE)
    assert lines_posted(fake, SLACK_PATH) == [[1]]


async def test_pacing_counts_from_the_last_post(fake, poster, dead, clock) -> None:
    ch = channel("teams", fake.to(TEAMS_PATH), max_rate=4.0)
    fake.always(TEAMS_PATH, Reply(200, "1"))
    run = Run(ch, poster, dead, clock)
    await run.drain(alert(1), alert(2), alert(3))
    assert clock.sleeps == pytest.approx([1.05 / 4, 1.05 / 4])


# (i)
async def test_the_url_never_reaches_logs_or_reasons(fake, poster, dead, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    refused_url = f"http://127.0.0.1:{closed_port}{SLACK_PATH}"
    echo_url = fake.to(SLACK_PATH)
    fake.script(SLACK_PATH, Reply(404, f"no hook at {echo_url} (path {SLACK_PATH})"))
    refused = Run(channel("slack", refused_url, "refused", give_up_after=3.0), poster, dead, clock)
    echoed = Run(channel("slack", echo_url, "echoed"), poster, dead, clock)
    await refused.drain(alert(1))
    await echoed.drain(alert(2))

    first = refused.reports[0].outcome
    assert isinstance(first, Unreachable)
    assert first.reason == "could not reach 127.0.0.1: connection refused"
    assert refused.reports[-1].dead_lettered
    assert echoed.reports[-1].dead_lettered
    texts = [r.outcome.reason for r in refused.reports + echoed.reports]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.extend(str(v) for v in vars(record).values())
    texts.append(dead.path_for("refused").read_text())
    texts.append(dead.path_for("echoed").read_text())
    assert caplog.records, "the workers logged nothing"
    assert not [t for t in texts if SECRET in t]


async def test_a_reloaded_channel_s_new_url_is_scrubbed_from_its_answers(fake, poster) -> None:
    # The poster keeps each channel's secrets; a reload makes a new channel of the same
    # name, whose new URL must be scrubbed, not the old one's.
    new_secret = "NEWSECRET456"
    paths = [SLACK_PATH, f"/services/T111/B111/{new_secret}"]
    for path in paths:
        fake.script(path, Reply(404, f"no hook at {fake.to(path)}"))
    reasons = []
    for path in paths:
        ch = channel("slack", fake.to(path))
        outcome = await poster.post(ch, sink_for(ch), Rendered({"text": "x"}, count=1))
        assert isinstance(outcome, GiveUp)
        reasons.append(outcome.reason)
    assert reasons[0] == reasons[1], reasons
    assert not [r for r in reasons if SECRET in r or new_secret in r]


async def test_log_records_carry_fields_for_json_logs(fake, poster, dead, clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.delivery.worker")
    fake.script("/h", Reply(503, "", {"Retry-After": "4"}))
    run = Run(channel("webhook", fake.to("/h"), name="siem"), poster, dead, clock)
    await run.drain(alert(1))
    retry, ok = (r for r in caplog.records if r.name == "shipper.delivery.worker")
    assert retry.levelno == logging.WARNING
    assert (retry.channel, retry.status, retry.attempt, retry.delay) == ("siem", 503, 1, 4.0)
    assert retry.reason == "The webhook answered 503: the service is unavailable, retrying after 4s"
    assert retry.getMessage() == (
        "channel siem: attempt 1 failed, next try in 4s: The webhook answered 503: "
        "the service is unavailable, retrying after 4s"
    )
    assert (ok.levelno, ok.status, ok.attempt) == (logging.INFO, 200, 2)


async def test_poster_sends_json_and_does_not_follow_redirects(fake, poster, clock) -> None:
    fake.script("/moved", Reply(302, "", {"Location": fake.to("/elsewhere")}))
    ch = channel("webhook", fake.to("/moved"))
    outcome = await poster.post(ch, sink_for(ch), Rendered({"a": [1, "é"]}, count=1))
    assert isinstance(outcome, GiveUp)
    assert outcome.reason == (
        "The webhook answered 302: a redirect, which shipper does not follow: check the URL"
    )
    (request,) = fake.requests
    assert request.path == "/moved"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("shipper/")
    assert request.json == {"a": [1, "é"]}


async def test_fake_webhook_works_under_aiohttp_server(aiohttp_server, clock) -> None:
    fake = FakeWebhook()
    fake.script(SLACK_PATH, Reply(403, "action_prohibited"))
    server = await aiohttp_server(fake.app)
    async with Poster(clock=clock) as poster:
        ch = channel("slack", str(server.make_url(SLACK_PATH)))
        outcome = await poster.post(ch, sink_for(ch), Rendered({}, count=1))
    assert outcome == GiveUp(
        "Slack answered 403 action_prohibited: an admin restricts posting to this channel", 403
    )


async def test_a_renderer_bug_dead_letters_one_alert_and_moves_on(
    fake, poster, dead, clock
) -> None:
    def picky(ch: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        if alerts[0].line == 1:
            raise ValueError("cannot show line 1")
        return render_one(ch, alerts)

    run = Run(channel("webhook", fake.to("/h")), poster, dead, clock, renderer=picky)
    await run.drain(alert(1), alert(2))
    (letter,) = dead_letters(dead)
    assert letter["line"] == 1
    assert letter["reason"] == "could not render the message: ValueError: cannot show line 1"
    assert lines_posted(fake, "/h") == [[2]]


def test_dead_letter_files_are_private_and_safely_named(tmp_path: Path) -> None:
    letters = DeadLetters(tmp_path, now=lambda: 1_700_000_000.5)
    letters.write("../ops/alerts", [alert(1), alert(2)], "Slack answered 404 no_service", 3)
    path = letters.path_for("../ops/alerts")
    assert path.parent == tmp_path / "dead-letter"
    assert path.name == "_ops_alerts.jsonl"
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert (path.stat().st_mode & 0o777) == 0o600
    first, second = (orjson.loads(line) for line in path.read_bytes().splitlines())
    assert first == {
        "time": "2023-11-14T22:13:20.500Z",
        "channel": "../ops/alerts",
        "reason": "Slack answered 404 no_service",
        "attempts": 3,
        "line": 1,
        "event": {"action": "user.1", "n": 1},
    }
    assert second["line"] == 2

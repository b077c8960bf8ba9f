"""The Slack app's exchange, run by the real poster against the fake Slack Web API.

Time is a ``FakeClock``: pacing and pauses are read as the delays the exchange
asked for, not waited for.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.poster import Poster
from shipper.routing.event import Alert
from shipper.sinks.answers import Delivered, GiveUp, Outcome, Retry
from shipper.sinks.slack_app import SLACK_APP, SlackAppSettings
from tests.integration.fake_slack_api import (
    TOKEN,
    FakeChannel,
    FakeSlackApi,
    Scripted,
    failed,
    ratelimited,
)
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock

OTHER_TOKEN = "xoxb-3333-4444-OtherWorkspaceToken"
OPS, DEV = "C0OPS00001", "C0DEV00001"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    channels = [FakeChannel(f"C0FILL{i:04d}", f"fill-{i}") for i in range(5)]
    channels += [FakeChannel(OPS, "ops"), FakeChannel(DEV, "dev")]
    async with FakeSlackApi(
        channels, tokens={TOKEN: ("chat:write", "channels:read"), OTHER_TOKEN: ("chat:write",)}
    ) as fake:
        yield fake


def channel(
    name: str,
    slack: FakeSlackApi,
    target: str = "#ops",
    *,
    token: str = TOKEN,
    thread_by: tuple[str, ...] | None = None,
) -> ChannelConfig:
    settings = SlackAppSettings(token, target, slack.url, thread_by)
    return ChannelConfig(
        name, "slack_app", None, delivery=DeliveryConfig(timeout=5.0), settings=settings
    )


def event(
    n: int, request_id: str | None = None, *, status: str | None = None, actor: str | None = None
) -> Alert:
    raw = {"action": "deploy", "context": {"request_id": request_id}} if request_id else None
    return make_alert(n, raw=raw, status=status, actor=actor)


async def post(poster: Poster, chan: ChannelConfig, *alerts: Alert) -> Outcome:
    return await poster.post(chan, SLACK_APP, SLACK_APP.render(chan, alerts))


async def test_names_resolve_once_per_token_and_a_missing_one_says_to_invite(
    slack: FakeSlackApi,
) -> None:
    clock = FakeClock()
    async with Poster(clock=clock) as poster:
        a, b = channel("a", slack), channel("b", slack)
        assert isinstance(await post(poster, a, event(1)), Delivered)
        assert isinstance(await post(poster, b, event(2)), Delivered)
        listings = len(slack.calls_to("conversations.list"))
        assert listings >= 3, "short pages were followed"
        missing = await post(poster, channel("c", slack, "#nope"), event(3))
        assert isinstance(missing, GiveUp)
        assert "#nope" in missing.reason and "/invite @your-app" in missing.reason
        after_miss = len(slack.calls_to("conversations.list"))
        again = await post(poster, channel("c", slack, "#nope"), event(4))
        assert isinstance(again, GiveUp)
        assert len(slack.calls_to("conversations.list")) == after_miss, "a miss is cached"
        unscoped = await post(poster, channel("d", slack, "#ops", token=OTHER_TOKEN), event(5))
    assert isinstance(unscoped, GiveUp)
    assert "missing_scope" in unscoped.reason and "needed: channels:read" in unscoped.reason
    assert [m.channel for m in slack.messages] == [OPS, OPS]


async def test_pacing_is_shared_by_every_shipper_channel_posting_to_one_slack_channel(
    slack: FakeSlackApi,
) -> None:
    clock = FakeClock()
    async with Poster(clock=clock) as poster:
        await post(poster, channel("a", slack, OPS), event(1))
        await post(poster, channel("b", slack, OPS), event(2))
        await post(poster, channel("c", slack, DEV), event(3))
        await post(poster, channel("d", slack, OPS, token=OTHER_TOKEN), event(4))
    assert clock.sleeps == [pytest.approx(1.05)], "only b waited: same token, same channel"


async def test_a_token_limit_pauses_every_channel_of_the_token_and_a_channel_limit_one(
    slack: FakeSlackApi,
) -> None:
    clock = FakeClock()
    async with Poster(clock=clock) as poster:
        slack.script("chat.postMessage", ratelimited(30))
        first = await post(poster, channel("a", slack, OPS), event(1))
        assert isinstance(first, Retry) and first.after == 30.0
        paused = await post(poster, channel("b", slack, DEV), event(2))
        assert isinstance(paused, Retry) and paused.after == pytest.approx(30.0)
        assert "every channel of this token waits" in paused.reason
        other = await post(poster, channel("c", slack, DEV, token=OTHER_TOKEN), event(3))
        assert isinstance(other, Delivered), "another token is not paused"
        clock.advance(31)
        slack.script(
            "chat.postMessage",
            Scripted(200, {"ok": False, "error": "rate_limited"}, {"Retry-After": "20"}),
        )
        assert isinstance(await post(poster, channel("a", slack, OPS), event(4)), Retry)
        assert isinstance(await post(poster, channel("b", slack, DEV), event(5)), Delivered)
        assert isinstance(await post(poster, channel("a2", slack, OPS), event(6)), Retry)
    posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 4, "no post went out into a pause"


async def test_replies_join_their_thread_and_redraw_its_first_message(
    slack: FakeSlackApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    chan = channel("t", slack, OPS, thread_by=("context", "request_id"))
    async with Poster(clock=clock, state_dir=tmp_path / "kinds") as poster:
        assert isinstance(await post(poster, chan, event(1, "r1", status="pending")), Delivered)
        assert isinstance(
            await post(poster, chan, event(2, "r1", status="approved", actor="al")), Delivered
        )
        (parent,) = slack.top_level(OPS)
        assert [r.thread_ts for r in slack.replies(parent)] == [parent.ts]
        assert parent.updates == 1 and "approved by al" in parent.shown
        # An update Slack refuses is logged; the reply is delivered all the same.
        for n, error in ((3, "cant_update_message"), (4, "edit_window_closed")):
            slack.script("chat.update", failed(error))
            with caplog.at_level(logging.WARNING):
                outcome = await post(poster, chan, event(n, "r1", status="x"))
            assert isinstance(outcome, Delivered)
            assert error in caplog.text and "can no longer be edited" in caplog.text
        # Sent again after a crash took its acknowledgement: not posted twice.
        repeat = SLACK_APP.render(chan, [event(4, "r1", status="x")])
        assert isinstance(await poster.post(chan, SLACK_APP, repeat), Delivered)
        assert len(slack.replies(parent)) == 3
        # Its first message deleted in Slack: the next event starts the thread again.
        slack.messages.remove(parent)
        assert isinstance(await post(poster, chan, event(5, "r1", status="y")), Delivered)
        (new_parent,) = slack.top_level(OPS)
        assert isinstance(await post(poster, chan, event(6, "r1", status="z")), Delivered)
        assert len(slack.replies(new_parent)) == 1
    assert slack.problems == []


async def test_without_a_state_directory_nothing_is_kept(slack: FakeSlackApi) -> None:
    chan = channel("t", slack, OPS, thread_by=("context", "request_id"))
    async with Poster(clock=FakeClock()) as poster:
        await post(poster, chan, event(1, "r1"))
        await post(poster, chan, event(2, "r1"))
    assert len(slack.top_level(OPS)) == 2


async def test_the_token_is_scrubbed_from_what_slack_echoes(slack: FakeSlackApi) -> None:
    slack.script("chat.postMessage", Scripted(500, {"ok": False, "echo": f"Bearer {TOKEN}"}))
    slack.script("conversations.list", Scripted(503, {"got": TOKEN}))
    async with Poster(clock=FakeClock()) as poster:
        posted = await post(poster, channel("a", slack, OPS), event(1))
        listed = await post(poster, channel("b", slack, "#dev"), event(1))
    assert isinstance(posted, Retry) and isinstance(listed, Retry)
    assert TOKEN not in posted.reason + listed.reason
    assert "500" in posted.reason and "503" in listed.reason


async def test_long_answers_are_read_whole_not_taken_for_failures() -> None:
    # 250 channels of ~1 KB each, the target last: pages of ~200 KB; and a message of
    # non-ASCII text whose escaped echo is far over a plain post's 64 KiB answer cap.
    listed = [FakeChannel(f"C0FILL{i:04d}", f"fill-{i}", purpose="é" * 900) for i in range(250)]
    async with FakeSlackApi(
        [*listed, FakeChannel(OPS, "ops")], tokens={TOKEN: ("chat:write", "channels:read")}
    ) as slack:
        slack.page = 200
        async with Poster(clock=FakeClock()) as poster:
            chan = channel("a", slack)
            long = make_alert(1, raw={"action": "deploy", "context": {"note": "ü" * 2900}})
            outcome = await post(poster, chan, long)
        assert isinstance(outcome, Delivered), outcome
        assert len(slack.top_level(OPS)) == 1, "posted once"

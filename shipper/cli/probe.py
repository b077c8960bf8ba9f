"""``shipper test CHANNEL``: post one test message now and say what the endpoint answered.

The test event clears the channel's threshold by construction (its severity is
the channel's ``min_severity``) and goes through the same sink (its rendering
and its reading of answers) as real alerts, so a passing test means real
alerts will arrive. One attempt, no retries: the operator wants the answer now.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from shipper.config.model import ChannelConfig, Config
from shipper.delivery.poster import Poster
from shipper.errors import UnknownChannelError
from shipper.routing.event import Alert
from shipper.sinks import sink_for
from shipper.sinks.answers import Delivered

TEST_ACTION = "shipper.test"


def test_alert(channel: ChannelConfig, now: datetime) -> Alert:
    """The event a test posts: action ``shipper.test`` at the channel's own threshold."""
    host = socket.gethostname()
    raw = {
        "action": TEST_ACTION,
        "severity": channel.min_severity.label,
        "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "user": "shipper",
        "status": "test",
        "context": {
            "channel": channel.name,
            "host": host,
            "message": "If you can read this, shipper can post to this channel.",
        },
    }
    return Alert(
        line=0,
        raw=raw,
        action=TEST_ACTION,
        severity=channel.min_severity,
        actor="shipper",
        status="test",
        timestamp=str(raw["timestamp"]),
        facts=(
            ("channel", channel.name),
            ("host", host),
            ("message", "If you can read this, shipper can post to this channel."),
        ),
    )


async def send_test(config: Config, name: str) -> tuple[bool, str, int | None]:
    """Post the test message to channel ``name``; (accepted?, the answer in plain words,
    the HTTP status if there was an answer)."""
    channel = config.channel(name)
    if channel is None:
        raise UnknownChannelError(name, [c.name for c in config.channels])
    sink = sink_for(channel)
    request = sink.render(channel, [test_alert(channel, datetime.now(UTC))])
    async with Poster() as poster:
        outcome = await poster.post(channel, sink, request)  # one try: the answer is wanted now
    return isinstance(outcome, Delivered), outcome.reason, outcome.status


_FORMAT_NAMES = {"messagecard": "a MessageCard", "adaptivecard": "an Adaptive Card"}


def format_note(channel: ChannelConfig, status: int | None = None) -> str | None:
    """For a Teams channel: which card was sent, why, and how to force the other.

    A Workflows webhook behind a relay or a custom domain is not recognised by its host,
    gets a MessageCard, may answer 202 and then drop it: the test's success alone
    cannot tell, so the operator is told what was sent.
    """
    if channel.kind != "teams":
        return None
    sent = channel.teams_format
    other = "adaptivecard" if sent == "messagecard" else "messagecard"
    if sent == "messagecard" and status == 202:
        return (
            f"{channel.name}: sent a MessageCard and the endpoint answered 202, as Teams "
            "Workflows do: a Workflows flow may accept a MessageCard and post nothing. If no "
            f'card appears, set format = "adaptivecard" in [channels.{channel.name}]'
        )
    if sent == "messagecard":
        why = "the URL's host is not a Teams Workflows host"
        hint = (
            "if this is a Workflows webhook (behind a relay, say) and no card appears, "
            f'set format = "adaptivecard" in [channels.{channel.name}]'
        )
    else:
        why = "the URL's host is a Teams Workflows host, or format says so"
        hint = (
            "for a classic Office 365 connector, "
            f'set format = "{other}" in [channels.{channel.name}]'
        )
    return f"{channel.name}: sent {_FORMAT_NAMES[sent]} ({why}); {hint}"

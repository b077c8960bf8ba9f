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

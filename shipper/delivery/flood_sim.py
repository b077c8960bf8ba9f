"""Flood control replayed offline, for ``shipper route --stats``: how many events each
channel would summarize.

Pure. There is no run clock offline, so each event is taken as arriving at its own
timestamp (ISO 8601, or unix seconds or milliseconds); an event without a readable
one arrives at the time of the event before it. A run uses its own clock instead,
which is what makes a forged timestamp useless there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shipper.config.model import ChannelConfig
from shipper.delivery.flood import FloodState, flood_settings
from shipper.routing.event import Alert
from shipper.sinks import sink_for

# Longer than any timestamp format: a hostile value is not parsed at all.
TIMESTAMP_MAX_CHARS = 64
_MILLISECONDS_FROM = 1e11  # a unix time this large is in milliseconds


class FloodSimulation:
    """Each channel's flood control, fed in input order; see the module docstring."""

    def __init__(self, channels: Iterable[ChannelConfig]) -> None:
        self._states: dict[str, FloodState] = {}
        self._summarized: dict[str, int] = {}
        for channel in channels:
            settings = flood_settings(channel.delivery, sink_for(channel).limits.flood_control)
            if settings.is_on:
                self._states[channel.name] = FloodState(settings)
        self._now = 0.0

    def wants(self, channels: Iterable[str]) -> bool:
        """Whether an event going to ``channels`` meets any flood control (else skip ``take``)."""
        return any(name in self._states for name in channels)

    def take(self, alert: Alert, channels: Iterable[str]) -> None:
        """``alert`` went to ``channels``."""
        states = [(name, self._states[name]) for name in channels if name in self._states]
        if not states:
            return
        self._now = event_time(alert.timestamp, self._now)
        for name, state in states:
            counted, _ = state.plan([alert], self._now)
            state.record([alert], self._now, counted=counted)
            # Nothing is posted offline: the summaries owed need not be kept.
            state.owed.clear()
            if counted:
                self._summarized[name] = self._summarized.get(name, 0) + 1

    def summarized(self, channel: str) -> int:
        """How many of ``channel``'s events were counted into summaries."""
        return self._summarized.get(channel, 0)


def event_time(timestamp: str | None, previous: float) -> float:
    """``timestamp`` in unix seconds; ``previous`` if it is missing or unreadable."""
    if timestamp is None or len(timestamp) > TIMESTAMP_MAX_CHARS:
        return previous
    try:
        number = float(timestamp)
    except ValueError:
        try:
            return datetime.fromisoformat(timestamp).timestamp()
        except ValueError:
            return previous
    if number != number or number in (float("inf"), float("-inf")):
        return previous
    return number / 1000 if abs(number) >= _MILLISECONDS_FROM else number

"""Flood control replayed offline, for ``shipper route --stats``: how many events each
channel would summarize.

Pure. There is no run clock offline, so each event is taken as arriving at its own
timestamp (ISO 8601, or unix seconds or milliseconds); an event without a readable
one arrives at the time of the event before it. A run uses its own clock instead,
which is what makes a forged timestamp useless there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipper.config.model import ChannelConfig, FieldPath
from shipper.config.severity import Severity
from shipper.delivery.flood import FloodState
from shipper.delivery.flood_groups import flood_settings
from shipper.routing.event import lookup
from shipper.sinks import sink_for

if TYPE_CHECKING:  # routing.intake logs: not a pure part
    from shipper.routing.intake import Routed

# Longer than any timestamp format: a hostile value is not parsed at all.
TIMESTAMP_MAX_CHARS = 64
_MILLISECONDS_FROM = 1e11  # a unix time this large is in milliseconds
# burst_by names whose value only a whole alert has.
_ALERT_FIELDS = {("actor",), ("status",)}


@dataclass(frozen=True, slots=True)
class _Seen:
    """What grouping reads of an event, without building its alert."""

    raw: Mapping[str, Any]
    action: str
    severity: Severity
    actor: str | None = None
    status: str | None = None


class FloodSimulation:
    """Each channel's flood control, fed in input order; see the module docstring."""

    def __init__(self, channels: Iterable[ChannelConfig], timestamp: FieldPath) -> None:
        self._states: dict[str, FloodState] = {}
        self._summarized: dict[str, int] = {}
        for channel in channels:
            settings = flood_settings(channel.delivery, sink_for(channel).limits.flood_control)
            if settings.is_on:
                self._states[channel.name] = FloodState(settings)
        self._needs_alert = any(
            set(state.settings.by) & _ALERT_FIELDS for state in self._states.values()
        )
        self._timestamp = timestamp
        self._now = 0.0
        self._last_stamp: object = None  # audit logs repeat a second's timestamp many times

    def take(self, routed: Routed) -> None:
        """One routed event, in input order."""
        states = [(n, self._states[n]) for n in routed.channels if n in self._states]
        if not states:
            return
        event = routed.event
        stamp = lookup(event.raw, self._timestamp)
        if stamp != self._last_stamp or type(stamp) is not type(self._last_stamp):
            self._now = event_time(stamp, self._now)
            self._last_stamp = stamp
        seen = routed.alert if self._needs_alert else _Seen(event.raw, event.action, event.severity)
        for name, state in states:
            if state.take(seen, self._now):
                self._summarized[name] = self._summarized.get(name, 0) + 1
            if state.owed:  # nothing is posted offline
                state.owed.clear()

    def summarized(self, channel: str) -> int:
        """How many of ``channel``'s events were counted into summaries."""
        return self._summarized.get(channel, 0)


def event_time(timestamp: object, previous: float) -> float:
    """``timestamp`` (text or a number) in unix seconds; ``previous`` if missing or unreadable."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, str | int | float):
        return previous
    if isinstance(timestamp, str) and len(timestamp) > TIMESTAMP_MAX_CHARS:
        return previous
    try:
        number = float(timestamp)
    except (ValueError, OverflowError):
        try:
            return datetime.fromisoformat(str(timestamp)).timestamp()
        except ValueError:
            return previous
    if number != number or number in (float("inf"), float("-inf")):
        return previous
    return number / 1000 if abs(number) >= _MILLISECONDS_FROM else number

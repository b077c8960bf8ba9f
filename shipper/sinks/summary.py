"""A flood-control summary, as a sink renders it: ``FloodSummary`` and its plain forms.

Pure. Delivery's flood control (``shipper.delivery.flood``) counts the events of
a group past its ``burst_limit`` and hands each sink one ``FloodSummary`` per
group and window. Its plain-text line is always ``{group}: {count} more in
{window}`` (``summary_line``); the chat sinks render the rest with their own
escaping (``slack_summary``, ``teams_summary``), since the group and the actors
come from events and are hostile. A sink that has no ``render_summary`` of its
own (a webhook) gets the summary as one JSON object (``summary_object``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered, Sink

# How many actors a summary names; the rest are counted as "others".
TOP_ACTORS = 5


@dataclass(frozen=True, slots=True)
class FloodSummary:
    """The events of one group counted past ``burst_limit`` in one window (or several,
    merged while the channel could not post).

    ``severities`` and ``actors`` are (name, count) pairs, most frequent first;
    ``other_actors`` counts events whose actor was not among those tracked.
    Times are unix seconds of the run's clock, when each event was counted.
    """

    group: str
    count: int
    window: float  # seconds the summary covers
    first: float
    last: float
    severities: tuple[tuple[str, int], ...]
    actors: tuple[tuple[str, int], ...]
    other_actors: int = 0


@runtime_checkable
class SummaryRenderer(Protocol):
    """A sink with a message of its own for a flood summary."""

    def render_summary(self, channel: ChannelConfig, summary: FloodSummary) -> Rendered:
        """One message for ``summary`` (``Rendered.count`` is 1)."""


def render_summary(sink: Sink, channel: ChannelConfig, summary: FloodSummary) -> Rendered:
    """``sink``'s own message for ``summary``; else the summary as an event whose body is
    ``summary_object`` (``summary_alert``), rendered as the kind renders any event, so that
    its headers, URL, framing and compression apply (a SIEM or a webhook with flood
    control switched on)."""
    if isinstance(sink, SummaryRenderer):
        return sink.render_summary(channel, summary)
    return sink.render(channel, [summary_alert(summary)])


def summary_alert(summary: FloodSummary) -> Alert:
    """``summary`` as an alert: what a kind without a summary of its own sends, and what the
    dead-letter file keeps if its channel refuses it."""
    known = Severity.__members__
    worst = max(
        (known[label.upper()] for label, _ in summary.severities if label.upper() in known),
        default=Severity.INFO,
    )
    return Alert(
        line=0,
        raw=summary_object(summary),
        action=summary_line(summary),
        severity=worst,
        actor=None,
        status=None,
        timestamp=None,
        facts=(),
    )


def format_window(seconds: float) -> str:
    """A window as the summary line shows it: whole seconds, ``60s``; ``0.5s`` below one."""
    return f"{round(seconds)}s" if seconds >= 1 else f"{seconds:g}s"


def summary_line(summary: FloodSummary, group: str | None = None) -> str:
    """``{group}: {count} more in {window}``; ``group`` is the group as the sink escaped it."""
    shown = summary.group if group is None else group
    return f"{shown}: {summary.count} more in {format_window(summary.window)}"


def format_time(unix: float) -> str:
    """A summary's first or last time: UTC, to the second (ISO 8601)."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_counts(pairs: Sequence[tuple[str, int]], others: int = 0) -> list[str]:
    """``name (count)`` for each pair, most frequent first, and ``others (N)`` if any."""
    shown = [f"{name} ({count})" for name, count in pairs[:TOP_ACTORS]]
    rest = others + sum(count for _, count in pairs[TOP_ACTORS:])
    if rest:
        shown.append(f"others ({rest})")
    return shown


def summary_object(summary: FloodSummary) -> dict[str, Any]:
    """The summary as plain JSON, for a webhook or a dead letter."""
    return {
        "shipper_flood_summary": {
            "text": summary_line(summary),
            "group": summary.group,
            "count": summary.count,
            "window_seconds": summary.window,
            "first": format_time(summary.first),
            "last": format_time(summary.last),
            "severities": dict(summary.severities),
            "actors": dict(summary.actors[:TOP_ACTORS]),
        }
    }

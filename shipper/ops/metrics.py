"""Prometheus metrics, read from the pipeline's own counters at scrape time.

``StatusCollector`` is a custom prometheus-client collector over a private
registry: each scrape asks the pipeline for a ``Status`` and turns it into
metric families, so the hot paths (a line read, a post answered) only bump the
plain counters they keep anyway. Names follow Prometheus conventions: a
``shipper_`` prefix, ``_total`` on counters, base units in the name. Labels
are channel names and short reason words, never webhook URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from shipper import __version__
from shipper.delivery.stats import FAILURE_CLASSES, ChannelStatus, WorkerStats
from shipper.ops.status import (
    SourceState,
    Status,
    failing_for,
    seconds_since_success,
)
from shipper.routing.event import Rejected

__all__ = ["CONTENT_TYPE_LATEST", "StatusCollector", "make_registry", "render_metrics"]

# Per-channel counters straight from WorkerStats: (name without _total, help, attribute).
_CHANNEL_COUNTERS: tuple[tuple[str, str, Callable[[WorkerStats], int]], ...] = (
    (
        "shipper_messages_delivered",
        "Messages the channel's webhook accepted.",
        lambda s: s.delivered_messages,
    ),
    (
        "shipper_events_delivered",
        "Events in the messages the channel's webhook accepted.",
        lambda s: s.delivered_events,
    ),
    (
        "shipper_delivery_retries",
        "Failed posts that will be tried again.",
        lambda s: s.retries,
    ),
    (
        "shipper_events_late",
        "Delivered events whose own time the service would not keep (Datadog: older than "
        "18 h or over 2 h ahead), sent with the time of sending instead.",
        lambda s: s.late_events,
    ),
    (
        "shipper_events_cut",
        "Delivered events the service is known to cut short (Sentinel: a column value over "
        "64 KB), sent whole.",
        lambda s: s.cut_events,
    ),
    (
        "shipper_events_dead_lettered",
        "Events written to the channel's dead-letter file.",
        lambda s: s.dead_lettered,
    ),
    (
        "shipper_events_summarized",
        "Events flood control counted into a summary message instead of posting them.",
        lambda s: s.summarized_events,
    ),
)

# Per-channel gauges: (name, help, value from the channel and the time now).
_CHANNEL_GAUGES: tuple[tuple[str, str, Callable[[ChannelStatus, float], float]], ...] = (
    (
        "shipper_backlog_events",
        "Events queued on disk for the channel.",
        lambda c, now: c.backlog_events,
    ),
    (
        "shipper_backlog_bytes",
        "Bytes queued on disk for the channel.",
        lambda c, now: c.backlog_bytes,
    ),
    (
        "shipper_seconds_since_last_success",
        "Seconds since the channel's last delivery (or since it started, if none yet).",
        seconds_since_success,
    ),
    (
        "shipper_channel_failing_seconds",
        "Seconds the channel has been failing; 0 while it is not.",
        failing_for,
    ),
)


class StatusCollector(Collector):
    """Turns the ``Status`` that ``read_status`` returns into metric families."""

    def __init__(self, read_status: Callable[[], Status]) -> None:
        self._read_status = read_status

    def collect(self) -> Iterable[Metric]:
        status = self._read_status()
        yield from _build_info()
        yield from _intake(status)
        yield from _channels(status)


def make_registry(read_status: Callable[[], Status]) -> CollectorRegistry:
    """A registry of shipper's metrics only (no process or Python collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(read_status))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition (its content type is ``CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)


def _build_info() -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "shipper_build_info", "Always 1; the version in a label.", labels=["version"]
    )
    info.add_metric([__version__], 1)
    yield info


def _intake(status: Status) -> Iterator[Metric]:
    intake = status.intake
    yield CounterMetricFamily("shipper_lines_read", "Input lines read.", value=intake.lines_read)
    rejected = CounterMetricFamily(
        "shipper_lines_rejected",
        "Input lines skipped, by reason (not JSON, not UTF-8, not an object, too long).",
        labels=["reason"],
    )
    # Every known reason from the start, so a rate() sees the first rejection.
    reasons = dict.fromkeys((r.value for r in Rejected), 0) | dict(intake.rejected)
    for reason, count in sorted(reasons.items()):
        rejected.add_metric([reason], count)
    yield rejected
    yield CounterMetricFamily(
        "shipper_events_unknown_severity",
        "Events whose severity is not on the scale (treated as severity.default).",
        value=intake.unknown_severity,
    )
    matched = CounterMetricFamily(
        "shipper_events_matched", "Events routed to the channel.", labels=["channel"]
    )
    for channel in status.channels:
        matched.add_metric([channel.name], intake.matched.get(channel.name, 0))
    yield matched
    yield GaugeMetricFamily(
        "shipper_source_reading",
        "1 while the source is being read; 0 while starting, stopping, or after an error.",
        value=1 if status.state is SourceState.READING else 0,
    )


def _channels(status: Status) -> Iterator[Metric]:
    channels = status.channels
    for name, documentation, read in _CHANNEL_COUNTERS:
        family = CounterMetricFamily(name, documentation, labels=["channel"])
        for channel in channels:
            family.add_metric([channel.name], read(channel.stats))
        yield family
    failures = CounterMetricFamily(
        "shipper_delivery_failures",
        "Failed posts by reason class: http_429, http_5xx, http_other, timeout, connection, "
        "refused (permanent, dead-lettered), unsendable.",
        labels=["channel", "reason"],
    )
    for channel in channels:
        counts = dict.fromkeys(FAILURE_CLASSES, 0) | dict(channel.stats.failures)
        for reason, count in counts.items():
            failures.add_metric([channel.name, reason], count)
    yield failures
    for gauge_name, gauge_help, value_of in _CHANNEL_GAUGES:
        gauge = GaugeMetricFamily(gauge_name, gauge_help, labels=["channel"])
        for channel in channels:
            gauge.add_metric([channel.name], value_of(channel, status.now))
        yield gauge

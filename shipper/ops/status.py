"""A running pipeline's state as plain data (``Status``), and the health rule read from it.

``shipper run`` builds a ``Status`` whenever ``/metrics`` or ``/healthz`` is
asked: the source's state, the intake's counters, and per channel its
delivery stats and backlog. ``health`` is pure: healthy while the source is
being read (not ``WAITING`` for a missing file) and no channel has been failing
for ``unhealthy_after`` seconds or more; its body names each channel's failure
and reason (reasons name hosts, never webhook URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from shipper.delivery.stats import ChannelStatus
from shipper.routing.intake import IntakeStats


class SourceState(Enum):
    """Where the reading is; only ``READING`` is healthy."""

    STARTING = "starting"  # the source is not open yet
    READING = "reading"  # open (or a missing file waited for), lines are read as they come
    WAITING = "waiting"  # the tailed file has been missing for [source] missing_after
    STOPPING = "stopping"  # a signal or the end of stdin: delivering what is queued
    FAILED = "failed"  # reading stopped on an error (the disk could not keep events)


@dataclass(frozen=True, slots=True)
class Status:
    """What ``/metrics`` and ``/healthz`` show; ``now`` is unix time."""

    source: str  # the tailed path, or "stdin"
    state: SourceState
    intake: IntakeStats
    channels: tuple[ChannelStatus, ...]
    now: float
    missing_since: float | None = None  # unix time the tailed file was first found missing


def seconds_since_success(channel: ChannelStatus, now: float) -> float:
    """Since the last delivery, or since the channel started if none yet."""
    last = channel.stats.last_success
    return max(0.0, now - (last if last is not None else channel.started))


def failing_for(channel: ChannelStatus, now: float) -> float:
    """How long the channel has been failing; 0 while it is not."""
    since = channel.stats.failing_since
    return 0.0 if since is None else max(0.0, now - since)


def health(status: Status, unhealthy_after: float) -> tuple[bool, dict[str, Any]]:
    """Whether the run is healthy, and the ``/healthz`` body that says why.

    A channel is ``ok`` (not failing), ``degraded`` (failing for less than
    ``unhealthy_after``) or ``failing`` (for longer: the run is unhealthy).
    """
    channels: dict[str, Any] = {}
    is_healthy = status.state is SourceState.READING
    for channel in status.channels:
        failing = failing_for(channel, status.now)
        if channel.stats.failing_since is None:
            state = "ok"
        elif failing >= unhealthy_after:
            state = "failing"
            is_healthy = False
        else:
            state = "degraded"
        channels[channel.name] = {
            "status": state,
            "failing_since": _iso(channel.stats.failing_since),
            "failing_seconds": round(failing, 3),
            "reason": channel.stats.last_error if state != "ok" else None,
            "last_success": _iso(channel.stats.last_success),
            "backlog": channel.backlog_events,
        }
    source: dict[str, Any] = {
        "input": status.source,
        "state": status.state.value,
        "lines_read": status.intake.lines_read,
        "lines_rejected": status.intake.lines_rejected,
    }
    if status.missing_since is not None:  # the tailed file is missing: since when
        source["missing_since"] = _iso(status.missing_since)
    body = {
        "status": "ok" if is_healthy else "failing",
        "source": source,
        "channels": channels,
        "unhealthy_after": unhealthy_after,
    }
    return is_healthy, body


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")

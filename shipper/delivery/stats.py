"""What a channel's delivery did so far, for metrics and ``/healthz``: ``WorkerStats``.

The channel worker updates these plain counters as it goes; the metrics
collector and the health rule read them when asked, so the delivery path pays
for an increment and nothing more. ``failure_class`` names a failed try in a
word fit for a metric label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from shipper.sinks.answers import GiveUp, Retry, TimedOut, Unreachable

# The failure classes of ``failure_class``: the values of the metrics' ``reason`` label.
FAILURE_CLASSES = (
    "http_429",
    "http_5xx",
    "http_other",
    "timeout",
    "connection",
    "refused",
    "unsendable",
)


def failure_class(outcome: Retry | GiveUp) -> str:
    """A failed try in a metric label: ``http_429``, ``http_5xx``, ``timeout``, ``refused``...

    ``refused`` is a permanent refusal by the endpoint (dead-lettered at once);
    ``unsendable`` a message that could not be sent at all (no or bad URL, not JSON).
    """
    if isinstance(outcome, GiveUp):
        return "refused" if outcome.status is not None else "unsendable"
    if isinstance(outcome, TimedOut):
        return "timeout"
    if isinstance(outcome, Unreachable) or outcome.status is None:
        return "connection"
    if outcome.status == 429:
        return "http_429"
    if 500 <= outcome.status < 600:
        return "http_5xx"
    return "http_other"  # 408, or a Teams connector's 200 wrapping an error


@dataclass(slots=True)
class WorkerStats:
    """Counters of one channel, for metrics and health (times are unix seconds).

    A channel is failing from its first failed try (retried or refused) until its
    next delivery; ``failures`` counts failed tries by ``failure_class``.
    """

    delivered_events: int = 0
    delivered_messages: int = 0
    retries: int = 0
    dead_lettered: int = 0
    late_events: int = 0
    cut_events: int = 0
    summarized_events: int = 0  # counted into flood-control summaries instead of posted
    summaries_owed: int = 0  # flood-control summaries due and not posted yet
    failures: Counter[str] = field(default_factory=Counter)
    last_success: float | None = None
    failing_since: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One channel: its delivery counters, its backlog, and since when it has run."""

    name: str
    stats: WorkerStats
    backlog_events: int
    backlog_bytes: int
    started: float  # unix time its worker first started (this run, or when a reload added it)

"""How long a failing channel waits before its next try, and when it gives up.

Pure: ``Outage`` counts the tries of the message at the head of a channel's
backlog and the failures since its last success; ``next_try`` turns a
``Retry`` into the delay to wait (full-jitter backoff, or the server's
``Retry-After`` kept between ``retry_initial`` and ``retry_after_max``) and the
time left before ``give_up_after`` dead-letters the message. The worker does
the waiting, the posting and the logging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shipper.config.model import DeliveryConfig
from shipper.delivery.backoff import full_jitter
from shipper.sinks.answers import Retry


@dataclass(frozen=True, slots=True)
class NextTry:
    """The delay before the next try, what the server asked for, and the time left."""

    delay: float
    asked: float | None  # the wait the server asked for, when it asked
    remaining: float  # seconds until give_up_after; <= 0: give up now


@dataclass(slots=True)
class Outage:
    """A channel's failed tries: of the head message, and since the last success."""

    attempts: int = 0  # tries of the message at the head of the backlog
    failures: int = 0  # failed tries since the last success: the backoff exponent
    since: float | None = None  # monotonic start of the current outage

    def next_try(
        self, outcome: Retry, limits: DeliveryConfig, now: float, rand: Callable[[], float]
    ) -> NextTry:
        """Count a failed try at ``now`` and say when to try again."""
        self.failures += 1
        if self.since is None:
            self.since = now
        asked = None
        if outcome.after is None:
            delay = full_jitter(self.failures - 1, limits.retry_initial, limits.retry_max, rand)
        else:
            # Honour Retry-After, but never below retry_initial: "Retry-After: 0" on
            # every answer would otherwise spin on an unpaced channel; nor above
            # retry_after_max: a server must not park the channel's alerts for days.
            asked = outcome.asked if outcome.asked is not None else outcome.after
            delay = min(max(outcome.after, limits.retry_initial), limits.retry_after_max)
        return NextTry(delay, asked, limits.give_up_after - (now - self.since))

    def backoff(self, limits: DeliveryConfig, rand: Callable[[], float]) -> float:
        """The pause before trying a failed local step (a dead-letter write) again."""
        return full_jitter(self.failures, limits.retry_initial, limits.retry_max, rand)

    def recovered(self) -> None:
        """The channel delivered: the next failure starts a new outage."""
        self.attempts = self.failures = 0
        self.since = None

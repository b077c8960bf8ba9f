"""Delivery: post rendered messages, read the answers, pace, back off and dead-letter.

``Poster`` (in ``poster``, re-exported here) owns the run's one HTTP client
(``http1``) and turns a POST into an ``Outcome``, the reason naming the host
only. ``ChannelWorker`` drains one channel's backlog through
the channel's ``Sink``, the only thing it knows of the destination: it
batches, stays under the channel's ``max_rate``, retries with full-jitter
backoff or ``Retry-After`` (``retries``), and dead-letters what the endpoint
refuses or what keeps failing past ``give_up_after``. One worker per channel
is what keeps a slow or dead channel from delaying the others: each waits
only on itself. Each worker keeps its ``WorkerStats`` (``stats``) for metrics
and ``/healthz``. With a ``FloodGate`` (``flooding``) it counts the events that
flood control holds back instead of posting them, and posts each summary owed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Sequence

from shipper.clock import Clock, SystemClock
from shipper.config.model import ChannelConfig
from shipper.delivery.deadletter import DeadLetterSink
from shipper.delivery.flooding import FloodGate
from shipper.delivery.outcome_log import log_dead_lettered, log_delivered, log_retry, log_wait_cut
from shipper.delivery.poster import Poster, Sender
from shipper.delivery.retries import Outage
from shipper.delivery.stats import WorkerStats, failure_class
from shipper.routing.event import Alert
from shipper.sinks.answers import Delivered, GiveUp, Partial, Retry, format_delay
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.summary import FloodSummary, render_summary, summary_alert
from shipper.spool.backlog import Backlog

__all__ = ["ChannelWorker", "Poster", "Sender", "WorkerStats"]

logger = logging.getLogger(__name__)

# Stay 5% under max_rate: the service's window and ours never line up exactly.
PACING_MARGIN = 1.05
# While alerts keep arriving and a batch is not full, wait up to LINGER_GAP for the
# next, LINGER_MAX in all: a catch-up then posts full batches instead of each read's
# handful. A channel that posted nothing for LINGER_MAX is idle: a live log's alert,
# which comes a write at a time, goes out at once. Otherwise the first wait is one turn
# of the event loop, no timer, and what came is posted then unless more keeps coming.
# (A timer of a few microseconds would wait a whole millisecond: the loop's epoll_wait
# counts in milliseconds and rounds a timeout up.)
# Real time, not the Clock: a wait for alerts is not a delay that pacing or backoff
# asked for.
LINGER_GAP = 0.005
LINGER_MAX = 0.025


class ChannelWorker:
    """Drains one channel's backlog until it is closed and empty; see ``run``."""

    def __init__(
        self,
        channel: ChannelConfig,
        backlog: Backlog,
        poster: Sender,
        dead_letters: DeadLetterSink,
        *,
        sink: Sink,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
        stats: WorkerStats | None = None,
        linger: bool = True,
        flood: FloodGate | None = None,
    ) -> None:
        self.channel = channel
        self._flood = flood
        self._linger = linger
        # A worker that replaces another (a reload changed the channel) carries its stats on.
        self.stats = stats if stats is not None else WorkerStats()
        self._backlog = backlog
        self._poster = poster
        self._dead_letters = dead_letters
        self._sink = sink
        self._clock = clock or SystemClock()
        self._rand = rand
        rate = channel.delivery.max_rate
        self._min_interval = PACING_MARGIN / rate if rate else 0.0
        self._last_post: float | None = None
        self._answered_at = 0.0  # loop time of the last post's answer, or of the start
        self._outage = Outage()
        self._posting = False  # a post is in flight or its answer is being settled
        self._retiring = False

    async def run(self) -> None:
        """Post, retry and dead-letter until the backlog is closed and empty, or ``retire``.

        Cancelling it is safe: whatever was not acknowledged stays in the backlog.
        """
        if self._flood is not None:
            await self._flood.open(self._backlog)
        # Not idle at the start: a backlog left by the last run is a catch-up.
        self._answered_at = asyncio.get_running_loop().time()
        while not self._retiring:
            await self._wait()
            if self._flood is not None and await self._flood_step(self._flood):
                continue
            if not len(self._backlog):
                if self._backlog.closed:
                    return
                continue  # woken for a summary that is not due after all
            # Pace before peeking, so alerts that arrive meanwhile join the batch.
            await self._pace()
            await self._fill()
            alerts = await self._backlog.peek(self.channel.delivery.batch_max)
            if not alerts:
                return
            if self._flood is not None:
                alerts = alerts[: self._flood.full_run(alerts)]
                if not alerts:
                    await asyncio.sleep(0)  # a window ended meanwhile: the head is counted now
                    continue
            self._posting = True
            try:
                pause = await self._send(alerts)
            finally:
                self._posting = False
            if pause is not None and not self._retiring:
                # A worker serves one channel, so this sleep pauses the whole channel:
                # what a 429 with Retry-After asks for.
                await self._clock.sleep(pause)

    async def _wait(self) -> None:
        if self._flood is None:
            await self._backlog.wait()
        else:
            await self._flood.wait(self._backlog)

    async def _flood_step(self, flood: FloodGate) -> bool:
        """Post a summary that is due, or count the head of the backlog; whether it did."""
        summary = flood.next_summary(self._backlog)
        if summary is not None:
            self.stats.summaries_owed = len(flood.state.owed)  # until one is posted
            await self._pace()
        # Like a post, counting is let finish by a retire: its save and ack belong together.
        self._posting = True
        try:
            if summary is None:
                counted = await flood.count_run(self._backlog) if len(self._backlog) else 0
                if counted is None:
                    # The spool or the counts' file cannot be written: wait, never spin.
                    await self._clock.sleep(max(self.channel.delivery.retry_initial, 0.1))
                    return True
                self.stats.summarized_events += counted
                return counted > 0
            try:
                rendered = render_summary(self._sink, self.channel, summary)
            except Exception as exc:  # a renderer bug must not wedge the channel
                rendered = Rendered(None, 1, refused=f"could not render the summary: {exc!r}")
            pause = await self._post(rendered, [summary_alert(summary)], summary)
        finally:
            self._posting = False
        self.stats.summaries_owed = len(flood.state.owed)
        if pause is not None and not self._retiring:
            await self._clock.sleep(pause)
        return True

    async def _fill(self) -> None:
        """Wait briefly for a full batch while alerts keep arriving (``LINGER_GAP``), unless
        the channel was idle (see ``LINGER_MAX``)."""
        limit = self.channel.delivery.batch_max
        if not self._linger or self._outage.failures:
            return  # a retry goes out as soon as its backoff ends
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + LINGER_MAX
        waiting = len(self._backlog)
        if waiting >= limit or self._backlog.closed or now - self._answered_at > LINGER_MAX:
            return
        await asyncio.sleep(0)
        if len(self._backlog) == waiting:
            return  # nothing more came with it: a live log's lone alert goes out now
        waiting = len(self._backlog)
        while waiting < limit and not self._backlog.closed:
            gap = min(LINGER_GAP, deadline - loop.time())
            if gap <= 0:
                return
            try:
                # A timeout scope, not wait_for: no task per wait.
                async with asyncio.timeout(gap):
                    await self._backlog.wait(waiting)
            except TimeoutError:
                return
            waiting = len(self._backlog)

    def retire(self) -> bool:
        """Make ``run`` return once the post in flight, if any, is answered and settled.

        Returns ``True`` when no post is in flight: the worker is waiting (for
        alerts, its pace or a backoff), and its task may be cancelled at once.
        """
        self._retiring = True
        return not self._posting

    async def _send(self, alerts: Sequence[Alert]) -> float | None:
        """Render, post and settle ``alerts``; the pause before the next post, if any."""
        try:
            rendered = self._sink.render(self.channel, alerts)
        except Exception as exc:  # a renderer bug must not wedge the channel
            reason = f"could not render the message: {type(exc).__name__}: {exc}"
            self.stats.failures["unsendable"] += 1
            return await self._dead_letter(alerts[:1], GiveUp(reason), 1)
        return await self._post(rendered, alerts)

    async def _post(
        self, rendered: Rendered, alerts: Sequence[Alert], summary: FloodSummary | None = None
    ) -> float | None:
        """Post ``rendered``: the leading ``alerts`` of the backlog, or a flood ``summary``
        (then ``alerts`` is the summary as an alert, for a dead letter)."""
        covered = alerts[: min(max(rendered.count, 1), len(alerts))]
        self._last_post = self._clock.monotonic()
        self._outage.attempts += 1
        outcome = await self._poster.post(self.channel, self._sink, rendered)
        self._answered_at = asyncio.get_running_loop().time()
        if isinstance(outcome, Partial):
            covered, outcome = await self._settle_accepted(outcome, covered)
        if isinstance(outcome, Delivered):
            await self._settle(covered, summary)
            self._record_success(outcome, len(covered) if summary is None else 0)
            return None
        stats = self.stats
        stats.failures[failure_class(outcome)] += 1
        stats.last_error = outcome.reason
        if stats.failing_since is None:
            stats.failing_since = self._clock.time()
        if isinstance(outcome, GiveUp):
            return await self._dead_letter(covered, outcome, self._outage.attempts, summary)
        return await self._retry(outcome, covered, summary)

    async def _settle_accepted(
        self, outcome: Partial, covered: Sequence[Alert]
    ) -> tuple[Sequence[Alert], Retry | GiveUp]:
        """Acknowledge the alerts the service took; what is left to settle, and how.

        A refused alert is dead-lettered alone (the ones after it go in the next
        request); a retry covers them all. An answer that claims to have taken every
        alert still leaves the last one to settle: it said something went wrong.
        """
        accepted = min(max(outcome.accepted, 0), len(covered) - 1)
        if accepted:
            await self._settle(covered[:accepted], None)
            attempts = self._outage.attempts
            self._record_success(Delivered(outcome.status or 0, outcome.reason), accepted)
            self._outage.attempts = attempts  # the rest was on this attempt too
        rest = covered[accepted:]
        return (rest[:1] if outcome.refused else rest), outcome.rest()

    async def _settle(self, covered: Sequence[Alert], summary: FloodSummary | None) -> None:
        """``covered`` (or ``summary``) was delivered or dead-lettered: it leaves the backlog
        (or the summaries owed)."""
        flood = self._flood
        if summary is not None:
            if flood is not None:
                flood.state.settle(summary.group)
                await flood.save()
            return
        await self._backlog.ack(len(covered))
        if flood is not None:
            flood.state.record(covered, self._clock.time(), counted=False)

    async def _retry(
        self, outcome: Retry, covered: Sequence[Alert], summary: FloodSummary | None = None
    ) -> float | None:
        limits = self.channel.delivery
        attempts = self._outage.attempts
        next_try = self._outage.next_try(outcome, limits, self._clock.monotonic(), self._rand)
        delay, remaining = next_try.delay, next_try.remaining
        if next_try.asked is not None and next_try.asked > limits.retry_after_max:
            log_wait_cut(logger, self.channel.name, next_try.asked, limits.retry_after_max)
        if remaining <= 0:
            # Failing for give_up_after: dead-letter, then still pause before the
            # next message, since the endpoint has not recovered.
            retry_in = await self._dead_letter(covered, outcome, attempts, summary)
            if retry_in is not None:
                return retry_in
            if not len(self._backlog):
                return None  # nothing waits: no need to pause, and a drain can end now
        else:
            # Never sleep past the deadline: the last try happens right at it.
            delay = min(delay, remaining)
            self.stats.retries += 1
            log_retry(logger, self.channel.name, outcome, attempts, delay)
        return delay

    async def _dead_letter(
        self,
        covered: Sequence[Alert],
        outcome: Retry | GiveUp,
        attempts: int,
        summary: FloodSummary | None = None,
    ) -> float | None:
        """Write ``covered`` as dead letters and acknowledge them.

        ``None`` once written; if the write failed, the pause before trying again.
        """
        try:
            await asyncio.to_thread(
                self._dead_letters.write, self.channel.name, covered, outcome.reason, attempts
            )
        except OSError as exc:
            # Not written means not acknowledged: keep the alerts and try again later.
            delay = self._outage.backoff(self.channel.delivery, self._rand)
            logger.error(
                "channel %s: could not write dead letters (%s); retrying in %s",
                self.channel.name,
                os.strerror(exc.errno) if exc.errno else exc,
                format_delay(delay),
                extra={"channel": self.channel.name},
            )
            return delay
        await self._settle(covered, summary)
        self.stats.dead_lettered += len(covered)
        self.stats.last_error = outcome.reason
        self._outage.attempts = 0
        log_dead_lettered(logger, self.channel.name, outcome, len(covered), attempts)
        return None

    def _record_success(self, outcome: Delivered, count: int) -> None:
        stats = self.stats
        stats.delivered_events += count
        stats.delivered_messages += 1
        stats.late_events += outcome.late
        stats.cut_events += outcome.cut
        stats.last_success = self._clock.time()
        stats.failing_since = None
        stats.last_error = None
        log_delivered(logger, self.channel.name, outcome, count, self._outage.attempts)
        self._outage.recovered()

    async def _pace(self) -> None:
        if self._last_post is None or self._min_interval <= 0:
            return
        wait = self._last_post + self._min_interval - self._clock.monotonic()
        if wait > 0:
            await self._clock.sleep(wait)

"""``shipper run``: wire source -> intake -> spools -> channel workers, and run the lifecycle.

Start: take the state directory (its lock), open one durable spool and one
worker per channel (``channels.ChannelSet``), re-queue dead letters handed back
by ``shipper replay``, and serve ``/metrics`` and ``/healthz`` if
``[metrics] listen`` is set. Run (``storing``): read batches of lines, route
them, and hand them to the ``store``, which appends each alert to the spool of every
channel that takes it, makes the spools durable (fsync), and only then saves
the tailed file's read position, so a crash at any moment loses nothing: the
lines after the saved position are read again. The position is saved with
each spool's end, so lines read again after a crash between the two steps
are not queued twice (``resume``). Reload, on SIGHUP (``lifecycle``): between
two groups, channels are added, removed or given new settings, and lines read
from then on are routed by the new config. Stop, at end of stdin or on SIGTERM/SIGINT:
stop reading, store what was routed (a full backlog is not waited for:
``storing``), let the workers deliver what is queued until
``drain_timeout``; what is left stays in the spools for the next run. A
second SIGINT skips the wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from shipper.clock import Clock, SystemClock
from shipper.config.load import load_config
from shipper.config.model import Config
from shipper.config.reload import ReloadPlan
from shipper.delivery.channels import ChannelSet
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.stats import WorkerStats
from shipper.delivery.worker import Poster
from shipper.errors import SpoolError, StateError
from shipper.ops.logs import flush_suppressed
from shipper.ops.status import Status
from shipper.routing.intake import Intake, IntakeStats
from shipper.run.checkpoints import Checkpoints
from shipper.run.dry_run import DryRun
from shipper.run.lifecycle import RunResult, Source, raise_open_files_limit
from shipper.run.metrics_server import MetricsServer
from shipper.run.notify import Notifier
from shipper.run.replays import ReplayInbox
from shipper.run.source_watch import SourceWatch
from shipper.run.storing import Storing
from shipper.run.tasks import cancel_and_wait
from shipper.sinks import SINKS, sink_for
from shipper.spool.resume import Resume
from shipper.spool.spool import Spool
from shipper.spool.state import StateDir

__all__ = ["DryRun", "Run", "RunResult", "Source", "run_pipeline"]

log = logging.getLogger(__name__)

# Threads for blocking file work (stdin reads, fsyncs, cursor saves).
IO_THREADS = 3
# How often a running process looks for dead letters handed back by `shipper replay`
# (and logs the summaries of rate-limited warnings).
REPLAY_POLL_SECONDS = 1.0


async def run_pipeline(
    config: Config,
    source: Source,
    *,
    dry_run: bool,
    out: BinaryIO | None = None,
    clock: Clock | None = None,
    rand: Callable[[], float] = random.random,
    load: Callable[[], Config] | None = None,
    notifier: Notifier | None = None,
) -> RunResult:
    """Read ``source`` until its end (stdin) or a stop signal, and deliver what matches.

    ``load`` reads the config again on SIGHUP (default: the same file, the same
    environment); ``notifier`` talks to systemd (default: from ``$NOTIFY_SOCKET``).
    """
    load = load or functools.partial(
        load_config, config.path, os.environ, kinds=SINKS, posts=not dry_run
    )
    # Threads only read stdin and fsync; a few suffice, and each thread that allocates
    # gets its own malloc arena (several MB of resident memory) from glibc.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="shipper-io")
    )
    notifier = notifier or Notifier.from_environ(os.environ)
    watchdog = asyncio.create_task(notifier.keep_alive(), name="watchdog")
    try:
        if dry_run:
            result = await DryRun(config, out or sys.stdout.buffer, load, notifier).run(source)
            _log_summary(result.intake)
            return result
        return await Run(config, clock or SystemClock(), rand, load, notifier).run(source)
    finally:
        await cancel_and_wait(watchdog)
        notifier.close()


class Run(Storing):
    """One real run: state directory, spools, workers, signals, reloads, drain."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        rand: Callable[[], float],
        load: Callable[[], Config],
        notifier: Notifier,
    ) -> None:
        super().__init__(config, load, notifier)
        self.clock = clock
        self.state = StateDir(config.source.state_dir)
        # Spool appends, checkpoint saves and changes to the set of spools take turns
        # (channels.lock), so the spool ends saved with a position always mark where
        # that position's lines end in each spool.
        self.channels = ChannelSet(
            self.state, DeadLetters(config.source.state_dir), clock=clock, rand=rand
        )
        self.failed = False
        self.resume = Resume(None, {})
        self.checkpoints = Checkpoints(self.state.position_path, self.channels)
        self.replays = ReplayInbox(self.state, self.channels, self.checkpoints.resave)
        self.metrics = MetricsServer(self.status, lambda: self.config.unhealthy_after)
        self.source_watch: SourceWatch | None = None
        # The counters of channels a reload removed: their dead letters count for the exit.
        self._removed_stats: list[WorkerStats] = []

    async def run(self, source: Source) -> RunResult:
        """Deliver until the input ends or a signal arrives; raises ``StateError`` up front,
        ``ConfigError`` if ``[metrics] listen`` cannot be used."""
        raise_open_files_limit()
        if source.path is not None:
            self.source_watch = SourceWatch(source.path)
            self.source_watch.at_start()
        self.state.prepare()
        with self.state.lock():
            try:
                for channel in self.config.channels:
                    try:
                        spool = await self.channels.open_spool(channel)
                    except SpoolError as exc:  # nothing read yet: the state dir is unusable
                        raise StateError(str(exc)) from exc
                    await self.channels.add(channel, spool)
                queued = sum(len(s) for s in self.channels.spools.values())
                if queued:
                    log.info("%d event(s) queued by an earlier run will be sent first", queued)
                if source.path is not None:
                    checkpoint = self.checkpoints.load(self.config.source.start_at)
                    self.resume = await Resume.find(checkpoint, self.channels.spools)
                    self.checkpoints.held_end = self.resume.held_end
                await self.replays.take(self.config)
                await self._serve(source)
            finally:
                await self.channels.aclose()
        return self._finish()

    def status(self) -> Status:
        """What ``/metrics`` and ``/healthz`` show, as of now."""
        return Status(
            source=str(self.tail.path) if self.tail is not None else "stdin",
            state=self.source_state,
            intake=self.intake.stats,
            channels=self.channels.statuses(),
            now=self.clock.time(),
            missing_since=self.source_watch.missing_since if self.source_watch else None,
        )

    async def apply(self, plan: ReloadPlan) -> bool:
        opened: dict[str, Spool] = {}
        try:
            for channel in plan.added:
                opened[channel.name] = await self.channels.open_spool(channel)
        except SpoolError as exc:
            for spool in opened.values():
                await spool.aclose()
            log.error("reload refused, the running config stays: %s", exc)
            return False
        async with self.channels.between_batches():
            # Lines read from now on are routed by the new config; none before it.
            self.config = plan.config
            self.intake = Intake(plan.config, self.intake.stats)
        for channel in plan.added:
            await self.channels.add(channel, opened[channel.name])
        for channel in plan.rerouted:
            self.channels.reroute(channel)
        for channel in plan.changed:
            await self.channels.replace(channel)
        for name in plan.removed:
            self._removed_stats += [c.stats for c in self.channels.statuses() if c.name == name]
            spool = await self.channels.remove(name)
            log.warning(
                "channel %s was removed: its backlog (%d event(s)) stays on disk in %s; "
                "add the channel back to deliver it",
                name,
                len(spool),
                spool.directory,
                extra={"channel": name, "count": len(spool)},
            )
        if plan.is_listen_changed:
            await self.metrics.move(self.config.metrics_listen)
        return True

    async def _serve(self, source: Source) -> None:
        saved = self.checkpoints.saved
        async with Poster(clock=self.clock, state_dir=self.state.kinds_dir) as poster:
            await self.metrics.start(self.config.metrics_listen)
            # In the background: a kind that looks something up first (a Slack app's
            # #names) reports what is wrong at start, without holding up the reading.
            preparing = asyncio.create_task(
                poster.prepare((c, sink_for(c)) for c in self.config.channels), name="prepare"
            )
            self.channels.start(poster, self.config.channels)
            housekeeping = asyncio.create_task(self._housekeeping(), name="housekeeping")
            try:
                await self.read_until_stopped(self.store_all(source, saved))
                await cancel_and_wait(housekeeping)
                # Signals stay ours while draining: a second SIGINT cuts the drain short.
                await self.channels.drain(self.config.delivery.drain_timeout, self.forced)
            finally:
                await cancel_and_wait(housekeeping)
                await cancel_and_wait(preparing)
                self.remove_signal_handlers()
                await self.metrics.stop()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(REPLAY_POLL_SECONDS)
            flush_suppressed()
            if self.source_watch is not None and self.tail is not None:
                self.source_state = self.source_watch.check(
                    self.tail.is_waiting,
                    self.clock.time(),
                    self.config.source.missing_after,
                    self.source_state,
                )
            try:
                await self.replays.take(self.config)
            except (SpoolError, OSError) as exc:
                log.error("cannot re-queue replayed dead letters: %s", exc)

    def _finish(self) -> RunResult:
        stats = [c.stats for c in self.channels.statuses()] + self._removed_stats
        result = RunResult(
            self.intake.stats,
            forced=self.forced.is_set(),
            failed=self.failed,
            dead_lettered=sum(s.dead_lettered for s in stats),
            piped_data=self.piped_data,
        )
        for name, spool in self.channels.spools.items():
            if len(spool):
                result.undelivered += len(spool)
                log.warning(
                    "%s: %d event(s) not delivered yet; they stay queued in %s for the next run",
                    name,
                    len(spool),
                    spool.directory,
                    extra={"channel": name, "count": len(spool)},
                )
        owed = sum(s.summaries_owed for s in stats)
        if owed:
            result.undelivered += owed
            log.warning(
                "%d flood-control summary message(s) not delivered yet; their counts are kept "
                "for the next run",
                owed,
            )
        _log_summary(self.intake.stats)
        return result


def _log_summary(stats: IntakeStats) -> None:
    matched = ", ".join(f"{k}={v}" for k, v in sorted(stats.matched.items())) or "none"
    log.info(
        "read %d lines, skipped %d, unknown severity %d; matched: %s",
        stats.lines_read,
        stats.lines_rejected,
        stats.unknown_severity,
        matched,
    )

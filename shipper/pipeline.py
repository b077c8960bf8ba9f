"""``shipper run``: wire source -> intake -> backlogs -> channel workers, and run the lifecycle.

Start: one backlog and one worker per channel, one shared ``Poster``. Run: read
batches of lines, route them, append each alert to the backlog of every channel
that takes it. Stop, at end of input or on SIGTERM/SIGINT: stop reading, close
the backlogs, let the workers deliver what is queued until ``drain_timeout``,
then dead-letter what is left with the reason, so nothing read is lost. A
second SIGINT skips the wait. Signal handlers only set events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from shipper.backlog import MemoryBacklog
from shipper.clock import Clock, SystemClock
from shipper.config import ChannelConfig, Config
from shipper.deadletter import DeadLetters
from shipper.delivery import ChannelWorker, Poster
from shipper.formats import render
from shipper.intake import Intake, IntakeStats
from shipper.sources.lines import Line
from shipper.sources.stdin import read_lines

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """How a run ended: what was read and what could not be delivered before exit."""

    intake: IntakeStats
    undelivered: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    forced: bool = False


async def run_pipeline(
    config: Config,
    fd: int,
    *,
    dry_run: bool,
    out: BinaryIO | None = None,
    clock: Clock | None = None,
    rand: Callable[[], float] = random.random,
) -> RunResult:
    """Read ``fd`` to its end (or to a stop signal) and deliver what matches."""
    lines = read_lines(fd, config.source.max_line_bytes)
    if dry_run:
        return await _dry_run(config, lines, out or sys.stdout.buffer)
    return await Run(config, clock or SystemClock(), rand).run(lines)


async def _dry_run(config: Config, lines: AsyncIterator[list[Line]], out: BinaryIO) -> RunResult:
    intake = Intake(config)
    channels = {c.name: c for c in config.channels}
    async for batch in lines:
        messages = [
            orjson.dumps({"channel": name, "payload": render(channels[name], [r.alert]).payload})
            for r in intake.process(batch)
            for name in r.channels
        ]
        if messages:
            out.write(b"\n".join(messages) + b"\n")
            out.flush()
    _log_summary(intake.stats)
    return RunResult(intake.stats)


class Run:
    """One real run: backlogs, workers, signals, drain."""

    def __init__(self, config: Config, clock: Clock, rand: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.rand = rand
        self.intake = Intake(config)
        self.backlogs = {c.name: MemoryBacklog() for c in config.channels}
        self.dead_letters = DeadLetters(config.source.state_dir)
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()

    async def run(self, lines: AsyncIterator[list[Line]]) -> RunResult:
        """Read until the input ends or a signal arrives, then drain and report."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            async with Poster(clock=self.clock) as poster:
                workers = [
                    asyncio.create_task(self._worker(c, poster).run(), name=f"deliver:{c.name}")
                    for c in self.config.channels
                ]
                for worker in workers:
                    worker.add_done_callback(_report_crash)
                await self._read_until_stopped(lines)
                await self._drain(workers)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return await self._finish()

    def _worker(self, channel: ChannelConfig, poster: Poster) -> ChannelWorker:
        return ChannelWorker(
            channel,
            self.backlogs[channel.name],
            poster,
            self.dead_letters,
            renderer=render,
            clock=self.clock,
            rand=self.rand,
        )

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            if sig is signal.SIGINT:
                log.warning("second interrupt: stopping now")
                self.forced.set()
            return
        log.info(
            "%s received: no more reading; delivering what is queued (up to %gs)",
            sig.name,
            self.config.delivery.drain_timeout,
        )
        self.stopping.set()

    async def _read_until_stopped(self, lines: AsyncIterator[list[Line]]) -> None:
        reader = asyncio.create_task(self._read(lines), name="read")
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    async def _read(self, lines: AsyncIterator[list[Line]]) -> None:
        backlogs = self.backlogs
        async for batch in lines:
            for routed in self.intake.process(batch):
                for name in routed.channels:
                    await backlogs[name].append((routed.alert,))
        log.info("end of input after %d lines", self.intake.stats.lines_read)

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        for backlog in self.backlogs.values():
            backlog.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.delivery.drain_timeout
        forced = asyncio.create_task(self.forced.wait())
        pending: set[asyncio.Future[Any]] = {*workers}
        while pending and not self.forced.is_set() and loop.time() < deadline:
            _, pending = await asyncio.wait(
                pending | {forced},
                timeout=deadline - loop.time(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            pending.discard(forced)
        forced.cancel()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _finish(self) -> RunResult:
        result = RunResult(self.intake.stats, forced=self.forced.is_set())
        timeout = self.config.delivery.drain_timeout
        for channel in self.config.channels:
            backlog = self.backlogs[channel.name]
            left = await backlog.peek(len(backlog))
            if not left:
                continue
            reason = f"not delivered before shipper stopped (drain_timeout {timeout:g}s)"
            self.dead_letters.write(channel.name, left, reason, 0)
            result.undelivered += len(left)
            result.dead_lettered[channel.name] = len(left)
            log.error(
                "%s: %d event(s) not delivered at exit; written to the dead-letter file "
                "(shipper replay %s)",
                channel.name,
                len(left),
                channel.name,
                extra={"channel": channel.name, "count": len(left)},
            )
        _log_summary(self.intake.stats)
        return result


def _report_crash(task: asyncio.Task[None]) -> None:
    """Say at once that a channel stopped delivering; its events stay in its backlog."""
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "%s stopped on an unexpected error; its events stay queued",
            task.get_name(),
            exc_info=task.exception(),
        )


def _log_summary(stats: IntakeStats) -> None:
    matched = ", ".join(f"{k}={v}" for k, v in sorted(stats.matched.items())) or "none"
    log.info(
        "read %d lines, skipped %d, unknown severity %d; matched: %s",
        stats.lines_read,
        stats.lines_rejected,
        stats.unknown_severity,
        matched,
    )

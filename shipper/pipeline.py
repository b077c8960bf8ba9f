"""``shipper run``: wire source -> intake -> spools -> channel workers, and run the lifecycle.

Start: take the state directory (its lock), open one durable spool and one
worker per channel, and re-queue dead letters handed back by ``shipper
replay``. Run: read batches of lines, route them, append each alert to the
spool of every channel that takes it, make the spools durable (fsync), and
only then save the tailed file's read position, so a crash at any moment
loses nothing: the lines after the saved position are read again. The
position is saved with each spool's end, so lines read again after a crash
between the two steps are not queued twice (``resume``). Stop, at
end of stdin or on SIGTERM/SIGINT: stop reading, let the workers deliver what
is queued until ``drain_timeout``; what is left stays in the spools for the
next run. A second SIGINT skips the wait. Signal handlers only set events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from shipper.clock import Clock, SystemClock
from shipper.config import ChannelConfig, Config
from shipper.deadletter import DeadLetters
from shipper.delivery import ChannelWorker, Poster
from shipper.errors import PositionError, SpoolError
from shipper.event import Alert, make_event, to_alert
from shipper.formats import render
from shipper.intake import Intake, IntakeStats
from shipper.resume import Resume
from shipper.sources.checkpoint import Checkpoint, FilePosition, load_checkpoint, save_position
from shipper.sources.file import FileTail
from shipper.sources.lines import Line
from shipper.sources.stdin import read_lines
from shipper.spool import Spool
from shipper.state import StateDir

log = logging.getLogger(__name__)

# How often a running process looks for dead letters handed back by `shipper replay`.
REPLAY_POLL_SECONDS = 1.0
# Dead letters re-queued per spool append when a replay file is taken in.
REPLAY_BATCH = 1000

Batch = tuple[list[Line], FilePosition | None]


@dataclass(frozen=True)
class Source:
    """Where to read: stdin (``path`` None) or a file to tail."""

    path: Path | None
    fd: int = 0
    from_beginning: bool = False


@dataclass
class RunResult:
    """How a run ended: what was read, and what is still queued for the next run."""

    intake: IntakeStats
    undelivered: int = 0
    forced: bool = False
    failed: bool = False


async def run_pipeline(
    config: Config,
    source: Source,
    *,
    dry_run: bool,
    out: BinaryIO | None = None,
    clock: Clock | None = None,
    rand: Callable[[], float] = random.random,
) -> RunResult:
    """Read ``source`` until its end (stdin) or a stop signal, and deliver what matches."""
    if dry_run:
        return await DryRun(config, out or sys.stdout.buffer).run(source)
    return await Run(config, clock or SystemClock(), rand).run(source)


class _Lifecycle:
    """Reading until the input ends or a signal arrives; shared by real and dry runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.intake = Intake(config)
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()
        self.tail: FileTail | None = None

    def batches(self, source: Source, saved: FilePosition | None) -> AsyncIterator[Batch]:
        """Batches of lines, each with the position to save once they are durable."""
        max_bytes = self.config.source.max_line_bytes
        if source.path is None:
            return _stdin_batches(source.fd, max_bytes)
        self.tail = FileTail(
            source.path,
            saved=saved,
            start_at=self.config.source.start_at,
            from_beginning=source.from_beginning,
            max_line_bytes=max_bytes,
        )
        return _tail_batches(self.tail)

    def on_signal(self, sig: signal.Signals) -> None:
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

    async def read_until_stopped(self, reading: Coroutine[Any, Any, None]) -> None:
        """Run ``reading`` until it ends or a stop signal arrives, then cancel it."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)
        reader = asyncio.create_task(reading, name="read")
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


class DryRun(_Lifecycle):
    """Prints the messages a run would post; posts nothing, writes no state."""

    def __init__(self, config: Config, out: BinaryIO) -> None:
        super().__init__(config)
        self.out = out
        self.channels = {c.name: c for c in config.channels}

    async def run(self, source: Source) -> RunResult:
        try:
            await self.read_until_stopped(self._print(self.batches(source, None)))
        finally:
            self.remove_signal_handlers()
        _log_summary(self.intake.stats)
        return RunResult(self.intake.stats)

    async def _print(self, batches: AsyncIterator[Batch]) -> None:
        channels = self.channels
        async for lines, _ in batches:
            messages = [
                orjson.dumps(
                    {"channel": name, "payload": render(channels[name], [r.alert]).payload}
                )
                for r in self.intake.process(lines)
                for name in r.channels
            ]
            if messages:
                self.out.write(b"\n".join(messages) + b"\n")
                self.out.flush()


class Run(_Lifecycle):
    """One real run: state directory, spools, workers, signals, drain."""

    def __init__(self, config: Config, clock: Clock, rand: Callable[[], float]) -> None:
        super().__init__(config)
        self.clock = clock
        self.rand = rand
        self.state = StateDir(config.source.state_dir)
        self.dead_letters = DeadLetters(config.source.state_dir)
        self.spools: dict[str, Spool] = {}
        self.failed = False
        self.resume = Resume(None, {})
        self._saved: FilePosition | None = None
        # Spool appends and checkpoint saves take turns, so the spool ends saved with a
        # position always mark where that position's lines end in each spool.
        self._checkpoint_lock = asyncio.Lock()

    async def run(self, source: Source) -> RunResult:
        """Deliver until the input ends or a signal arrives; raises ``StateError`` up front."""
        self.state.prepare()
        with self.state.lock():
            try:
                for channel in self.config.channels:
                    self.spools[channel.name] = await Spool.open(
                        self.state.spool_dir(channel.name),
                        max_bytes=channel.delivery.spool_max_bytes,
                        name=channel.name,
                    )
                queued = sum(len(s) for s in self.spools.values())
                if queued:
                    log.info("%d event(s) queued by an earlier run will be sent first", queued)
                if source.path is not None:
                    checkpoint = self._load_checkpoint()
                    self._saved = checkpoint.position if checkpoint is not None else None
                    self.resume = await Resume.find(checkpoint, self.spools)
                await self._take_replays()
                await self._serve(source)
            finally:
                for spool in self.spools.values():
                    await spool.aclose()
        return self._finish()

    async def _serve(self, source: Source) -> None:
        saved = self._saved
        async with Poster(clock=self.clock) as poster:
            workers = [
                asyncio.create_task(self._worker(c, poster).run(), name=f"deliver:{c.name}")
                for c in self.config.channels
            ]
            for worker in workers:
                worker.add_done_callback(_report_crash)
            replays = asyncio.create_task(self._poll_replays(), name="replays")
            try:
                await self.read_until_stopped(self._store_all(self.batches(source, saved)))
                replays.cancel()
                # Signals stay ours while draining: a second SIGINT cuts the drain short.
                await self._drain(workers)
            finally:
                replays.cancel()
                self.remove_signal_handlers()

    def _worker(self, channel: ChannelConfig, poster: Poster) -> ChannelWorker:
        return ChannelWorker(
            channel,
            self.spools[channel.name],
            poster,
            self.dead_letters,
            renderer=render,
            clock=self.clock,
            rand=self.rand,
        )

    def _load_checkpoint(self) -> Checkpoint | None:
        try:
            return load_checkpoint(self.state.position_path)
        except PositionError as exc:
            log.warning(
                "the saved read position is unusable (%s): starting at the %s of the file",
                exc,
                "beginning" if self.config.source.start_at == "beginning" else "end",
            )
            return None

    async def _announce(self) -> None:
        """Say "started" once the source is open: from then on, appended lines are read."""
        if self.tail is not None:
            await self.tail.ready.wait()
        log.info(
            "started: reading %s; channels: %s",
            self.tail.path if self.tail is not None else "stdin",
            ", ".join(c.name for c in self.config.channels),
        )

    async def _store_all(self, batches: AsyncIterator[Batch]) -> None:
        # stdin is open already; a tailed file is open once the tail says so.
        announce = asyncio.create_task(self._announce(), name="announce")
        if self.tail is None:
            await announce
        try:
            async for lines, position in batches:
                async with self._checkpoint_lock:
                    await self._store(lines, position)
                    if position is not None:
                        await self._save_checkpoint(position)
        except (SpoolError, OSError) as exc:
            # Stop reading: what was not made durable is read again by the next run (a
            # tailed file's position was not saved past it).
            self.failed = True
            again = (
                "the next run reads the unsaved lines again"
                if self.tail is not None
                else "lines read from stdin since the last save are lost"
            )
            log.error("cannot keep events on disk, reading stopped (%s): %s", again, exc)
        else:
            if self.tail is None:
                log.info("end of input after %d lines", self.intake.stats.lines_read)
        finally:
            announce.cancel()

    async def _store(self, lines: list[Line], position: FilePosition | None) -> None:
        pending: dict[str, list[Alert]] = defaultdict(list)
        for routed in self.intake.process(lines):
            for name in routed.channels:
                pending[name].append(routed.alert)
        self.resume.drop_queued(pending, lines, position)
        for name, alerts in pending.items():
            await self.spools[name].append(alerts)
        for name in pending:
            await self.spools[name].commit()

    async def _save_checkpoint(self, position: FilePosition) -> None:
        ends = {name: (spool.end.segment, spool.end.offset) for name, spool in self.spools.items()}
        await asyncio.to_thread(save_position, self.state.position_path, position, ends)
        self._saved = position

    async def _poll_replays(self) -> None:
        while True:
            await asyncio.sleep(REPLAY_POLL_SECONDS)
            try:
                await self._take_replays()
            except (SpoolError, OSError) as exc:
                log.error("cannot re-queue replayed dead letters: %s", exc)

    async def _take_replays(self) -> None:
        """Append dead letters handed back by ``shipper replay`` to their channel's spool.

        A file is read in batches, so a large one never sits in memory whole; a crash
        part-way queues the whole file again next time (duplicates, never loss).
        """
        for channel in self.config.channels:
            for path in self.state.pending_replays(channel.name):
                async with self._checkpoint_lock:
                    queued = await self._take_replay(channel.name, path)
                log.info("%s: %d replayed line(s) queued", channel.name, queued)

    async def _take_replay(self, channel: str, path: Path) -> int:
        spool = self.spools[channel]
        queued = 0
        with path.open("rb") as lines:
            while batch := list(islice(lines, REPLAY_BATCH)):
                alerts = self._replayed_alerts(path.name, queued, batch)
                await spool.append(alerts)
                queued += len(batch)
        await spool.commit()
        if self._saved is not None:
            # Replayed records past the saved spool end would look like re-read lines.
            await self._save_checkpoint(self._saved)
        await asyncio.to_thread(path.unlink)
        return queued

    def _replayed_alerts(self, name: str, before: int, lines: list[bytes]) -> list[Alert]:
        fields, default = self.config.fields, self.config.default_severity
        alerts = []
        for number, raw_line in enumerate(lines, before + 1):
            try:
                record: Any = orjson.loads(raw_line)
                event = make_event(record["event"], int(record["line"]), fields, default)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("%s line %d: not a dead letter, skipped", name, number)
                continue
            alerts.append(to_alert(event, fields))
        return alerts

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        for spool in self.spools.values():
            spool.close()
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

    def _finish(self) -> RunResult:
        result = RunResult(self.intake.stats, forced=self.forced.is_set(), failed=self.failed)
        for name, spool in self.spools.items():
            if len(spool):
                result.undelivered += len(spool)
                log.warning(
                    "%s: %d event(s) not delivered yet; they stay queued in %s for the next run",
                    name,
                    len(spool),
                    spool.directory,
                    extra={"channel": name, "count": len(spool)},
                )
        _log_summary(self.intake.stats)
        return result


async def _stdin_batches(fd: int, max_line_bytes: int) -> AsyncIterator[Batch]:
    async for lines in read_lines(fd, max_line_bytes):
        yield lines, None


async def _tail_batches(tail: FileTail) -> AsyncIterator[Batch]:
    async for batch in tail.batches():
        yield batch.lines, batch.position


def _report_crash(task: asyncio.Task[None]) -> None:
    """Say at once that a channel stopped delivering; its events stay in its spool."""
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

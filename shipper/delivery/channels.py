"""The running channels of ``shipper run``: a durable spool and a delivery worker for each.

``ChannelSet`` opens each channel's spool in the state directory, starts the
workers once the HTTP session exists, changes the set while running (a reload
adds, removes or replaces channels) and drains it at the end. ``lock`` is the
run's one lock between spool appends, checkpoint saves and changes to
``spools``: a checkpoint records where each spool ended, and those ends must
mark where the saved position's lines end in each spool. Retiring a worker
lets the post in flight finish (so it is not sent twice) and cancels the
worker if it was only waiting; its events stay in its spool either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shipper.clock import Clock
from shipper.config.model import ChannelConfig
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.flood_groups import flood_settings
from shipper.delivery.flooding import FloodGate
from shipper.delivery.stats import ChannelStatus, WorkerStats
from shipper.delivery.worker import ChannelWorker, Sender
from shipper.sinks import sink_for
from shipper.spool.spool import Spool
from shipper.spool.state import StateDir

log = logging.getLogger(__name__)

# A retired worker's post in flight gets its channel's timeout and this much more.
RETIRE_MARGIN_SECONDS = 5.0
# A change waiting this long for the lock says why: a batch is stuck on a full backlog.
LOCK_NOTICE_SECONDS = 5.0


@dataclass
class _Running:
    worker: ChannelWorker
    task: asyncio.Task[None]


class ChannelSet:
    """Spools and workers by channel name; see the module docstring."""

    def __init__(
        self,
        state: StateDir,
        dead_letters: DeadLetters,
        *,
        clock: Clock,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.spools: dict[str, Spool] = {}
        self.lock = asyncio.Lock()
        self._state = state
        self._dead_letters = dead_letters
        self._clock = clock
        self._rand = rand
        self._running: dict[str, _Running] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._started: dict[str, float] = {}  # unix time each channel first ran
        self._poster: Sender | None = None

    @contextlib.asynccontextmanager
    async def between_batches(self) -> AsyncIterator[None]:
        """Hold ``lock``: no batch of lines is being stored or checkpointed meanwhile."""
        try:
            await asyncio.wait_for(self.lock.acquire(), LOCK_NOTICE_SECONDS)
        except TimeoutError:
            log.warning(
                "waiting for the batch being stored: reading is paused while a channel's "
                "backlog is full (spool_max_bytes); the change applies once it has room"
            )
            await self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

    async def open_spool(self, channel: ChannelConfig) -> Spool:
        """Open (or create) ``channel``'s spool; ``add`` puts it to use."""
        return await Spool.open(
            self._state.spool_dir(channel.name),
            max_bytes=channel.delivery.spool_max_bytes,
            name=channel.name,
        )

    async def add(self, channel: ChannelConfig, spool: Spool) -> None:
        """Take ``channel`` on with its open ``spool``; its worker starts if delivery has."""
        async with self.between_batches():
            self.spools[channel.name] = spool
        if self._poster is not None:
            self._start(channel)

    def start(self, poster: Sender, channels: Iterable[ChannelConfig]) -> None:
        """Start a worker for each of ``channels`` (their spools are open) posting through
        ``poster``."""
        self._poster = poster
        for channel in channels:
            self._start(channel)

    async def remove(self, name: str) -> Spool:
        """Stop delivering to ``name``; returns its spool, closed, its backlog kept on disk."""
        async with self.between_batches():
            spool = self.spools.pop(name)
        running = self._running.pop(name, None)
        if running is not None:
            await self._retire(running)
        await spool.aclose()
        self._started.pop(name, None)
        return spool

    async def replace(self, channel: ChannelConfig) -> None:
        """Deliver ``channel``'s spool with its new settings, once the old worker retired."""
        running = self._running.pop(channel.name, None)
        stats = None
        if running is not None:
            await self._retire(running)
            stats = running.worker.stats
        self._start(channel, stats)

    def reroute(self, channel: ChannelConfig) -> None:
        """Only ``channel``'s routing changed: its worker goes on, with the new config."""
        running = self._running.get(channel.name)
        if running is not None:
            running.worker.channel = channel

    def statuses(self) -> tuple[ChannelStatus, ...]:
        """Each open channel's counters and backlog, for metrics and health."""
        now = self._clock.time()
        statuses = []
        for name, spool in self.spools.items():
            running = self._running.get(name)
            statuses.append(
                ChannelStatus(
                    name,
                    running.worker.stats if running is not None else WorkerStats(),
                    len(spool),
                    spool.bytes_pending,
                    self._started.get(name, now),
                )
            )
        return tuple(statuses)

    async def drain(self, seconds: float, forced: asyncio.Event) -> None:
        """Close the spools to appends and let the workers empty them for up to ``seconds``
        (or until ``forced``); then cancel what is left, which stays in the spools."""
        for spool in self.spools.values():
            spool.close()
        tasks = {r.task for r in self._running.values()} | self._retiring
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        stop = asyncio.create_task(forced.wait())
        pending: set[asyncio.Future[Any]] = {*tasks}
        while pending and not forced.is_set() and loop.time() < deadline:
            _, pending = await asyncio.wait(
                pending | {stop},
                timeout=deadline - loop.time(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            pending.discard(stop)
        stop.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def give_up_waiting(self) -> None:
        """Appends that find a backlog full raise ``BacklogFullError`` from now on."""
        for spool in self.spools.values():
            spool.give_up_waiting()

    async def aclose(self) -> None:
        """Close every spool (committing what was appended)."""
        for spool in self.spools.values():
            await spool.aclose()

    def _start(self, channel: ChannelConfig, stats: WorkerStats | None = None) -> None:
        assert self._poster is not None
        spool = self.spools[channel.name]
        sink = sink_for(channel)
        # The sink knows its kind's default; the channel's keys, if given, override it.
        settings = flood_settings(channel.delivery, sink.limits.flood_control)
        flood = FloodGate.in_directory(channel.name, settings, spool.directory, self._clock)
        worker = ChannelWorker(
            channel,
            spool,
            self._poster,
            self._dead_letters,
            sink=sink,
            clock=self._clock,
            rand=self._rand,
            stats=stats,
            flood=flood,
        )
        task = asyncio.create_task(worker.run(), name=f"deliver:{channel.name}")
        task.add_done_callback(_report_crash)
        self._running[channel.name] = _Running(worker, task)
        self._started.setdefault(channel.name, self._clock.time())

    async def _retire(self, running: _Running) -> None:
        task = running.task
        # Tracked until it ends, so a drain that begins meanwhile waits for it too.
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        if running.worker.retire():
            task.cancel()
        limit = running.worker.channel.delivery.timeout + RETIRE_MARGIN_SECONDS
        _, pending = await asyncio.wait({task}, timeout=limit)
        for stuck in pending:
            stuck.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _report_crash(task: asyncio.Task[None]) -> None:
    """Say at once that a channel stopped delivering; its events stay in its spool."""
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "%s stopped on an unexpected error; its events stay queued",
            task.get_name(),
            exc_info=task.exception(),
        )

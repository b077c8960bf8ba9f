"""Routed batches -> the channels' spools, then the read position: group commit.

``Store.put`` queues a batch's alerts (per channel) and its read position; a
background task appends them to the spools, makes the spools durable (one
fsync per spool) and only then saves the position. Batches routed while a
group is being made durable wait and go together in the next group, with
one set of fsyncs and one position save (the last batch's). When input
arrives slower than a fsync, every batch is its own group, stored at once;
when shipper catches up on a backlog of lines, the fsyncs per line drop
with no wait added. At most ``max_waiting`` batches, or batches holding
``max_waiting_alerts`` alerts, wait; ``put`` then waits for the group in
progress (backpressure on the reading). Once the batches written by ``put``
itself (below) hold ``max_waiting_alerts`` alerts, they are made durable
before ``put`` returns.

With ``sync_after`` (a tailed file, whose lines can be read again), a group's
alerts are written to the spools' files at once, but the fsyncs and the
position save wait up to that long, for all the groups stored meanwhile: a
live log's alerts, a few a second, then cost a fsync per ``sync_after`` at
most instead of one each. A batch put while nothing is being stored, with
room in its channels' backlogs, is written by ``put`` itself, so a live log's
alert reaches its channel's worker in the same turn of the event loop, and
no task is started for it. When the sync's time is up (a timer), what is owed
is made durable: a spool whose records were all delivered spares its fsync,
and when every spool owed one does (a live log's alerts are posted within
milliseconds), the position is saved in the timer's own turn of the event
loop; otherwise the task commits the others first. Nothing is lost by the
wait: a ``kill -9`` loses no write (the kernel has it), and the position saved
on disk never passes what the spools made durable or delivered, so a power
loss has the next run read those lines again (each channel queues only the
ones it lacks). ``flush`` makes what is owed durable at once, as does a write
that found the disk full.

A full disk (ENOSPC, EDQUOT, on a spool's write or the position save)
pauses the storing, and with it the reading: the alerts a failed write left in
the spools' memory are written again, and the position saved, once delivered
events have freed room (tried every ``ROOM_POLL`` seconds, logged once per
pause; each try first lets the spools ``reclaim`` a delivered segment still
written to), so the position never passes what the spools hold. A stop ends the
wait (``Spool.give_up_waiting``) as a failure. Any other failure stops the
storing: ``on_failure`` is called, and ``put`` and ``flush`` raise the error
from then on.

Each group is stored under the channels' lock, as one batch was before: a
reload, a replay or a change of channels never falls between a group's
appends and its position save. A batch routed before a reload removed one
of its channels is not queued to that channel any more.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from shipper.errors import SpoolError
from shipper.routing.event import Alert
from shipper.sources.position import FilePosition
from shipper.spool.spool import Spool

__all__ = ["MAX_WAITING", "MAX_WAITING_ALERTS", "Store", "uninterrupted"]

# Batches routed while a group is being stored, and the alerts they hold: a catch-up
# on lines that mostly match must not gather a large part of its input in memory.
MAX_WAITING = 16
MAX_WAITING_ALERTS = 1000
# Seconds between tries to store a group while the disk is full.
ROOM_POLL = 0.5

log = logging.getLogger(__name__)

Pending = dict[str, list[Alert]]


class Spools(Protocol):
    """The spools by channel, and the lock their appends and the position saves share
    (``channels.ChannelSet``)."""

    @property
    def lock(self) -> asyncio.Lock: ...

    @property
    def spools(self) -> Mapping[str, Spool]: ...


class Store:
    """Stores routed batches in order, in a task of its own; ``flush`` before dropping it."""

    def __init__(
        self,
        channels: Spools,
        save: Callable[[FilePosition], None],
        *,
        on_failure: Callable[[], object] = lambda: None,
        max_waiting: int = MAX_WAITING,
        max_waiting_alerts: int = MAX_WAITING_ALERTS,
        sync_after: float = 0.0,
    ) -> None:
        self._channels = channels
        self._save = save
        self._on_failure = on_failure
        self._max_waiting = max_waiting
        self._max_waiting_alerts = max_waiting_alerts
        self._sync_after = sync_after
        self._waiting_alerts = 0
        self._waiting: list[tuple[Pending, FilePosition | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._paused = False  # the disk is full: a group waits for room
        self._full: BaseException = OSError(errno.ENOSPC, "no room")  # why it waits
        # Written, not yet durable (``sync_after``): the spools and the position after
        # their lines. The sync is due once ``_timer`` has fired (or was cancelled: now).
        self._unsynced: set[str] = set()
        self._owed: FilePosition | None = None
        self._owing = False
        self._timer: asyncio.TimerHandle | None = None
        # Alerts written since the last sync: bounded as the batches waiting for the
        # task are, so a catch-up is made durable (its position saved) as it goes.
        self._owed_alerts = 0
        self._error: Exception | None = None  # what stopped the storing
        self._flushing = 0  # flushes under way: what is owed is made durable at once

    async def put(self, pending: Pending, position: FilePosition | None) -> None:
        """Queue one batch's alerts per channel and the position after its lines."""
        if self._task is not None and self._task.done():
            self._task.result()  # raises a cancellation of the task
        if self._error is not None:
            raise self._error
        if self._is_idle():
            try:
                written = self._write_now(pending, position)
            except Exception as exc:
                self._fail(exc)
                raise
            if written:
                if self._owed_alerts >= self._max_waiting_alerts:
                    await self.flush()
                return
        self._waiting.append((pending, position))
        self._waiting_alerts += sum(map(len, pending.values()))
        self._start_task()
        if (
            len(self._waiting) >= self._max_waiting
            or self._waiting_alerts >= self._max_waiting_alerts
        ):
            await self.flush()

    def _is_idle(self) -> bool:
        """Whether a batch may be written by ``put`` itself: the files are synced later
        (``sync_after``), and nothing is being stored."""
        return (
            self._sync_after > 0
            and not self._waiting
            and (self._task is None or self._task.done())
            and not self._channels.lock.locked()
        )

    def _write_now(self, pending: Pending, position: FilePosition | None) -> bool:
        """Append and write one batch now, and owe its sync: a live log's alert reaches
        its channel's worker in this turn of the event loop, not the next.

        ``False``, with nothing appended, when a channel's backlog is full: the task
        stores the batch then, as any other. Nothing here waits, so nothing can come in
        between (the channels' lock is free, ``_is_idle`` checked it) and no cancellation
        can leave a batch half stored.
        """
        spools = self._channels.spools
        names = [name for name, alerts in pending.items() if alerts and name in spools]
        prepared = []
        for name in names:
            records = spools[name].records_with_room(pending[name])
            if records is None:
                return False
            prepared.append((name, records))
        for name, records in prepared:
            try:
                spools[name].add_records(pending[name], records)
            except SpoolError as exc:  # kept in memory: written once there is room
                if not _is_full(exc):
                    raise
        self._owed_alerts += sum(len(pending[name]) for name in names)
        if not self._written(names, position):
            # The disk is full: the task makes them durable now, waiting for room.
            self._unsynced.update(names)
            if position is not None:
                self._owed = position
            self._owing = True
            self._cancel_timer()
            self._start_task()
        return True

    def _start_task(self) -> None:
        """Start the storing task unless it runs: it stores what waits, and makes what is
        owed durable once that is due."""
        if self._error is None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._store_waiting(), name="store")

    async def flush(self) -> None:
        """Wait until every batch queued so far is stored, durable, and its position saved."""
        if self._error is not None:
            raise self._error
        if self._owing:
            self._start_task()
        if self._task is not None:
            self._flushing += 1
            try:
                await uninterrupted(self._task)
            finally:
                self._flushing -= 1
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Make no sync from now on: a run that ends without the last ``flush`` (it
        failed) leaves what is still owed to the next run, which reads those lines
        again. ``put`` and ``flush`` raise from then on."""
        self._cancel_timer()
        if self._error is None:
            self._error = SpoolError("the store is closed")

    def _fail(self, exc: Exception) -> None:
        """Stop the storing: ``put`` and ``flush`` raise ``exc`` from now on, and the
        reading, which may be waiting for lines that never come (a quiet tail), is told
        to stop."""
        self._error = exc
        self._cancel_timer()
        self._on_failure()

    async def _store_waiting(self) -> None:
        try:
            while self._waiting or self._is_due():
                if not self._waiting:
                    async with self._channels.lock:
                        await self._make_durable([], None)
                    continue
                group, self._waiting = self._waiting, []
                self._waiting_alerts = 0
                merged: Pending = defaultdict(list)
                for pending, _ in group:
                    for name, alerts in pending.items():
                        merged[name].extend(alerts)
                async with self._channels.lock:
                    names = await self._append(merged)
                    if not (self._sync_after and self._written(names, group[-1][1])):
                        await self._make_durable(names, group[-1][1])
        except Exception as exc:
            self._fail(exc)

    def _written(self, names: list[str], position: FilePosition | None) -> bool:
        """Write the spools ``names`` now and owe them (and ``position``) a sync within
        ``sync_after``; ``False`` if the disk is full (they must wait for room now)."""
        spools = self._channels.spools
        for name in names:
            try:
                spools[name].write()
            except SpoolError as exc:
                if not _is_full(exc):
                    raise
                return False
        self._unsynced.update(names)
        if position is not None:
            self._owed = position
        if not self._owing:
            self._owing = True
            self._timer = asyncio.get_running_loop().call_later(self._sync_after, self._sync_due)
        return True

    def _is_due(self) -> bool:
        """Whether what is owed is to be made durable now: its time is up, or a flush
        asks for it."""
        return self._owing and (self._timer is None or self._flushing > 0)

    def _sync_due(self) -> None:
        """The owed sync's time is up: make it durable here if that needs no wait, else
        in the task (which, if it runs, does so once the batches it stores are in)."""
        self._timer = None
        if self._error is not None or not self._owing:
            return
        if self._task is not None and not self._task.done():
            return
        try:
            if self._synced_at_once():
                return
        except Exception as exc:
            self._fail(exc)
            return
        self._start_task()

    def _synced_at_once(self) -> bool:
        """Save the owed position now if every spool owed a sync has nothing to commit
        (all it holds was delivered: the common case of a live log, whose alerts are
        posted within milliseconds); ``False``, with nothing done, if one has, if the
        channels are locked, or if the disk is full (the task waits for room)."""
        if self._channels.lock.locked():
            return False
        spools = self._channels.spools
        if not all(spools[name].has_nothing_to_commit for name in self._unsynced if name in spools):
            return False
        if self._owed is not None:
            try:
                self._save(self._owed)
            except OSError as exc:
                if not _is_full(exc):
                    raise
                return False
        self._synced()
        return True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _make_durable(self, names: list[str], position: FilePosition | None) -> None:
        """Commit ``names`` and the spools owed a sync, then save ``position`` (else the one
        owed), waiting for room while the disk is full."""
        names = list(dict.fromkeys([*self._unsynced, *names]))
        position = position if position is not None else self._owed
        while not await self._stored(names, position):
            await self._wait_for_room()
        self._synced()

    def _synced(self) -> None:
        """What was owed is durable, its position saved."""
        self._unsynced.clear()
        self._owed = None
        self._owing = False
        self._cancel_timer()
        self._owed_alerts = 0
        if self._paused:
            self._paused = False
            log.info("room again in the state directory: reading goes on")

    async def _append(self, pending: Pending) -> list[str]:
        """Append each channel's alerts once; the channels appended to.

        A spool keeps the alerts of an append whose write failed, so a full disk is
        not an error here: the commit writes them once there is room.
        """
        spools = self._channels.spools
        names = [name for name, alerts in pending.items() if alerts and name in spools]
        for name in names:
            try:
                await spools[name].append(pending[name])
            except SpoolError as exc:
                if not _is_full(exc):
                    raise
        return names

    async def _stored(self, names: list[str], position: FilePosition | None) -> bool:
        """Commit the spools, then save ``position``; ``False`` when the disk is full."""
        spools = self._channels.spools
        # A spool whose every record was delivered needs no commit (``commit`` would do
        # nothing): a live log's alerts are mostly posted before their sync is due.
        names = [
            name for name in names if name in spools and not spools[name].has_nothing_to_commit
        ]
        # The fsyncs run side by side, each in its own thread; every one must end
        # before the position is saved, failed or not. A live log's group mostly holds
        # one channel's alerts: that commit is awaited alone, with no task around it.
        results: list[BaseException | None]
        if len(names) == 1:
            try:
                await spools[names[0]].commit()
                results = [None]
            except Exception as exc:
                results = [exc]
        else:
            results = await asyncio.gather(
                *(spools[name].commit() for name in names), return_exceptions=True
            )
        full: BaseException | None = None
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                # A failed fsync, full disk or not, may have lost data: no retry.
                if not _is_full(result) or spools[name].is_broken:
                    raise result
                full = result
        if full is None and position is not None:
            try:
                self._save(position)
            except OSError as exc:
                if not _is_full(exc):
                    raise
                full = exc
        if full is None:
            return True
        self._full = full
        return False

    async def _wait_for_room(self) -> None:
        """Wait ``ROOM_POLL`` for deliveries to free room; raise the error on a stop (after
        the try that followed the last wait: the room may have come meanwhile)."""
        if any(spool.is_giving_up for spool in self._channels.spools.values()):
            raise self._full
        if not self._paused:
            self._paused = True
            cause = self._full.__cause__ if isinstance(self._full, SpoolError) else self._full
            log.warning(
                "the state directory is full (%s): reading paused until delivered events "
                "free room (the read position stays before what could not be stored)",
                os.strerror(cause.errno) if isinstance(cause, OSError) and cause.errno else cause,
            )
        await asyncio.sleep(ROOM_POLL)
        for spool in list(self._channels.spools.values()):
            await spool.reclaim()


def _is_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk (a write, not an fsync: a failed fsync breaks the spool)."""
    cause = exc.__cause__ if isinstance(exc, SpoolError) else exc
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)


async def uninterrupted(step: Coroutine[Any, Any, None] | asyncio.Future[None]) -> None:
    """Run ``step`` to its end even if the caller is cancelled, then pass the cancel on.

    A stop signal cancels reading. Cancelled between the spools' fsync and the
    position save, a clean stop would leave the state a crash leaves: lines
    read again by the next run, and only ``resume`` keeping them from being
    queued twice. A group is a few fsyncs, so finishing it delays a stop by
    milliseconds.
    """
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():
            raise
        await task
        raise

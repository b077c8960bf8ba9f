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
progress (backpressure on the reading).

A failure (a full disk) stops the storing: ``on_failure`` is called, and
``put`` and ``flush`` raise the error from then on.

Each group is stored under the channels' lock, as one batch was before: a
reload, a replay or a change of channels never falls between a group's
appends and its position save. A batch routed before a reload removed one
of its channels is not queued to that channel any more.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

from shipper.event import Alert
from shipper.sources.checkpoint import FilePosition
from shipper.spool import Spool

__all__ = ["MAX_WAITING", "MAX_WAITING_ALERTS", "Store", "uninterrupted"]

# Batches routed while a group is being stored, and the alerts they hold: a catch-up
# on lines that mostly match must not gather a large part of its input in memory.
MAX_WAITING = 16
MAX_WAITING_ALERTS = 1000

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
        save: Callable[[FilePosition], Awaitable[None]],
        *,
        on_failure: Callable[[], object] = lambda: None,
        max_waiting: int = MAX_WAITING,
        max_waiting_alerts: int = MAX_WAITING_ALERTS,
    ) -> None:
        self._channels = channels
        self._save = save
        self._on_failure = on_failure
        self._max_waiting = max_waiting
        self._max_waiting_alerts = max_waiting_alerts
        self._waiting_alerts = 0
        self._waiting: list[tuple[Pending, FilePosition | None]] = []
        self._task: asyncio.Task[None] | None = None

    async def put(self, pending: Pending, position: FilePosition | None) -> None:
        """Queue one batch's alerts per channel and the position after its lines."""
        if self._task is not None and self._task.done():
            self._task.result()  # raises what stopped the storing
        self._waiting.append((pending, position))
        self._waiting_alerts += sum(map(len, pending.values()))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._store_waiting(), name="store")
            self._task.add_done_callback(self._report_failure)
        if (
            len(self._waiting) >= self._max_waiting
            or self._waiting_alerts >= self._max_waiting_alerts
        ):
            await self.flush()

    async def flush(self) -> None:
        """Wait until every batch queued so far is stored and its position saved."""
        if self._task is not None:
            await uninterrupted(self._task)

    def _report_failure(self, task: asyncio.Task[None]) -> None:
        # The reading may be waiting for lines that never come (a quiet tail): it is
        # told to stop, and the error comes out of its ``flush``.
        if not task.cancelled() and task.exception() is not None:
            self._on_failure()

    async def _store_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            self._waiting_alerts = 0
            merged: Pending = defaultdict(list)
            for pending, _ in group:
                for name, alerts in pending.items():
                    merged[name].extend(alerts)
            async with self._channels.lock:
                await self._append_and_commit(merged)
                position = group[-1][1]
                if position is not None:
                    await self._save(position)

    async def _append_and_commit(self, pending: Pending) -> None:
        spools = self._channels.spools
        names = [name for name, alerts in pending.items() if alerts and name in spools]
        for name in names:
            await spools[name].append(pending[name])
        # The fsyncs run side by side, each in its own thread; every one must end
        # before the position is saved, failed or not.
        results = await asyncio.gather(
            *(spools[name].commit() for name in names), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


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

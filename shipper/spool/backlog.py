"""The per-channel backlog: the queue between routing and delivery.

``Backlog`` is the seam: routing appends alerts, the channel's worker peeks at
the oldest ones, posts them and acknowledges how many the endpoint accepted.
Nothing leaves a backlog until it is acknowledged, so a failed post is simply
peeked again. ``MemoryBacklog`` keeps alerts in memory; the durable on-disk
``shipper.spool.spool.Spool`` implements the same protocol.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from itertools import islice
from typing import Protocol

from shipper.routing.event import Alert


class Backlog(Protocol):
    """What a channel worker needs from its queue."""

    async def append(self, alerts: Sequence[Alert]) -> None:
        """Add alerts at the end, in order."""

    async def peek(self, limit: int) -> list[Alert]:
        """The oldest alerts not yet acknowledged, at most ``limit`` of them."""

    async def commit(self) -> None:
        """Make everything appended so far durable; the source offset may be saved after it."""

    async def ack(self, count: int) -> None:
        """Drop the ``count`` oldest alerts: they were delivered or dead-lettered."""

    async def wait(self, than: int = 0) -> None:
        """Return once more than ``than`` alerts wait or the backlog is closed."""

    def close(self) -> None:
        """No more appends; ``wait`` returns from now on."""

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""

    @property
    def position(self) -> tuple[int, int]:
        """Where the oldest unacknowledged alert starts: it moves with every ``ack`` that
        drops one and never comes back, also across restarts of a durable backlog."""

    def __len__(self) -> int:
        """How many alerts wait."""


class MemoryBacklog:
    """A ``Backlog`` held in memory: lost if the process dies."""

    def __init__(self) -> None:
        self._items: deque[Alert] = deque()
        self._changed = asyncio.Event()
        self._closed = False
        self._acked = 0

    async def append(self, alerts: Sequence[Alert]) -> None:
        self._items.extend(alerts)
        if alerts:
            self._changed.set()

    async def peek(self, limit: int) -> list[Alert]:
        return list(islice(self._items, limit))

    async def commit(self) -> None:
        """Nothing to do: a memory backlog is never durable."""

    async def ack(self, count: int) -> None:
        for _ in range(min(count, len(self._items))):
            self._items.popleft()
            self._acked += 1

    async def wait(self, than: int = 0) -> None:
        while len(self._items) <= than and not self._closed:
            self._changed.clear()
            await self._changed.wait()

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def position(self) -> tuple[int, int]:
        return (0, self._acked)

    def __len__(self) -> int:
        return len(self._items)

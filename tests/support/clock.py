"""``FakeClock``: a ``shipper.clock.Clock`` that moves only when something sleeps on it."""

from __future__ import annotations

import asyncio


class FakeClock:
    """A clock that moves only when something sleeps on it.

    ``sleep`` records the requested delay, advances both clocks by it at once
    and yields to the event loop once, so other tasks still get to run.
    """

    def __init__(self, start: float = 1_000.0, unix_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._unix_offset = unix_start - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._unix_offset

    def advance(self, seconds: float) -> None:
        """Move time forward without anyone sleeping (e.g. a slow post)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

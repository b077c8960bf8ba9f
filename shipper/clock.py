"""Time as a seam: the ``Clock`` protocol, the real ``SystemClock`` and a ``FakeClock`` for tests.

Delivery reads the time and sleeps only through a ``Clock``, so backoff, pacing
and give-up deadlines can be tested by asserting the delays that were asked
for instead of by waiting for them. ``FakeClock`` lives here, not under
``tests/``, because pipeline and spool tests written elsewhere need the same one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where delivery gets the time and how it waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; for intervals and deadlines."""

    def time(self) -> float:
        """Unix time in seconds; for HTTP dates and timestamps shown to people."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (cancellable)."""


class SystemClock:
    """The real clock and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


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

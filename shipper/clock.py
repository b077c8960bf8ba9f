"""Time as a seam: the ``Clock`` protocol and the real ``SystemClock``.

Delivery reads the time and sleeps only through a ``Clock``, so backoff, pacing
and give-up deadlines can be tested by asserting the delays that were asked
for instead of by waiting for them (the tests' ``FakeClock`` is in
``tests/support/clock.py``).
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

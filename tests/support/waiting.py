"""Wait on a condition with a deadline where there is nothing to await, and read an HTTP answer.

Files and a child's HTTP endpoints offer no event to wait on, so these check
every ``interval`` seconds and fail the test at the deadline: never a bare
sleep and hope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

T = TypeVar("T")


async def poll_until(
    check: Callable[[], Awaitable[T | None]], deadline: float = 10, interval: float = 0.05
) -> T:
    """Call the async ``check`` until it returns something truthy; return that."""
    async with asyncio.timeout(deadline):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


async def get(url: str) -> tuple[int, bytes]:
    """``GET url`` on a fresh session: the status and the body."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()

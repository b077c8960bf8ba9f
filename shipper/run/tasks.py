"""Ending the run's helper tasks: every task that is cancelled is awaited.

A task that is cancelled and then dropped may still be running its cleanup, and an
error it raises is reported only when it is garbage collected ("Task exception was
never retrieved"), if ever. ``cancel_and_wait`` cancels and waits for the end;
``wait_first`` waits for the first of several events and ends the waiters of the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait until each has ended.

    An error a task raised while ending is logged, not raised: the caller is ending it
    because it is no longer wanted. A cancel of the caller itself is passed on.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %s failed while ending", _name(task), exc_info=exc)


async def wait_first(*awaitables: Awaitable[object]) -> None:
    """Wait until one of ``awaitables`` is done; the others are cancelled and awaited."""
    waiters = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(*waiters)


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)

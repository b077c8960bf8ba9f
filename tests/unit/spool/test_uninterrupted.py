"""A stop signal cancels reading, but never between the spools' fsync and the position save."""

from __future__ import annotations

import asyncio

import pytest

from shipper.spool.store import uninterrupted


async def test_a_cancelled_step_still_runs_to_its_end_then_the_cancel_goes_on() -> None:
    fsynced, steps = asyncio.Event(), []

    async def store_and_save() -> None:
        steps.append("spools")
        await fsynced.wait()
        steps.append("position")

    caller = asyncio.create_task(uninterrupted(store_and_save()))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done(), "the caller waits for the step"
    fsynced.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert steps == ["spools", "position"]


async def test_an_error_in_the_step_is_raised_to_the_caller() -> None:
    async def failing() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await uninterrupted(failing())

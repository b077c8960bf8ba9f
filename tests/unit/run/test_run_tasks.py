"""Ending helper tasks: a cancelled task is awaited to its end, a failure while ending is logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shipper.run.tasks import cancel_and_wait, wait_first


async def test_cancel_and_wait_returns_after_the_task_has_cleaned_up() -> None:
    cleaned = asyncio.Event()
    started = asyncio.Event()

    async def worker() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.set()

    task = asyncio.create_task(worker())
    await started.wait()
    await cancel_and_wait(task)
    assert task.cancelled()
    assert cleaned.is_set()


async def test_a_failure_while_ending_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def worker() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("broken cleanup")

    task = asyncio.create_task(worker(), name="broken")
    await started.wait()
    with caplog.at_level(logging.ERROR, "shipper.run.tasks"):
        await cancel_and_wait(task)
    assert "task broken failed while ending" in caplog.text


async def test_wait_first_ends_the_other_waiters() -> None:
    first, second = asyncio.Event(), asyncio.Event()
    before = asyncio.all_tasks()
    first.set()
    await wait_first(first.wait(), second.wait())
    assert asyncio.all_tasks() == before


async def test_a_cancelled_caller_ends_its_waiters_too() -> None:
    never = asyncio.Event()
    before = asyncio.all_tasks()
    caller = asyncio.create_task(wait_first(never.wait(), never.wait()))
    await asyncio.sleep(0)
    await cancel_and_wait(caller)
    assert asyncio.all_tasks() == before

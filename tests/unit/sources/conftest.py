"""Fixtures of the file source tests: tails started by a test are stopped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.unit.sources.tailing import Tailer, make_tail


@pytest.fixture
async def tailers() -> AsyncIterator[list[Tailer]]:
    started: list[Tailer] = []
    yield started
    for tailer in started:
        if not tailer.task.done():
            await tailer.stop()


@pytest.fixture
def start(tailers: list[Tailer]) -> Callable[..., Tailer]:
    def start_tail(path: Path, **kwargs: object) -> Tailer:
        tailer = Tailer(make_tail(path, **kwargs))  # type: ignore[arg-type]
        tailers.append(tailer)
        return tailer

    return start_tail

"""Run the real ``FileTail`` in a background task and wait on what it yields, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from shipper.sources.file import FileTail, TailBatch
from shipper.sources.lines import Line, TooLong
from shipper.sources.position import FilePosition

DEADLINE = 10.0
POLL = 0.02


class Tailer:
    """A ``FileTail`` iterated in a background task, collecting what it yields."""

    def __init__(self, tail: FileTail) -> None:
        self.tail = tail
        self.batches: list[TailBatch] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for batch in self.tail.batches():
                self.batches.append(batch)
                self._changed.set()
        finally:
            self._changed.set()

    @property
    def lines(self) -> list[Line]:
        return [line for batch in self.batches for line in batch.lines]

    @property
    def texts(self) -> list[bytes | TooLong]:
        return [data for _, data in self.lines]

    @property
    def position(self) -> FilePosition:
        assert self.batches, "nothing was yielded yet"
        return self.batches[-1].position

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE):
                while not condition():
                    if self.task.done():
                        self.task.result()
                        raise AssertionError(f"the tail ended before {what}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; got {self.texts!r}") from None

    async def wait_lines(self, count: int) -> None:
        await self.wait_until(lambda: len(self.lines) >= count, f"{count} lines")

    async def stop(self) -> None:
        self.tail.stop()
        async with asyncio.timeout(DEADLINE):
            await self.task


def make_tail(
    path: Path,
    *,
    saved: FilePosition | None = None,
    start_at: Literal["end", "beginning"] = "beginning",
    from_beginning: bool = False,
    max_line_bytes: int = 1000,
    idle_poll_interval: float = POLL,
) -> FileTail:
    return FileTail(
        path,
        saved=saved,
        start_at=start_at,
        from_beginning=from_beginning,
        max_line_bytes=max_line_bytes,
        poll_interval=POLL,
        idle_poll_interval=idle_poll_interval,
    )

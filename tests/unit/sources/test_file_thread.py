"""The tail's reading thread: what it keeps back, how it ends, and what it hands over.

Real files under ``tmp_path``, the real ``FileTail`` and its real thread; every
wait has a deadline.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shipper.sources.file import FileTail, TailBatch
from shipper.sources.lines import Block
from tests.support.files import append
from tests.unit.sources.tailing import DEADLINE, make_tail


async def test_routed_hands_over_only_what_its_step_keeps(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    tail = make_tail(path, idle_poll_interval=0.01)
    idle_polls = 0
    idled = threading.Event()
    threads: set[str] = set()

    def step(batch: TailBatch | None) -> list[bytes] | None:
        nonlocal idle_polls
        threads.add(threading.current_thread().name)
        if batch is None:
            idle_polls += 1
            if idle_polls >= 2:
                idled.set()
            return None
        texts = [data for _, data in batch.lines if isinstance(data, bytes)]
        return [t for t in texts if t.startswith(b"keep")] or None

    got: list[bytes] = []
    both = asyncio.Event()
    routed = tail.routed(step)

    async def read() -> None:
        async for kept in routed:
            got.extend(kept)
            if len(got) >= 2:
                both.set()

    reading = asyncio.create_task(read())
    await asyncio.wait_for(tail.ready.wait(), DEADLINE)
    append(path, b"skip1\nkeep1\n")
    append(path, b"skip2\n")
    append(path, b"keep2\nskip3\n")
    await asyncio.wait_for(both.wait(), DEADLINE)
    assert await asyncio.to_thread(idled.wait, DEADLINE)
    tail.stop()
    await asyncio.wait_for(reading, DEADLINE)
    assert got == [b"keep1", b"keep2"]
    assert threads == {"shipper-tail"}  # never the event loop's thread


async def test_an_io_error_in_the_thread_ends_the_iteration_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = make_tail(path)
    real_pread = os.pread

    def failing_pread(fd: int, n: int, offset: int) -> bytes:
        if threading.current_thread().name == "shipper-tail" and offset >= 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_pread(fd, n, offset)

    batches = tail.batches()
    first = await asyncio.wait_for(anext(batches), DEADLINE)
    while not first.lines:  # the position's first save: no lines
        first = await asyncio.wait_for(anext(batches), DEADLINE)
    assert [data for _, data in first.lines] == [b"a"]
    monkeypatch.setattr(os, "pread", failing_pread)
    append(path, b"b\n")
    with pytest.raises(OSError, match="Input/output error"):
        await asyncio.wait_for(anext(batches), DEADLINE)


def rarely_polling_tail(path: Path) -> FileTail:
    """A tail whose polls are 60 s apart: only inotify and ``stop`` wake it in a test's time."""
    return FileTail(
        path,
        saved=None,
        start_at="beginning",
        from_beginning=False,
        max_line_bytes=1000,
        poll_interval=60.0,
        idle_poll_interval=60.0,
    )


async def test_a_stop_wakes_a_tail_waiting_for_a_missing_file(tmp_path: Path) -> None:
    # Polls far apart: only the stop's own wake-up can end the wait in time.
    tail = rarely_polling_tail(tmp_path / "not-yet.jsonl")
    batches = tail.batches()
    reading = asyncio.create_task(anext(batches, None))
    await asyncio.wait_for(tail.ready.wait(), DEADLINE)
    await asyncio.sleep(0.05)  # the thread is in its 60 s wait by now
    started = time.monotonic()
    tail.stop()
    assert await asyncio.wait_for(reading, DEADLINE) is None
    assert time.monotonic() - started < 5.0


async def test_a_stop_while_counting_a_new_file_starts_nowhere(tmp_path: Path) -> None:
    # start_at = "end" counts the lines of a file never seen: a stop cuts the count short,
    # and a position in the middle of the file must not be taken for its end.
    path = tmp_path / "audit.jsonl"
    with path.open("wb") as f:
        for _ in range(64):
            f.write((b"y" * 1023 + b"\n") * 1024)  # 64 MiB, 64 chunks to count
    tail = make_tail(path, start_at="end")
    seen: list[TailBatch] = []

    def step(batch: TailBatch | None) -> int | None:
        if batch is not None:
            seen.append(batch)
        return None

    reading = tail.reading(step)
    tail.stop()
    rest, error = await asyncio.wait_for(reading.finish(), DEADLINE)
    assert (rest, error) == ([], None)
    assert seen == []  # no batch, so no position to save
    assert not tail.ready.is_set()


def passing_over(seen: threading.Event) -> Callable[[Block], bool]:
    """A ``skip`` that passes over every block without ``keep`` in it."""

    def skip(block: Block) -> bool:
        seen.set()
        return b"keep" not in block.data

    return skip


async def test_lines_passed_over_make_no_batch_and_their_position_goes_at_an_idle_poll(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    tail = make_tail(path, idle_poll_interval=0.01)
    stepped: list[TailBatch] = []
    kept, caught_up = threading.Event(), threading.Event()

    def step(batch: TailBatch | None) -> int | None:
        if batch is not None:
            stepped.append(batch)
            if batch.lines:
                kept.set()
            if batch.position.offset == len(b"keep\nskip1\nskip2\n"):
                caught_up.set()
        return None

    reading = tail.reading(step, passing_over(threading.Event()))
    await asyncio.wait_for(tail.ready.wait(), DEADLINE)
    append(path, b"keep\n")
    assert await asyncio.to_thread(kept.wait, DEADLINE)  # not read with the lines after it
    append(path, b"skip1\n")
    append(path, b"skip2\n")
    assert await asyncio.to_thread(caught_up.wait, DEADLINE)
    await reading.finish()
    texts = [data for batch in stepped for _, data in batch.lines]
    assert texts == [b"keep"]
    last = stepped[-1]
    assert (last.lines, last.position.line) == ([], 3)


async def test_a_stop_steps_the_position_past_the_lines_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"keep\n")
    # Polls far apart: no idle poll brings the position; only the stop can.
    tail = rarely_polling_tail(path)
    stepped: list[TailBatch] = []
    seen = threading.Event()

    def step(batch: TailBatch | None) -> int | None:
        if batch is not None:
            stepped.append(batch)
        return None

    # Written through a descriptor kept open: closing it would wake the thread again
    # (inotify's close-after-write), and that idle poll would step the position first.
    writer = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        reading = tail.reading(step, passing_over(seen))
        await asyncio.wait_for(tail.ready.wait(), DEADLINE)
        assert await asyncio.to_thread(seen.wait, DEADLINE)  # "keep" was read
        seen.clear()
        os.write(writer, b"skip1\nskip2\n")
        assert await asyncio.to_thread(seen.wait, DEADLINE)
        assert [batch.position.offset for batch in stepped] == [0, 5]
        await asyncio.wait_for(reading.finish(), DEADLINE)
    finally:
        os.close(writer)
    assert [batch.position.offset for batch in stepped] == [0, 5, 17]
    last = stepped[-1]
    assert (last.lines, last.position.line) == ([], 3)

#!/usr/bin/env python3
"""Should dead-letter and replay files use aiofiles? Time and event-loop lag, both ways.

Dead letters: N batches of 10 alerts written to one channel's file, as the worker
does now (``asyncio.to_thread(DeadLetters.write)``: open, write, fsync, close in one
thread hop) and as aiofiles would (a thread hop for each of open, write, flush,
fsync, close). Replay: a file of N dead letters read in batches of ``REPLAY_BATCH``
lines and parsed, as ``ReplayInbox`` does now (buffered reads on the event loop) and
with aiofiles (``readline`` per line, each a thread hop). While each runs, a ticker
task asks for 1 ms sleeps and records how late it wakes (the loop's responsiveness).

aiofiles is not a dependency: install it anywhere and put it on PYTHONPATH, e.g.
``pip install --target /tmp/aiofiles-bench aiofiles``, then
``PYTHONPATH=/tmp/aiofiles-bench python bench/aiofiles_io.py [N]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from itertools import islice
from pathlib import Path

import aiofiles
import aiofiles.os
import orjson

from shipper.config.severity import Severity
from shipper.delivery.deadletter import DeadLetters
from shipper.durable import open_private_reader
from shipper.routing.event import Alert
from shipper.run.replays import REPLAY_BATCH, _dead_letter

BATCH = 10


def alerts(start: int) -> list[Alert]:
    return [
        Alert(
            n,
            {"action": "user.login", "n": n, "pad": "x" * 200},
            "user.login",
            Severity.HIGH,
            "alice",
            None,
            None,
            (),
        )
        for n in range(start, start + BATCH)
    ]


async def with_ticker(work: Callable[[], Awaitable[None]]) -> tuple[float, float, float]:
    """Seconds ``work`` took, and the p99 and max lateness of 1 ms sleeps meanwhile (ms)."""
    late: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            late.append((time.perf_counter() - start - 0.001) * 1000)

    ticker = asyncio.create_task(tick())
    start = time.perf_counter()
    await work()
    took = time.perf_counter() - start
    done.set()
    await ticker
    late.sort()
    return took, late[int(len(late) * 0.99)] if late else 0.0, max(late, default=0.0)


async def dead_letters_now(directory: Path, n: int) -> None:
    sink = DeadLetters(directory)
    for i in range(n):
        await asyncio.to_thread(sink.write, "siem", alerts(i * BATCH), "HTTP 400", 1)


async def dead_letters_aiofiles(directory: Path, n: int) -> None:
    sink = DeadLetters(directory)  # only for the record format and the path
    sink.directory.mkdir(parents=True, exist_ok=True)
    path = sink.path_for("siem")
    fsync = aiofiles.os.wrap(os.fsync)
    for i in range(n):
        data = b"".join(
            orjson.dumps(
                {
                    "time": "t",
                    "channel": "siem",
                    "reason": "HTTP 400",
                    "attempts": 1,
                    "line": a.line,
                    "event": a.raw,
                }
            )
            + b"\n"
            for a in alerts(i * BATCH)
        )
        async with aiofiles.open(path, "ab") as f:
            await f.write(data)
            await f.flush()
            await fsync(f.fileno())


def write_dead_letters(path: Path, n: int) -> None:
    with path.open("wb") as f:
        for i in range(n):
            record = {
                "time": "t",
                "channel": "siem",
                "reason": "HTTP 400",
                "attempts": 1,
                "line": i,
                "event": {"action": "user.login", "n": i, "pad": "x" * 200},
            }
            f.write(orjson.dumps(record) + b"\n")


async def replay_now(path: Path) -> None:
    with open_private_reader(path) as lines:
        while batch := list(islice(lines, REPLAY_BATCH)):
            [_dead_letter(line) for line in batch]
            await asyncio.sleep(0)  # where the spool append awaits


async def replay_aiofiles(path: Path) -> None:
    async with aiofiles.open(path, "rb") as f:
        while True:
            batch = []
            while len(batch) < REPLAY_BATCH and (line := await f.readline()):
                batch.append(line)
            if not batch:
                return
            [_dead_letter(line) for line in batch]
            await asyncio.sleep(0)


async def main(n: int) -> None:
    def show(what: str, result: tuple[float, float, float], unit: int) -> None:
        took, p99, worst = result
        print(
            f"{what:34} {took:7.3f} s  {took / unit * 1e6:8.1f} us each  "
            f"loop lag p99 {p99:6.2f} ms  max {worst:6.2f} ms"
        )

    for name, work in (
        ("dead letters, now (to_thread)", dead_letters_now),
        ("dead letters, aiofiles", dead_letters_aiofiles),
    ):
        runs = []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as d:
                runs.append(await with_ticker(lambda: work(Path(d), n)))  # noqa: B023
        show(f"{name} ({n} batches)", min(runs), n)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "siem.jsonl"
        write_dead_letters(path, n * BATCH)
        for name, read in (
            ("replay, now (buffered)", replay_now),
            ("replay, aiofiles (readline)", replay_aiofiles),
        ):
            runs = [await with_ticker(lambda: read(path)) for _ in range(3)]  # noqa: B023
            show(f"{name} ({n * BATCH} lines)", sorted(runs)[1], n * BATCH)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; median of 3 for replay, "
        "best of 3 for dead letters"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))

"""kill -9 while a live log grows at a steady rate: nothing lost, each event queued once.

The tail reads a growing file a few lines at a time (inotify), saves its
position in place and at most every few tens of milliseconds, and the
spools are made durable per group: a crash at any of those moments must
cost at most duplicates of posts in flight, never an event.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tests.e2e.test_durability import (
    assert_in_order,
    event,
    kill_at_random,
    received,
    start,
    stop,
    write_config,
)
from tests.integration.fake_webhook import FakeWebhook, Reply

MATCHING = ["user.lock"]


async def _write_steadily(log: Path, total: int, done: asyncio.Event) -> None:
    """``total`` lines, two every 2 ms (about 1,000 a second), one in ten matching."""
    with log.open("ab", buffering=0) as f:
        for i in range(0, total, 2):
            f.write(
                b"".join(event(n, "user.lock" if n % 10 == 0 else "app.list") for n in (i, i + 1))
            )
            await asyncio.sleep(0.002)
    done.set()


async def test_kill_9_while_lines_trickle_in(tmp_path: Path, fake: FakeWebhook) -> None:
    total, kills, batch_max = 6000, 6, 20
    log = tmp_path / "audit.jsonl"
    log.touch()
    fake.default = Reply(204, "", delay=0.005)
    config = write_config(
        tmp_path, log, batch_max=batch_max, extra=f"actions = {MATCHING!r}\n".replace("'", '"')
    )
    written = asyncio.Event()
    writer = asyncio.create_task(_write_steadily(log, total, written))
    try:
        await kill_at_random(config, fake, kills, random.Random(16), (0.2, 0.8))
        proc = await start(config, fake)
        await asyncio.wait_for(written.wait(), 60)
    finally:
        await writer
    wanted = set(range(0, total, 10))
    await fake.wait_for(lambda reqs: set(received(reqs)) >= wanted, 60)
    err = await stop(proc)
    assert proc.returncode == 0, err.decode()
    seqs = received(fake.requests)
    assert set(seqs) == wanted, "every matching line, and only those"
    assert_in_order(seqs)
    duplicates = len(seqs) - len(wanted)
    print(f"kill -9 x{kills} at a steady rate: {duplicates} duplicate(s) in {len(seqs)}")
    assert duplicates <= kills * batch_max, f"{duplicates} duplicates for {kills} kills"

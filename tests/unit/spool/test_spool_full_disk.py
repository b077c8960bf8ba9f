"""A full disk under the spool, the cursor, the dead letters and the replay count.

ENOSPC is made two ways: ``os.write`` replaced for one call (any file system),
and a real 2 MiB tmpfs (root only: skipped otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import io
import logging
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.delivery.deadletter import DeadLetters
from shipper.errors import SpoolError
from shipper.routing.event import Alert
from shipper.sources.position import FilePosition
from shipper.spool import reading as reading_module
from shipper.spool import store as store_module
from shipper.spool.cursor import CURSOR_NAME, CursorFile, read_cursor
from shipper.spool.records import Position
from shipper.spool.spool import Spool
from shipper.spool.store import Store
from tests.support.alerts import make_alert

PAD = "x" * 1000


def alert(n: int) -> Alert:
    return make_alert(n, pad=PAD)


def full(fd: int, data: Any) -> int:
    # The real os.write keeps no frame: a traceback holding ``data`` would keep a view of
    # the spool's write buffer alive.
    del data
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextlib.contextmanager
def small_disk(directory: Path, size: str = "2m") -> Iterator[Path]:
    directory.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    opened = await Spool.open(tmp_path / "s", name="siem")
    yield opened
    await opened.aclose()


def on_disk(spool: Spool) -> int:
    return sum(p.stat().st_size for p in spool.directory.glob("*.seg"))


# --- the spool -------------------------------------------------------------------------


async def test_records_handed_over_before_a_failed_write_are_taken_back(
    spool: Spool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await spool.append([alert(1)])
    await spool.commit()
    assert [a.line for a in await spool.peek(10)] == [1]  # the reader is caught up
    await spool.append([alert(n) for n in range(2, 5)])  # handed over, still in memory
    assert [a.line for a in await spool.peek(10)] == [1, 2, 3, 4]
    monkeypatch.setattr(os, "write", full)
    with caplog.at_level(logging.ERROR), pytest.raises(Exception, match="No space left"):
        await spool.commit()
    # Only what reached the file is offered; the rest waits in memory, still counted.
    assert [a.line for a in await spool.peek(10)] == [1]
    assert len(spool) == 4
    assert "found" not in caplog.text
    # A post of all four went out before the write failed and was delivered: the cursor
    # moves past the one record in the file only.
    await spool.ack(4)
    assert len(spool) == 3
    assert read_cursor(spool.directory) == Position(1, on_disk(spool))
    monkeypatch.undo()
    await spool.commit()  # room again: the three are written and offered again
    assert [a.line for a in await spool.peek(10)] == [2, 3, 4]


async def test_a_cursor_is_never_saved_past_what_reached_the_file(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await spool.append([alert(1)])
    await spool.commit()
    await spool.peek(10)
    await spool.append([alert(2), alert(3)])  # handed over, not written yet
    assert len(await spool.peek(10)) == 3
    await spool.ack(3)  # delivered before the store's commit wrote them
    saved = read_cursor(spool.directory)
    assert saved.offset <= on_disk(spool), "a crash now would find the cursor past the end"
    await spool.commit()
    assert read_cursor(spool.directory) == Position(1, on_disk(spool)), "saved once written"


async def test_a_failed_roll_keeps_every_record_of_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await Spool.open(tmp_path / "s", segment_bytes=3000, name="siem")
    await spool.append([alert(n) for n in range(1, 4)])
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(Exception, match="No space left"):
        await spool.append([alert(n) for n in range(4, 9)])
    monkeypatch.undo()
    assert len(spool) == 8
    await spool.commit()
    await spool.aclose()
    again = await Spool.open(tmp_path / "s", segment_bytes=3000, name="siem")
    assert [a.line for a in await again.peek(20)] == list(range(1, 9))
    await again.aclose()


async def test_records_that_never_reached_the_file_are_not_counted_after_close(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await spool.append([alert(1)])
    await spool.commit()
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(Exception, match="No space left"):
        await spool.append([alert(n) for n in range(2, 80)])
    await spool.aclose()
    assert len(spool) == 1, "the source reads the other 78 again"


def test_segments_are_at_most_a_sixteenth_of_the_file_system(tmp_path: Path) -> None:
    from shipper.spool.segments import MIN_SEGMENT_BYTES, segment_bytes_for

    st = os.statvfs(tmp_path)
    size = st.f_blocks * st.f_frsize
    assert segment_bytes_for(tmp_path, 1 << 62) == max(MIN_SEGMENT_BYTES, size // 16)
    assert segment_bytes_for(tmp_path, 1000) == 1000


async def test_on_a_small_disk_delivered_segments_free_room(tmp_path: Path) -> None:
    with small_disk(tmp_path / "state") as state:
        spool = await Spool.open(state / "s", name="siem")
        try:
            written = 0
            with contextlib.suppress(Exception):
                for n in range(10_000):
                    await spool.append([alert(n)])
                    await spool.commit()
                    written += 1
            assert 1000 < written < 2100, "the disk filled"
            assert len(list((state / "s").glob("*.seg"))) > 8
            while len(spool):
                batch = await spool.peek(50)
                await spool.ack(len(batch))
            await spool.append([alert(n) for n in range(100)])  # room again
            await spool.commit()
        finally:
            await spool.aclose()


async def test_a_spool_opens_on_a_full_disk(tmp_path: Path) -> None:
    with small_disk(tmp_path / "state") as state:
        spool = await Spool.open(state / "s", name="siem")
        await spool.append([alert(n) for n in range(3)])
        await spool.commit()
        await spool.ack(1)
        await spool.aclose()
        inode = (state / "s" / CURSOR_NAME).stat().st_ino
        with contextlib.suppress(OSError), (state / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        again = await Spool.open(state / "s", name="siem")
        assert [a.line for a in await again.peek(10)] == [1, 2]
        await again.ack(2)
        await again.aclose()
        assert (state / "s" / CURSOR_NAME).stat().st_ino == inode, "saved in place"


def test_a_cursor_file_is_reopened_in_place(tmp_path: Path) -> None:
    first = CursorFile.create(tmp_path, Position(1, 0))
    first.save(Position(1, 100))
    first.close()
    inode = (tmp_path / CURSOR_NAME).stat().st_ino
    second = CursorFile.create(tmp_path, Position(1, 100))
    second.save(Position(2, 0))
    second.close()
    assert (tmp_path / CURSOR_NAME).stat().st_ino == inode
    assert read_cursor(tmp_path) == Position(2, 0)
    (tmp_path / CURSOR_NAME).write_bytes(b"garbage")  # no valid slot: a fresh file
    third = CursorFile.create(tmp_path, Position(3, 0))
    third.close()
    assert read_cursor(tmp_path) == Position(3, 0)


# --- dead letters and the replay count ----------------------------------------------------


def test_a_dead_letter_write_that_fails_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = DeadLetters(tmp_path)
    dead.write("siem", [alert(1)], "gone", 1)
    before = dead.path_for("siem").read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        monkeypatch.setattr(os, "write", full)
        return real_write(fd, bytes(data)[:700])  # one whole line and a torn one

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        dead.write("siem", [alert(2), alert(3)], "gone", 1)
    monkeypatch.undo()
    assert dead.path_for("siem").read_bytes() == before, "neither a torn nor a false one"


def test_a_torn_dead_letter_left_by_a_crash_is_cut_before_the_next(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path)
    dead.write("siem", [alert(1)], "gone", 1)
    with dead.path_for("siem").open("ab") as f:
        f.write(b'{"time": "2024-05-01T12:00:00.000Z", "chan')
    dead.write("siem", [alert(2)], "gone", 1)
    lines = dead.path_for("siem").read_bytes().splitlines()
    assert [orjson.loads(line)["line"] for line in lines] == [1, 2]


def test_replay_counts_whole_dead_letters_only() -> None:
    from shipper.run.replays import count_dead_letters

    record = {"time": "t", "channel": "siem", "reason": "r", "attempts": 1, "line": 3}
    good = orjson.dumps({**record, "event": {"action": "x"}}) + b"\n"
    lines = [
        good,
        good,
        b"not json\n",
        orjson.dumps({**record, "event": "not an object"}) + b"\n",
        good[:-1],  # the last line, torn
    ]
    assert count_dead_letters(io.BytesIO(b"".join(lines))) == 2


# --- the store: a full disk pauses it --------------------------------------------------------


@dataclasses.dataclass
class Channels:
    spools: dict[str, Spool]
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


def position(line: int) -> FilePosition:
    return FilePosition("/var/log/audit.jsonl", 1, 2, "", 0, offset=line * 100, line=line)


# A tailed file's store (sync_after) writes a batch in ``put`` when it is idle, stdin's in
# its task.
@pytest.mark.parametrize("sync_after", [0.0, 3600.0])
async def test_a_full_disk_pauses_the_store_until_there_is_room(
    spool: Spool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sync_after: float,
) -> None:
    saved: list[int] = []

    def save(at: FilePosition) -> None:
        saved.append(at.line)

    monkeypatch.setattr(store_module, "ROOM_POLL", 0.01)
    store = Store(Channels({"siem": spool}), save, sync_after=sync_after)
    monkeypatch.setattr(os, "write", full)
    with caplog.at_level(logging.INFO):
        await store.put({"siem": [alert(n) for n in range(1, 80)]}, position(79))
        for _ in range(5):
            await asyncio.sleep(0.02)  # several tries meanwhile
        assert saved == [], "the position never passes what the spool holds"
        assert caplog.text.count("reading paused") == 1
        monkeypatch.undo()
        await asyncio.wait_for(store.flush(), 5)
    assert saved == [79]
    assert "reading goes on" in caplog.text
    assert [a.line for a in await spool.peek(100)] == list(range(1, 80)), "each alert once"


async def test_a_stop_ends_the_pause_as_a_failure(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[int] = []

    def save(at: FilePosition) -> None:
        saved.append(at.line)

    monkeypatch.setattr(store_module, "ROOM_POLL", 0.01)
    store = Store(Channels({"siem": spool}), save)
    monkeypatch.setattr(os, "write", full)
    await store.put({"siem": [alert(n) for n in range(1, 80)]}, position(79))
    spool.give_up_waiting()
    with pytest.raises(SpoolError, match="No space left"):
        await asyncio.wait_for(store.flush(), 5)
    assert saved == []


async def test_a_full_disk_on_the_position_save_pauses_too(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries: list[int] = []

    def save(at: FilePosition) -> None:
        tries.append(at.line)
        if len(tries) < 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module, "ROOM_POLL", 0.01)
    store = Store(Channels({"siem": spool}), save)
    await store.put({"siem": [alert(1)]}, position(1))
    await asyncio.wait_for(store.flush(), 5)
    assert tries == [1, 1, 1]
    assert len(spool) == 1, "appended once"


async def test_a_full_disk_on_a_timed_save_pauses_until_there_is_room(
    spool: Spool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A tailed file's sync whose records were all delivered is a position save alone,
    made when its time is up: a full disk there pauses the store as anywhere else."""
    tries: list[int] = []
    saved = asyncio.Event()

    def save(at: FilePosition) -> None:
        tries.append(at.line)
        if len(tries) < 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        saved.set()

    monkeypatch.setattr(store_module, "ROOM_POLL", 0.01)
    store = Store(Channels({"siem": spool}), save, sync_after=0.01)
    with caplog.at_level(logging.INFO):
        await store.put({"siem": [alert(1)]}, position(1))
        await spool.ack(len(await spool.peek(10)))
        await asyncio.wait_for(saved.wait(), 5)
    assert tries == [1, 1, 1]
    assert caplog.text.count("reading paused") == 1
    assert "reading goes on" in caplog.text
    await asyncio.wait_for(store.flush(), 5)
    assert tries == [1, 1, 1], "nothing was left owed"


async def test_a_delivered_segment_still_written_to_is_reclaimed(tmp_path: Path) -> None:
    # A 32 MiB file system (2 MiB segments) that other files filled but for 1 MiB: the
    # whole backlog fits in the one segment written to, which the cursor never leaves.
    with small_disk(tmp_path / "state", "32m") as state:
        (state / "filler").write_bytes(b"\0" * (31 * 1024 * 1024))
        spool = await Spool.open(state / "s", name="siem")
        try:
            n = 0
            with contextlib.suppress(SpoolError):
                while True:
                    n += 1
                    await spool.append([alert(n)])
                    await spool.commit()
            assert len(list((state / "s").glob("*.seg"))) == 1
            while len(spool) > 1:  # everything delivered but the one kept in memory
                await spool.ack(len(await spool.peek(50)))
            with pytest.raises(SpoolError, match="No space left"):
                await spool.commit()
            await spool.reclaim()
            await spool.commit()
            assert [a.line for a in await spool.peek(10)] == [n]
        finally:
            await spool.aclose()
        again = await Spool.open(state / "s", name="siem")
        assert [a.line for a in await again.peek(10)] == [n]
        await again.aclose()


async def test_a_reader_waits_for_records_kept_in_memory_instead_of_ending(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading_module, "ROOM_POLL", 0.01)
    await spool.append([alert(1)])
    await spool.commit()
    await spool.ack(len(await spool.peek(10)))
    await spool.append([alert(2)])
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(SpoolError, match="No space left"):
        await spool.commit()
    peeking = asyncio.create_task(spool.peek(10))
    for _ in range(5):
        await asyncio.sleep(0.02)
    # An empty answer would make the channel's worker end: nothing more delivered.
    assert not peeking.done()
    monkeypatch.undo()
    assert [a.line for a in await asyncio.wait_for(peeking, 5)] == [2]

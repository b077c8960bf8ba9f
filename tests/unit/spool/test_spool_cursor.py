"""The cursor file: two slots written in place, the newest valid one wins, synced soon after."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import zlib
from pathlib import Path

import orjson
import pytest

import shipper.spool.cursor
from shipper.routing.event import Alert
from shipper.spool.cursor import (
    CURSOR_NAME,
    SLOT_BYTES,
    CursorFile,
    CursorKeeper,
    decode_cursor,
    encode_slot,
    read_cursor,
)
from shipper.spool.records import Position, segment_name
from shipper.spool.spool import Spool
from tests.support.alerts import make_alert


def alert(n: int) -> Alert:
    return make_alert(n, "user.login", raw={"n": n})


def segment_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.seg"))


def test_saves_alternate_between_two_slots_and_the_newest_wins(tmp_path: Path) -> None:
    cursor = CursorFile.create(tmp_path, Position(1, 0))
    try:
        for offset in range(1, 8):
            cursor.save(Position(1, offset * 100))
            assert read_cursor(tmp_path) == Position(1, offset * 100)
        assert (tmp_path / CURSOR_NAME).stat().st_size == 2 * SLOT_BYTES
    finally:
        cursor.close()


def test_a_torn_save_leaves_the_one_before(tmp_path: Path) -> None:
    cursor = CursorFile.create(tmp_path, Position(1, 0))
    cursor.save(Position(1, 100))  # seq 2, slot 0
    cursor.save(Position(1, 200))  # seq 3, slot 1
    cursor.close()
    path = tmp_path / CURSOR_NAME
    data = bytearray(path.read_bytes())
    data[SLOT_BYTES + 20 : SLOT_BYTES + 30] = b"\0" * 10  # a crash in the middle of seq 3
    path.write_bytes(bytes(data))
    assert read_cursor(tmp_path) == Position(1, 100)


@pytest.mark.parametrize(
    "data",
    [b"", b" " * 300, b"{", encode_slot(2, Position(1, 5)).replace(b'"offset":5', b'"offset":6')],
    ids=["empty", "blank", "garbage", "bad-crc"],
)
def test_no_valid_slot_is_an_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_cursor(data)


def test_slot_order_does_not_matter_and_numbers_must_be_plain_integers() -> None:
    newer, older = encode_slot(9, Position(3, 30)), encode_slot(8, Position(3, 20))
    assert decode_cursor(newer + older) == (9, Position(3, 30))
    assert decode_cursor(older + newer) == (9, Position(3, 30))
    with pytest.raises(ValueError, match="integers"):
        decode_cursor(b'{"seq":true,"segment":1,"offset":0,"crc":0}')


def test_a_slot_without_seq_is_not_a_cursor() -> None:
    # The single JSON object of an unreleased earlier layout (no "seq") is not read.
    position = Position(1, 40)
    crc = zlib.crc32(b"%d:%d" % position)
    old = orjson.dumps({"segment": position[0], "offset": position[1], "crc": crc})
    with pytest.raises(ValueError, match="unreadable"):
        decode_cursor(old)


async def test_a_save_is_synced_within_the_interval_and_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipper.spool.cursor, "SYNC_INTERVAL", 0.05)
    synced: list[int] = []
    loop, first_sync = asyncio.get_running_loop(), asyncio.Event()
    real = os.fdatasync

    def counted(fd: int) -> None:
        synced.append(fd)
        real(fd)
        loop.call_soon_threadsafe(first_sync.set)

    monkeypatch.setattr(os, "fdatasync", counted)
    spool = await Spool.open(tmp_path)
    await spool.append([alert(n) for n in range(1, 4)])
    await spool.commit()
    await spool.peek(1)
    await spool.ack(1)
    assert not synced, "an ack does not wait for a sync"
    await asyncio.wait_for(first_sync.wait(), 5)
    await spool.peek(1)
    await spool.ack(1)
    count = len(synced)
    await spool.aclose()
    assert len(synced) == count + 1, "the last save is made durable before closing"


async def test_segments_are_deleted_only_behind_a_durable_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spool = await Spool.open(tmp_path, segment_bytes=1)  # one record per segment
    await spool.append([alert(n) for n in range(1, 4)])
    await spool.commit()

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    await spool.peek(2)
    with caplog.at_level(logging.ERROR):
        await spool.ack(2)
    assert "could not save the cursor" in caplog.text
    assert segment_files(tmp_path) == [segment_name(n) for n in (1, 2, 3)], "no sync, no deletion"
    monkeypatch.undo()
    await spool.peek(1)
    await spool.ack(1)
    assert segment_files(tmp_path) == [segment_name(3)]
    await spool.aclose()


async def test_a_save_made_during_a_slow_sync_is_synced_by_a_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipper.spool.cursor, "SYNC_INTERVAL", 0.01)
    loop = asyncio.get_running_loop()
    release, started = threading.Event(), asyncio.Queue[int]()
    real = os.fdatasync

    def slow(fd: int) -> None:
        loop.call_soon_threadsafe(started.put_nowait, fd)
        release.wait(5)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow)
    errors: list[OSError] = []
    file = CursorFile.create(tmp_path, Position(1, 0))
    keeper = CursorKeeper(file, errors.append)
    keeper.save(Position(1, 100))
    await asyncio.wait_for(started.get(), 5)  # the first sync hangs on the disk
    keeper.save(Position(1, 200))  # its timer fires while that sync still runs
    await asyncio.sleep(0.05)
    assert started.empty(), "one sync at a time"
    release.set()
    await asyncio.wait_for(started.get(), 5)  # then one more, for the later save
    await keeper.aclose()  # waits for that one, which left nothing to sync
    assert started.empty() and file.is_synced and not errors
    assert read_cursor(tmp_path) == Position(1, 200)

"""A spool's cursor file: where the oldest unacknowledged record starts.

It is saved after every accepted post, so a save must cost next to nothing:
the file holds two fixed-size slots, and each save overwrites the older slot
in place with one ``pwrite`` (no temporary file, no rename, no fsync). A slot
is one line of JSON, ``{"seq": q, "segment": n, "offset": o, "crc": c}``,
padded with spaces to ``SLOT_BYTES``; ``c`` is ``zlib.crc32`` of ``"q:n:o"``.
Loading takes the valid slot with the highest ``seq``, so a save torn by a
crash leaves the one before it.

Durability. A killed process loses nothing the kernel has, so ``kill -9``
never undoes a save. Against a power loss, ``CursorKeeper`` makes every save
durable (fdatasync, in a thread) within ``SYNC_INTERVAL``, and the spool syncs
before it deletes the segments a save has moved past. A power loss can thus
bring back a cursor at most that old: what was delivered since is sent again
(duplicates, never loss).
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson

from shipper.durable import open_private, read_private, write_atomic
from shipper.spool.records import Position

CURSOR_NAME = "cursor"
SLOT_BYTES = 128  # the longest slot, with 20-digit numbers, is under 110 bytes
SYNC_INTERVAL = 1.0  # seconds a save may stay in the page cache only


def encode_slot(seq: int, position: Position) -> bytes:
    """One save: a line of JSON padded to ``SLOT_BYTES``."""
    segment, offset = position
    crc = zlib.crc32(b"%d:%d:%d" % (seq, segment, offset))
    body = orjson.dumps({"seq": seq, "segment": segment, "offset": offset, "crc": crc})
    return body.ljust(SLOT_BYTES - 1) + b"\n"


def decode_cursor(data: bytes) -> tuple[int, Position]:
    """The newest valid save in a cursor file's content, and its ``seq``.

    ``ValueError`` names the problem when no slot checks out.
    """
    found: tuple[int, Position] | None = None
    problem = "empty"
    for start in range(0, max(len(data), 1), SLOT_BYTES):
        try:
            seq, position = _decode_slot(data[start : start + SLOT_BYTES])
        except ValueError as exc:
            problem = str(exc)
            continue
        if found is None or seq > found[0]:
            found = seq, position
    if found is None:
        raise ValueError(problem)
    return found


def read_cursor(directory: Path) -> Position:
    """The saved cursor; ``FileNotFoundError`` if there is none, ``ValueError`` if damaged."""
    return decode_cursor(read_private(directory / CURSOR_NAME))[1]


class CursorFile:
    """The open cursor file of one spool: ``save`` in place, ``sync`` to make it durable."""

    def __init__(self, fd: int, seq: int) -> None:
        self._fd = fd
        self._seq = seq
        self._synced = seq

    @classmethod
    def create(cls, directory: Path, position: Position) -> CursorFile:
        """Write a fresh cursor file holding ``position``, durably, and open it.

        Done once per start, so whatever state the old file was in, every later
        save lands in a file of the current layout.
        """
        path = directory / CURSOR_NAME
        reopened = cls._reopen(path, position)
        if reopened is not None:
            return reopened
        # Slot 1 holds seq 1, so the first save (seq 2) goes to slot 0 and the
        # newest save is never the one overwritten.
        write_atomic(path, b" " * (SLOT_BYTES - 1) + b"\n" + encode_slot(1, position))
        return cls(open_private(path, os.O_WRONLY), 1)

    @classmethod
    def _reopen(cls, path: Path, position: Position) -> CursorFile | None:
        """A cursor file of the current layout, with ``position`` saved in place; ``None``
        when there is none (missing, older layout, no valid slot).

        Saving in place needs no free space: a full disk must not keep a spool from
        opening, or its delivered segments could never be deleted.
        """
        try:
            data = path.read_bytes()
            seq, _ = decode_cursor(data)
        except (OSError, ValueError):
            return None
        if len(data) != 2 * SLOT_BYTES:
            return None
        cursor = cls(os.open(path, os.O_WRONLY | os.O_CLOEXEC), seq)
        try:
            cursor.save(position)
            cursor.sync()
        except OSError:
            cursor.close()
            raise
        return cursor

    @property
    def is_synced(self) -> bool:
        return self._synced == self._seq

    def save(self, position: Position) -> None:
        """Overwrite the older slot with ``position``; raises ``OSError``."""
        seq = self._seq + 1
        slot = encode_slot(seq, position)
        if os.pwrite(self._fd, slot, (seq % 2) * SLOT_BYTES) != len(slot):
            raise OSError(0, "short write")
        self._seq = seq

    def sync(self) -> None:
        """Make the last save durable (blocking: call it in a thread)."""
        seq = self._seq
        os.fdatasync(self._fd)
        self._synced = max(self._synced, seq)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class CursorKeeper:
    """A running spool's cursor: each save in place, made durable within ``SYNC_INTERVAL``.

    ``on_error`` reports a save or a background sync that failed; the cost of one is
    duplicates after a crash, so the spool logs it and goes on.
    """

    def __init__(self, file: CursorFile, on_error: Callable[[OSError], None]) -> None:
        self._file = file
        self._on_error = on_error
        self._due: asyncio.TimerHandle | None = None
        self._syncing: asyncio.Task[None] | None = None

    def save(self, position: Position) -> bool:
        """Save ``position`` (one ``pwrite``); ``False``, reported, if it failed."""
        try:
            self._file.save(position)
        except OSError as exc:
            self._on_error(exc)
            return False
        if self._due is None:
            self._due = asyncio.get_running_loop().call_later(SYNC_INTERVAL, self._sync_soon)
        return True

    async def sync(self) -> None:
        """Make the last save durable now; raises ``OSError``."""
        if not self._file.is_synced:
            await asyncio.to_thread(self._file.sync)

    def close(self) -> None:
        """Close the file now, synced or not (a spool that failed to open)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self._file.close()

    async def aclose(self) -> None:
        """Make the last save durable, then close the file."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if self._syncing is not None:
            await self._syncing
        await self._sync_reporting()
        self._file.close()

    def _sync_soon(self) -> None:
        loop = asyncio.get_running_loop()
        if self._syncing is not None and not self._syncing.done():
            # A slow disk: the sync under way may have missed the latest save.
            self._due = loop.call_later(SYNC_INTERVAL, self._sync_soon)
            return
        self._due = None
        self._syncing = loop.create_task(self._sync_reporting(), name="cursor sync")

    async def _sync_reporting(self) -> None:
        try:
            await self.sync()
        except OSError as exc:
            self._on_error(exc)


def _decode_slot(slot: bytes) -> tuple[int, Position]:
    try:
        obj = orjson.loads(slot)
        position = Position(obj["segment"], obj["offset"])
        crc, seq = obj["crc"], obj["seq"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"unreadable cursor ({type(exc).__name__})") from exc
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (*position, seq)):
        raise ValueError("cursor fields are not non-negative integers")
    if crc != zlib.crc32(b"%d:%d:%d" % (seq, *position)):
        raise ValueError("cursor checksum mismatch")
    return seq, position

"""A channel's durable backlog: checksummed records in segment files, and a cursor.

Layout of one channel's directory (``<state_dir>/spool/<channel>/``, mode 0700)::

    00000000000000000001.seg   records, oldest first; a new segment once one reaches
    00000000000000000002.seg   ``segment_bytes`` (at most 1/16 of the file system);
                               finished segments are deleted
    cursor                     where the oldest unacknowledged record starts

Each record is one line, ``<crc32 hex> <alert JSON>\\n`` (``records`` has
the details). Files are created 0600: records hold whole events.

Durability contract. ``append`` buffers records in memory (waiting for room
while the backlog is full; ``records_with_room`` and ``add_records`` never
wait) and writes them to the segment when 64 KiB are pending, a reader needs
them or ``write`` is called (the store, for a tailed file whose fsync waits);
``commit`` writes and fsyncs everything appended so far (and the directory,
for new segments).
The pipeline saves its source offset only after ``commit`` returns, so after
a crash every line past the saved offset is read again and nothing is lost. A
worker may post a record before it is committed; a crash then only duplicates
it. A ``commit`` that finds every record in the files delivered writes and
does not fsync: a power loss can take only delivered records, and recovery
then finds the cursor past the end of the file (``recovery``: nothing waits).
``ack`` moves the cursor past delivered records and saves it in place
(``cursor``: one ``pwrite``, made durable within a second by a
background fdatasync): after a ``kill -9`` they are never sent again, after a
power loss at most that second's are. Segments wholly before the cursor are
deleted once the cursor past them is durable. If saving the cursor fails, the
records are still dropped from memory and an error is logged: the cost is
duplicates after a crash, not loss.

A ``Spool`` is built in layers: ``segments.SegmentWriter`` writes the files,
``finished.CursorSaver`` saves the cursor and deletes finished segments,
``reading.BacklogReader`` counts and reads the records (``peek``), and this
module keeps the backlog (append, ack, reclaim, recovery).

Recovery (``Spool.open``, rules in ``recovery``): a torn tail left by
a crash is cut with a warning, a damaged record is skipped with an error, and
a missing or damaged cursor restarts from the oldest segment: duplicates
rather than loss.

Bounded memory: ``peek`` keeps at most the records it was last asked for
(``reading``); ``append`` waits while more than ``max_bytes`` are unacknowledged
(backpressure, never a silent drop). A batch larger than ``max_bytes`` is still
accepted when nothing else is pending, or it would wait forever. Reads and buffered
writes run on the event loop (small, mostly page cache, and no locking against
appends is needed); every fsync runs in a thread.

Errors (``segments``): a failed write (a full disk) keeps every record of the append
in memory for the next try, and the saved cursor never points past what the file
holds, so a crash then costs at most the batch in flight (``Store`` waits for room
and tries again). A failed fsync makes the spool refuse further writes, so the run
stops without saving its offset and the next run repairs and re-reads.

A full disk. Deleting delivered segments needs no room (an unlink, and the
cursor saved in place, also when the spool is opened), and a segment is at
most 1/16 of the file system, so delivering the backlog frees room in steps;
``reclaim`` frees the segment written to once all it holds was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from shipper.errors import BacklogFullError, SpoolError
from shipper.routing.event import Alert
from shipper.spool.cursor import CursorFile, CursorKeeper
from shipper.spool.reader import SpoolReader
from shipper.spool.reading import BacklogReader
from shipper.spool.records import Position, encode_record, open_segment, segment_name
from shipper.spool.recovery import recover
from shipper.spool.segments import FLUSH_BYTES, segment_bytes_for

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_SEGMENT_BYTES", "Spool", "SpoolError"]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 256 * MiB
DEFAULT_SEGMENT_BYTES = 16 * MiB


class Spool(BacklogReader):
    """A ``Backlog`` for one channel, kept on disk; create it with ``await Spool.open(...)``."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int, name: str) -> None:
        super().__init__(directory, segment_bytes, name or directory.name)
        self._max_bytes = max_bytes
        self._changed = asyncio.Event()
        self._room = asyncio.Event()
        self._giving_up = False  # a stop: appends no longer wait for room
        self._said_full = False  # the full backlog was reported, and has not drained since
        self._closed = False

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        name: str = "",
    ) -> Spool:
        """Open (or create) the spool in ``directory`` and recover what an earlier run left."""
        spool = cls(directory, max_bytes=max_bytes, segment_bytes=segment_bytes, name=name)
        try:
            await asyncio.to_thread(spool._recover)
        except OSError as exc:
            spool._close_files()
            raise spool._error(exc, "open") from exc
        return spool

    async def append(self, alerts: Sequence[Alert]) -> None:
        """Add alerts at the end, in order; durable only after ``commit``.

        Waits while the unacknowledged bytes would pass ``max_bytes``, until
        ``give_up_waiting``: then it raises ``BacklogFullError`` and appends nothing. On
        ``SpoolError`` the alerts are kept in memory and written by the next call; do not
        append them again.
        """
        if not alerts:
            return
        records = [encode_record(alert) for alert in alerts]
        size = sum(map(len, records))
        if not self._has_room(size):
            await self._wait_for_room(size)
        self.add_records(alerts, records)

    def records_with_room(self, alerts: Sequence[Alert]) -> list[bytes] | None:
        """The records of ``alerts`` if the backlog has room for them now, else ``None``;
        with ``add_records``, an ``append`` that never waits."""
        records = [encode_record(alert) for alert in alerts]
        return records if self._has_room(sum(map(len, records))) else None

    def _has_room(self, size: int) -> bool:
        """Whether ``size`` more bytes fit under ``max_bytes`` (an empty backlog takes any
        batch, however large)."""
        return not self._count or self.bytes_pending + size <= self._max_bytes

    def add_records(self, alerts: Sequence[Alert], records: Sequence[bytes]) -> None:
        """Append ``alerts``, encoded as ``records``, without a wait for room; errors as
        ``append``'s."""
        self._check_usable()
        # A failed write or roll (a full disk) keeps every alert of the call in the
        # buffer, so that the caller knows exactly what the spool holds: all of them.
        failed: SpoolError | None = None
        try:
            for alert, record in zip(alerts, records, strict=True):
                caught_up = failed is None and self._reader.caught_up(self.end)
                if failed is None and self._sizes[self._segments[-1]] >= self._segment_bytes:
                    failed = self._try(self._roll)
                self._buffer += record
                self._buffered += 1
                self._sizes[self._segments[-1]] += len(record)
                self._count += 1
                if caught_up:
                    self._reader.hand_off(alert, self.end)
            if failed is None and len(self._buffer) >= FLUSH_BYTES:
                failed = self._try(self._flush)
        finally:
            self._changed.set()
        if failed is not None:
            try:
                raise failed
            finally:
                # The frame would hold the error, whose traceback holds this frame: a
                # cycle that keeps the write buffer's views alive until a garbage collection.
                del failed

    async def _wait_for_room(self, size: int) -> None:
        # Said once until the backlog is under half full again: reading stops with it,
        # and an operator looking at a quiet shipper must find out why, but a channel
        # that stays slow would otherwise say it at every append.
        if not self._giving_up and not self._said_full:
            self._said_full = True
            logger.warning(
                "channel %s: its backlog is full (%d event(s), %d bytes of at most %d): "
                "reading waits until delivered events free room",
                self.name,
                self._count,
                self.bytes_pending,
                self._max_bytes,
                extra={"channel": self.name, "count": self._count},
            )
        while not self._has_room(size):
            if self._giving_up:
                raise BacklogFullError(self.name)
            self._room.clear()
            await self._room.wait()

    async def ack(self, count: int) -> None:
        """Drop the ``count`` oldest alerts (delivered or dead-lettered) and save the cursor."""
        cursor = self._cursor
        done = 0
        try:
            while done < min(count, self._count):
                if self._reader.ahead:
                    cursor = self._reader.ahead.popleft()[1]
                elif (found := self._read_next()) is not None:
                    cursor = found[1]
                else:
                    break
                done += 1
        except OSError as exc:
            raise self._error(exc, "read") from exc
        if not done:
            return
        self._count -= done
        self._cursor = self._skip_finished(cursor)
        self._room.set()
        if self._said_full and self.bytes_pending <= self._max_bytes // 2:
            self._said_full = False
            logger.info("channel %s: its backlog is under half full again", self.name)
        await self._save_cursor()

    async def reclaim(self) -> None:
        """Free the room of the segment written to, once all it holds was delivered.

        For a full disk: only whole segments are deleted, and the one written to
        may hold every delivered record (a large file system's 16 MiB segment on
        a volume that other files filled). What waits in memory moves to a new
        segment, and the old files are closed and deleted.
        """
        last = self._segments[-1]
        written_end = Position(last, self._flushed)
        if (
            not self._flushed
            or self._cursor != written_end
            or self._reader.read_at != written_end  # records handed over, not delivered
            or self._reader.ahead
            or self._cursor_keeper is None
        ):
            return
        try:
            fd = open_segment(self.directory / segment_name(last + 1), os.O_EXCL)
        except OSError:
            return
        # Every record in these files was delivered: no fsync is owed, and an open
        # file keeps its room after it is deleted.
        for old in [*self._unsynced, self._fd]:
            os.close(old)
        self._unsynced.clear()
        self._reader.close()
        moved = self._sizes[last] - self._flushed
        self._sizes[last] = self._flushed
        self._fd, self._flushed, self._dir_dirty = fd, 0, True
        self._segments.append(last + 1)
        self._sizes[last + 1] = moved
        self._reader.read_at = Position(last + 1, 0)
        self._cursor = self._skip_finished(self._cursor)
        await self._save_cursor()

    def give_up_waiting(self) -> None:
        """From now on an append that finds no room raises ``BacklogFullError`` instead of
        waiting: a stop must not wait for a webhook that is down."""
        self._giving_up = True
        self._room.set()

    async def wait(self, than: int = 0) -> None:
        """Return once more than ``than`` alerts wait or the spool is closed."""
        while self._count <= than and not self._closed:
            self._changed.clear()
            await self._changed.wait()

    def close(self) -> None:
        """No more appends; ``wait`` returns from now on. Files stay open: see ``aclose``."""
        self._closed = True
        self._changed.set()

    async def aclose(self) -> None:
        """Commit what was appended (unless the spool is broken) and close the files."""
        try:
            if self._fd >= 0 and self._broken is None:
                await self.commit()
        except SpoolError as exc:
            # Already reported by the append or commit that failed first; closing must
            # still release the files.
            logger.error("%s", exc)
        finally:
            # Records a full disk kept in memory are not queued: the source reads them
            # again (its position was not saved past them), and ``len`` says what waits.
            self._count -= self._buffered
            self._buffered = 0
            async with self._commit_lock, self._deleting:
                if self._cursor_keeper is not None:
                    await self._cursor_keeper.aclose()
                self._close_files()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def position(self) -> tuple[int, int]:
        """Where the oldest unacknowledged record starts (segment, offset): the cursor."""
        return (self._cursor.segment, self._cursor.offset)

    @property
    def is_giving_up(self) -> bool:
        """Whether ``give_up_waiting`` was called: a stop is under way."""
        return self._giving_up

    @property
    def is_broken(self) -> bool:
        """Whether a failed fsync made the spool refuse writes until a restart."""
        return self._broken is not None

    @property
    def bytes_pending(self) -> int:
        """Unacknowledged bytes, on disk and in the write buffer."""
        first = self._cursor.segment
        return sum(n for s, n in self._sizes.items() if s >= first) - self._cursor.offset

    def __len__(self) -> int:
        return self._count

    def _recover(self) -> None:
        found = recover(self.directory, self.name)
        self._segment_bytes = segment_bytes_for(self.directory, self._segment_bytes)
        self._segments, self._sizes = found.segments, found.sizes
        self._cursor = self._saved_cursor = found.cursor
        # Also where a damaged or missing cursor is replaced, so it is reported once.
        cursor_file = CursorFile.create(self.directory, found.cursor)
        self._cursor_keeper = CursorKeeper(cursor_file, self._cursor_error)
        self._count = found.count
        last = self._segments[-1]
        # Damage before the end was reported (and not counted) by recover().
        scanned_to = Position(last, self._sizes[last])
        self._reader = SpoolReader(self.directory, self.name, found.cursor, scanned_to)
        self._fd = open_segment(self.directory / segment_name(last))
        self._flushed = self._sizes[last]
        if self._count:
            logger.info("spool %s: %d event(s) waiting from an earlier run", self.name, self._count)

    def _close_files(self) -> None:
        self._close_segments()
        if self._cursor_keeper is not None:
            self._cursor_keeper.close()
        # An ack after the close (a worker outliving a failed run) is not saved: its
        # events are sent again by the next run.
        self._cursor_keeper = None
        self._reader.close()

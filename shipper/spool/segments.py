"""Writing a spool's segment files: the write buffer, rolling over, fsync, the end.

A ``SegmentWriter`` is the half of a ``Spool`` that writes. Appended records wait in
a buffer and are written when 64 KiB are pending, a reader needs them or ``write``
is called; ``commit`` writes and fsyncs everything appended so far (and the
directory, for new segments), or only writes it when every record in the files
was already delivered (nothing a power loss could take would be missed);
a segment that reaches ``segment_bytes`` (at most 1/16 of the file system:
``segment_bytes_for``) is closed for writing and a new one started.

Errors. ``OSError`` becomes ``SpoolError`` naming the directory. A failed write (a
full disk) is cut back to the last whole record, so the next record never fuses with
half of one, and what was not written stays in the buffer for the next try. A failed
fsync makes the spool refuse further writes (the kernel may have dropped the data it
could not write) until a restart repairs it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from shipper.durable import fsync_directory
from shipper.errors import SpoolError
from shipper.spool.records import Position, open_segment, segment_name

MIN_SEGMENT_BYTES = 64 * 1024
FLUSH_BYTES = 64 * 1024  # buffered appends are written once this much is pending


class SegmentWriter:
    """The segment files of one spool directory and what waits to be written to them.

    Subclasses say what follows a write (``_after_write``) and a failed one
    (``_after_failed_write``).
    """

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._segments: list[int] = []  # numbers, ascending; the last one is written to
        self._sizes: dict[int, int] = {}  # bytes per segment, the write buffer included
        self._fd = -1  # the last segment, O_APPEND
        self._flushed = 0  # bytes of the last segment that reached the file
        self._buffer = bytearray()  # whole records not yet written to the file
        self._buffered = 0  # records in the buffer
        self._unsynced: list[int] = []  # rolled-over segments awaiting their fsync
        self._dir_dirty = False  # a segment was created since the last commit
        self._broken: str | None = None
        self._commit_lock = asyncio.Lock()

    async def commit(self) -> None:
        """Make everything appended so far durable (write, fsync); then the source may advance."""
        async with self._commit_lock:
            self._check_usable()
            self._flush()
            if not self._unsynced and not self._dir_dirty and self._is_delivered_to_end():
                # Every record the files hold was delivered: a power loss may take the
                # unsynced tail, and recovery then finds the cursor past the end of the
                # file with nothing waiting. A live channel posts within milliseconds,
                # before the store's sync is due, so most of its fsyncs are spared.
                return
            fds = [*self._unsynced, self._fd]
            new_entries, self._dir_dirty = self._dir_dirty, False
            try:
                await asyncio.to_thread(_sync, fds, self.directory if new_entries else None)
            except OSError as exc:
                self._broken = os.strerror(exc.errno) if exc.errno else str(exc)
                raise self._error(exc, "write") from exc
            for fd in fds[:-1]:
                self._unsynced.remove(fd)
                os.close(fd)

    @property
    def has_nothing_to_commit(self) -> bool:
        """Whether ``commit`` would do nothing now (no write, no fsync): the spool is
        usable, every record appended is in the files and was delivered, no segment or
        directory entry waits for its fsync, and no commit is under way. Then the store
        saves a position past these records without a commit of its own."""
        return (
            self._broken is None
            and self._fd >= 0
            and not self._buffer
            and not self._unsynced
            and not self._dir_dirty
            and not self._commit_lock.locked()
            and self._is_delivered_to_end()
        )

    def write(self) -> None:
        """Write what was appended to the segment file, with no fsync: a ``kill -9`` then
        loses none of it (the kernel has it), and a cursor may be saved past it. Raises
        ``SpoolError``; a full disk keeps the records for the next ``write`` or ``commit``.
        """
        self._flush()

    @property
    def end(self) -> Position:
        """Where the next record will be written; durable once ``commit`` returns."""
        last = self._segments[-1]
        return Position(last, self._sizes[last])

    def _try(self, step: Callable[[], None]) -> SpoolError | None:
        """Run a write step; the error it raised, as a ``SpoolError``."""
        try:
            step()
        except SpoolError as exc:
            return exc
        except OSError as exc:
            return self._error(exc, "write")
        return None

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._check_usable()
        written = 0
        with memoryview(self._buffer) as view:
            try:
                while written < len(view):
                    written += os.write(self._fd, view[written:])
            except OSError as exc:
                # Never leave half a record: the next one would fuse with it.
                try:
                    os.ftruncate(self._fd, self._flushed)
                except OSError as again:
                    self._broken = os.strerror(again.errno) if again.errno else str(again)
                self._after_failed_write()
                raise self._error(exc, "write") from exc
        self._flushed += written
        self._buffer.clear()
        self._buffered = 0
        self._after_write()

    @property
    def _written_end(self) -> Position:
        """The end of what reached the file: a saved cursor never points past it."""
        return Position(self._segments[-1], self._flushed)

    def _roll(self) -> None:
        self._flush()
        number = self._segments[-1] + 1
        fd = open_segment(self.directory / segment_name(number), os.O_EXCL)
        self._unsynced.append(self._fd)
        self._fd, self._flushed, self._dir_dirty = fd, 0, True
        self._segments.append(number)
        self._sizes[number] = 0

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise SpoolError(
                f"cannot write the backlog in {self.directory}: {self._broken} "
                "(an earlier write failed; restart shipper to recover)"
            )
        if self._fd < 0:
            raise SpoolError(f"the backlog in {self.directory} is closed")

    def _is_delivered_to_end(self) -> bool:
        """Whether every record written to the segment files was delivered."""
        return False

    def _after_write(self) -> None:
        """Called once the buffer reached the file."""

    def _after_failed_write(self) -> None:
        """Called when a write failed and the file was cut back to ``_written_end``."""

    def _close_segments(self) -> None:
        for fd in [*self._unsynced, self._fd]:
            if fd >= 0:
                os.close(fd)
        self._unsynced.clear()
        self._fd = -1

    def _error(self, exc: OSError, verb: str) -> SpoolError:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return SpoolError(f"cannot {verb} the backlog in {self.directory}: {reason}")


def segment_bytes_for(directory: Path, configured: int) -> int:
    """The segment size to use on the file system of ``directory``.

    Only whole segments are deleted, so on a small file system (a 2 MiB tmpfs,
    a nearly full volume's quota) a segment is at most 1/16 of it: delivered
    events then free space while the backlog drains.
    """
    st = os.statvfs(directory)
    size = st.f_blocks * st.f_frsize
    if not size:
        return configured  # a file system that does not say its size
    return min(configured, max(MIN_SEGMENT_BYTES, size // 16))


def _sync(fds: list[int], directory: Path | None) -> None:
    for fd in fds:
        os.fsync(fd)
    if directory is not None:
        fsync_directory(directory)


def delete_segments(finished: list[Path]) -> None:
    for path in finished:
        path.unlink(missing_ok=True)
    fsync_directory(finished[0].parent)

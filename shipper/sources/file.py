"""Tail one file: follow appends, survive rotation and truncation, resume where we were.

``FileTail.batches`` yields ``TailBatch``es: the complete lines read (numbered
per file) and the ``FilePosition`` to resume from once those lines are safe.
The file is read in a thread of its own, blocked in ``poll`` between reads
(``handoff``: a live log written a line at a time would otherwise wake the
event loop a thousand times a second), and ``routed`` lets that thread also
route each batch and keep back what needs no loop. A read whose lines
``reading``'s ``skip`` passes over (none can go anywhere) makes no batch at
all: the position past them goes with the next batch, at the next idle poll or
at a stop. The thread reads as soon as inotify
says the file's directory changed (``inotify``), so an appended line is read
within a fraction of a millisecond, each write on its own: a look is a
``pread`` of the first KiB and one of what follows the read offset (no
``fstat`` nor ``stat`` of the path until nothing follows). It also
polls, for what inotify does not report (a file on NFS, say) and
where inotify cannot be used: every ``poll_interval`` (50 ms) for a second
after data arrived, then every ``idle_poll_interval`` (100 ms): on a quiet
file the wake-ups themselves are the cost (about 0.3% of a core at 100 ms,
0.6% at 50 ms, measured). While data keeps coming it reads again at once.

- Rename rotation (and deletion): the old descriptor is read to its end and
  kept until the path names a new file *that has data*, so late writes by an
  application that still has the old file open are not lost, however late
  they come; the old file is drained a last time right before switching.
- copytruncate: the file's first bytes changed (checked at every look, 1 KiB
  ``pread``), or nothing follows our read offset and the file is shorter than
  it: read again from 0.
- A restart finds a file rotated while we were down by its device, inode and
  fingerprint in the same directory, finishes it, then reads the new file.
- What may be opened at the path, and what is waited past with a warning (a
  symlink to a file elsewhere, a directory, a FIFO), is ``TailedPath``'s call;
  a configured symlink is followed to its file, whose directory is then the
  one watched.

Limits: a file truncated and rewritten to the same size with the same first
1 KiB before a poll notices is not detected; after switching to the new file,
writes to the old one are not read (a single writer has moved on by then); a
rotated file is looked for only in the same directory (not logrotate's
``olddir``) and not once compressed; lines written between logrotate's copy
and its truncate are lost (copytruncate's own window).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from shipper.sources.handoff import Ended, Handoff
from shipper.sources.inotify import DirectoryWatch
from shipper.sources.lines import Block, Line, Lines
from shipper.sources.open_file import OpenFile, count_to_last_line
from shipper.sources.position import FilePosition, is_same_file
from shipper.sources.tailed_path import Refused, TailedPath, open_regular

log = logging.getLogger(__name__)

_QUIET_AFTER = 1.0  # seconds without data before polling at idle_poll_interval
# What the reading thread may have handed over and the loop not yet taken: a catch-up
# routes the next chunk while the loop stores the last ones, and goes no further.
HANDOFF_ROOM = 4

T = TypeVar("T")


class _Outcome(enum.Enum):
    IDLE = "nothing to read: wait one poll interval"
    BUSY = "read without a complete line: go on at once"


_IDLE = _Outcome.IDLE
_BUSY = _Outcome.BUSY


@dataclass(frozen=True)
class TailBatch:
    """Lines read, and where to resume once they are durable (``lines`` may be empty:
    only the position moved, e.g. to a new file after a rotation)."""

    lines: Sequence[Line]
    position: FilePosition


class FileTail:
    """Follows the file at ``path``; see the module docstring for what it survives.

    Use ``batches()``, ``routed()`` or ``reading()`` once: the file is read in a
    thread of its own (``handoff``), which ``stop()`` ends at once, as does
    closing the iterator or cancelling the task iterating it; the thread closes
    the descriptor on its way out and is waited for. A partial last line is
    never emitted at stop; the position excludes it, so the next run reads it
    again. ``ready`` is set once the file is open, or known to be missing and
    waited for. What stands at the path and is not a regular file we may read (a
    directory, a FIFO, a symlink out of its directory, a file we may not read) is
    waited past like a missing file, with a warning; another ``OSError`` (an I/O
    error reading) ends the iteration with that error.
    """

    def __init__(
        self,
        path: Path,
        *,
        saved: FilePosition | None,
        start_at: Literal["end", "beginning"],
        from_beginning: bool,
        max_line_bytes: int,
        poll_interval: float = 0.05,
        idle_poll_interval: float = 0.1,
    ) -> None:
        self.path = path
        self.ready = asyncio.Event()
        if saved is not None and os.path.abspath(saved.path) != os.path.abspath(path):
            log.info("%s: the saved position is for %s; ignoring it", path, saved.path)
            saved = None
        self._saved = saved
        self._start_at = start_at
        self._from_beginning = from_beginning
        self._max_bytes = max_line_bytes
        self._poll_interval = poll_interval
        self._idle_poll_interval = max(poll_interval, idle_poll_interval)
        self._last_data = time.monotonic()
        self._is_stopping = False
        self._file: OpenFile | None = None
        self._told_moved = False
        self._where = TailedPath(path)
        self._watch: DirectoryWatch | None = None
        self._read_to_size = False  # the last step read to the end of the file

    @property
    def is_waiting(self) -> bool:
        """Whether no file has been opened at ``path`` yet: it is missing (or refused)."""
        return self._file is None

    def stop(self) -> None:
        """End the reading at its next step (a pending partial line stays unread); from
        any thread."""
        self._is_stopping = True
        watch = self._watch  # the reading thread clears it on its way out
        if watch is not None:
            watch.wake()

    def batches(self) -> AsyncGenerator[TailBatch, None]:
        """Batches of complete lines, in file order, until ``stop()`` or cancellation."""
        return self.routed(_same)

    async def routed(self, step: Callable[[TailBatch | None], T | None]) -> AsyncGenerator[T, None]:
        """``reading(step)`` as an async generator that ends the reading when closed
        (what was handed over and not taken yet is dropped: its lines are not saved)."""
        reading = self.reading(step)
        try:
            async for item in reading:
                yield item
        finally:
            _, error = await reading.finish()
            if error is not None:
                raise error

    def reading(
        self,
        step: Callable[[TailBatch | None], T | None],
        skip: Callable[[Block], bool] | None = None,
    ) -> Reading[T]:
        """Start reading: ``step(batch)`` of each batch, run in the reading thread, and
        ``step(None)`` at each idle poll; a ``None`` from it is not handed over (a batch
        no channel takes need not wake the event loop). ``finish`` it.

        ``skip(block)``, also run in the reading thread, is asked first about a read
        that gave one block of whole lines: ``True`` passes over them with no batch
        (the position past them goes with the next batch, or at the next idle poll
        or the stop, as ``step`` of a batch without lines).
        """
        loop = asyncio.get_running_loop()
        handoff: Handoff[T] = Handoff(HANDOFF_ROOM)

        def produce(put: Callable[[T], bool]) -> None:
            def emit(batch: TailBatch | None) -> bool:
                item = step(batch)
                return item is None or put(item)

            self.follow(emit, lambda: loop.call_soon_threadsafe(self.ready.set), skip)

        # Made here, not in the thread, so that a stop from now on wakes the thread.
        self._watch = DirectoryWatch.open(self._where.directory)
        try:
            handoff.start(produce, name="shipper-tail")
        except BaseException:  # no thread: nobody else closes the watch
            self._close()
            raise
        return Reading(handoff, self.stop)

    def follow(
        self,
        emit: Callable[[TailBatch | None], bool],
        on_ready: Callable[[], object],
        skip: Callable[[Block], bool] | None = None,
    ) -> None:
        """Read until ``stop()``, blocking, calling ``emit`` with each batch and at each
        idle poll (``False`` from it stops the reading); ``on_ready`` once the file is open
        or waited for. ``skip`` as ``reading`` says: after lines passed over, the idle poll
        and the stop emit a batch without lines (the position past them), else an idle
        poll emits ``None``. An error ends the reading with no such batch: the next run
        reads those lines again (no channel takes them)."""
        try:
            self._open_at_start()
            if self._is_stopping:
                return  # stopped while opening: nothing was read, nothing to hand over
            if self._watch is None:
                self._watch = DirectoryWatch.open(self._where.directory)
            else:  # a configured symlink may have led to another directory
                self._watch.watch(self._where.directory)
            on_ready()
            moved = self._file is not None and self._file.position(self.path) != self._saved
            if moved and not emit(self._batch([])):
                return
            passed_over = False  # lines since the last batch emitted: its position is behind
            while not self._stopping():
                f = self._file
                if f is not None and f.at_end and (block := f.read_whole()) is not None:
                    # A live log's write, read in one step (most looks at a steady rate):
                    # none of ``_step``'s calls, and the ``Lines`` branch below inlined.
                    self._last_data = time.monotonic()
                    if skip is not None and skip(block):
                        passed_over = True
                    else:
                        passed_over = False
                        if not emit(self._batch(Lines((block,)))):
                            return
                    del block
                    self._pause()
                    continue
                batch = self._step()
                if isinstance(batch, Lines):
                    if skip is not None and _one_block_skipped(batch, skip):
                        passed_over = True
                    else:
                        passed_over = False
                        if not emit(self._batch(batch)):
                            return
                elif isinstance(batch, TailBatch):
                    passed_over = False
                    if not emit(batch):
                        return
                elif batch is _IDLE:
                    if not emit(self._batch([]) if passed_over else None):
                        return
                    passed_over = False
                    self._pause()
                    continue
                else:
                    continue
                del batch  # not kept alive while the next chunk is read
                if self._read_to_size:
                    # Read to the end: nothing to look at before a pause.
                    self._pause()
            if passed_over:  # stopped: the position past them is stored at the stop
                emit(self._batch([]))
        finally:
            self._close()

    def _step(self) -> Lines | TailBatch | _Outcome:
        """One step: open, rewind, read (the ``Lines`` read), or switch files; ``_IDLE`` when
        there is nothing to do."""
        self._read_to_size = False
        f = self._file
        if f is None:
            return self._batch([]) if self._open_new() else _IDLE
        if f.is_rewritten():
            return self._rewound(f)
        lines = f.read_chunk()
        if lines is not None:
            self._last_data = time.monotonic()
            self._read_to_size = f.at_end
            return lines if lines.parts else _BUSY  # a line longer than one chunk
        if f.is_truncated():
            return self._rewound(f)
        if not self._path_has_new_data(f) or not self._open_new():
            return _IDLE
        # The new file has data, so the writer has moved on: finish the old one, then switch.
        log.info("%s: rotated; finishing the old file, then reading the new one", self.path)
        return self._batch(f.drain())

    def _rewound(self, f: OpenFile) -> TailBatch:
        log.info(
            "%s: truncated (read up to %d): reading again from the start", self.path, f.read_offset
        )
        f.rewind()
        return self._batch([])

    def _batch(self, lines: Sequence[Line]) -> TailBatch:
        assert self._file is not None
        return TailBatch(lines, self._file.position(self.path))

    def _pause(self) -> None:
        # Until inotify's wake-up, stop()'s, or the poll interval's end.
        since_data = time.monotonic() - self._last_data
        interval = self._idle_poll_interval if since_data > _QUIET_AFTER else self._poll_interval
        assert self._watch is not None
        self._watch.wait(interval)

    def _path_has_new_data(self, f: OpenFile) -> bool:
        """Whether ``path`` now names another file with data in it (rotation, re-creation)."""
        st = self._where.look()
        if st is None or (st.st_dev, st.st_ino) != (f.dev, f.inode):
            if not self._told_moved:
                self._told_moved = True
                log.info(
                    "%s: moved or deleted; following the old file until a new one has data",
                    self.path,
                )
            return st is not None and st.st_size > 0
        return False

    def _open_new(self) -> bool:
        """Open the file now at ``path`` from its start (it is new to us); ``False`` if missing."""
        opened = self._where.open()
        if opened is None:
            return False
        self._file = OpenFile(*opened, 0, 0, self._max_bytes)
        self._told_moved = False
        if self._watch is not None:  # a configured symlink may have moved it elsewhere
            self._watch.watch(self._where.directory)
        return True

    def _open_at_start(self) -> None:
        opened = self._where.open()
        saved = self._saved
        if self._from_beginning or (saved is None and self._start_at == "beginning"):
            self._start(opened, 0, 0, "from the beginning")
        elif saved is None and opened is not None:
            try:
                offset, line = count_to_last_line(opened[0], opened[1].st_size, self._stopping)
            except BaseException:  # nobody else will close it
                os.close(opened[0])
                raise
            if self._is_stopping:  # the count was cut short: not the end of the file
                os.close(opened[0])
                return
            self._start(opened, offset, line, "at its end")
        elif saved is None:
            self._start(None, 0, 0, "")  # created after we started waiting: all of it is new
        else:
            self._resume(saved, opened)

    def _resume(self, saved: FilePosition, opened: tuple[int, os.stat_result] | None) -> None:
        if opened is not None:
            fd, st = opened
            if is_same_file(fd, st, saved) and st.st_size >= saved.offset:
                self._start(opened, saved.offset, saved.line, "where the last run stopped")
                return
            if (st.st_dev, st.st_ino) == (saved.dev, saved.inode):
                log.warning(
                    "%s: truncated or rewritten since the last run; "
                    "lines after offset %d of the old content may have been missed",
                    self.path,
                    saved.offset,
                )
                self._start(opened, 0, 0, "from the beginning")
                return
        rotated = self._find_rotated(saved)
        if rotated is None:
            log.warning(
                "%s: the file read before the restart is gone (rotated away or deleted); "
                "lines after offset %d of it may have been missed",
                self.path,
                saved.offset,
            )
            self._start(opened, 0, 0, "from the beginning of the new file")
            return
        if opened is not None:
            os.close(opened[0])
        log.info("%s: rotated since the last run; finishing the old file first", self.path)
        self._start(rotated, saved.offset, saved.line, "in the rotated file")

    def _start(
        self, opened: tuple[int, os.stat_result] | None, offset: int, line: int, how: str
    ) -> None:
        if opened is None:
            if not self._where.is_refused:  # else it said what is there instead
                log.info("%s: does not exist yet; waiting for it", self.path)
            return
        self._file = OpenFile(*opened, offset, line, self._max_bytes)
        log.info("%s: reading %s (offset %d, line %d)", self.path, how, offset, line + 1)

    def _find_rotated(self, saved: FilePosition) -> tuple[int, os.stat_result] | None:
        """The saved file under another name in the same directory (e.g. ``audit.jsonl.1``)."""
        name = self._where.watched.name
        try:
            with os.scandir(self._where.directory) as entries:
                candidates = [
                    e.path for e in entries if e.name != name and e.inode() == saved.inode
                ]
        except OSError:  # the directory is gone or unreadable: so is the rotated file
            return None
        for candidate in candidates:
            try:
                opened = open_regular(candidate)
            except Refused:
                opened = None
            if opened is None:
                continue
            fd, st = opened
            if is_same_file(fd, st, saved) and st.st_size >= saved.offset:
                return opened
            os.close(fd)
        return None

    def _stopping(self) -> bool:
        return self._is_stopping

    def _close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._file is not None:
            os.close(self._file.fd)
            self._file = None


class Reading(Generic[T]):
    """What a tail's reading thread hands over, in order (an async iterator), until
    ``finish``: nothing it handed over is lost at a stop."""

    def __init__(self, handoff: Handoff[T], stop: Callable[[], None]) -> None:
        self._handoff = handoff
        self._stop = stop

    def __aiter__(self) -> Reading[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._handoff.get()
        except Ended:
            raise StopAsyncIteration from None

    async def finish(self) -> tuple[list[T], BaseException | None]:
        """Stop the reading and wait for its thread to end (a cancellation meanwhile is
        passed on once it has); the items handed over and not taken, in order, and what
        the reading raised that ``__anext__`` did not."""
        self._stop()
        return await self._handoff.finish()


def _same(batch: TailBatch | None) -> TailBatch | None:
    return batch


def _one_block_skipped(lines: Lines, skip: Callable[[Block], bool]) -> bool:
    parts = lines.parts
    return len(parts) == 1 and isinstance(parts[0], Block) and skip(parts[0])

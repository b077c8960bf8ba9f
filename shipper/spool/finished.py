"""A spool's cursor moved past delivered records: saved in place, finished segments deleted.

A ``CursorSaver`` is the part of a ``Spool`` between its writer and its backlog: it
saves the cursor (``cursor.CursorKeeper``: one ``pwrite``, made durable within a
second), never past what the file holds, and deletes the segments the saved cursor
has moved past once that save is durable, so a power loss can never bring back a
cursor that points into a deleted segment. A save that fails is logged: its cost is
duplicates after a crash, never loss.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
from pathlib import Path

from shipper.spool.cursor import CursorKeeper
from shipper.spool.records import Position, segment_name
from shipper.spool.segments import SegmentWriter, delete_segments

logger = logging.getLogger(__name__)


class CursorSaver(SegmentWriter):
    """Where the oldest unacknowledged record starts, and saving it."""

    def __init__(self, directory: Path, segment_bytes: int, name: str) -> None:
        super().__init__(directory, segment_bytes)
        self.name = name
        self._cursor = self._saved_cursor = Position(0, 0)
        self._cursor_keeper: CursorKeeper | None = None
        self._deleting = asyncio.Lock()

    def _is_delivered_to_end(self) -> bool:
        return self._cursor >= self._written_end

    def _after_write(self) -> None:
        if self._cursor != self._saved_cursor:
            # An ack that came before this write could not save a cursor past the file.
            self._save_cursor_now()

    def _skip_finished(self, position: Position) -> Position:
        """Move a position at the end of a finished segment to the start of the next one."""
        while position.segment != self._segments[-1] and position.offset >= self._sizes.get(
            position.segment, 0
        ):
            later = bisect.bisect_right(self._segments, position.segment)
            position = Position(self._segments[later], 0)
        return position

    def _save_cursor_now(self) -> None:
        """Save the cursor, or as much of it as the file holds: a worker may have posted
        records that a full disk kept in the write buffer, and a cursor past the end of
        the file would be distrusted after a crash (everything sent again)."""
        keeper = self._cursor_keeper
        cursor = min(self._cursor, self._written_end)
        if keeper is not None and cursor != self._saved_cursor and keeper.save(cursor):
            self._saved_cursor = cursor

    async def _save_cursor(self) -> None:
        keeper = self._cursor_keeper
        if keeper is None:
            return
        self._save_cursor_now()
        if self._segments[0] < self._saved_cursor.segment and not self._deleting.locked():
            async with self._deleting:
                await self._delete_finished(keeper)

    async def _delete_finished(self, keeper: CursorKeeper) -> None:
        """Delete the segments the saved cursor has moved past, once it is durable."""
        while finished := [s for s in self._segments if s < self._saved_cursor.segment]:
            try:
                # Never a deleted segment behind a cursor that a power loss could undo.
                await keeper.sync()
                await asyncio.to_thread(
                    delete_segments, [self.directory / segment_name(s) for s in finished]
                )
            except OSError as exc:
                self._cursor_error(exc)
                return
            for number in finished:
                self._segments.remove(number)
                del self._sizes[number]

    def _cursor_error(self, exc: OSError) -> None:
        logger.error(
            "spool %s: could not save the cursor in %s (%s); delivered events "
            "may be sent again after a crash",
            self.name,
            self.directory,
            os.strerror(exc.errno) if exc.errno else exc,
        )

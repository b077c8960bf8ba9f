"""Reading a spool's backlog: ``peek`` at the oldest records, and what a read finds.

A ``BacklogReader`` is the part of a ``Spool`` between its cursor saver and its
backlog: it counts the records from the cursor to the end and reads them from the
segment files (``reader.SpoolReader``), writing the buffer first when a reader at the
end of the files needs it. It keeps at most the ``limit`` records ``peek`` was last
asked for, except that a reader which has read everything is handed each appended
alert directly (up to 256 of them). A damaged record found after ``open`` is skipped
and not counted; a count that disagrees with the files is corrected to the files.

A full disk: records handed to the reader are taken back until they reach the file,
and a reader at the end of the files waits (``peek``) for what could not be written
rather than answering that the backlog is empty.
"""

from __future__ import annotations

import asyncio
import logging
from itertools import islice
from pathlib import Path

from shipper.errors import SpoolError
from shipper.routing.event import Alert
from shipper.spool.finished import CursorSaver
from shipper.spool.reader import SpoolReader
from shipper.spool.records import Position
from shipper.spool.recovery import last_record

# The spool's logger: operators filter on it, and the backlog is one thing to them.
logger = logging.getLogger("shipper.spool.spool")

ROOM_POLL = 0.5  # seconds between tries to write what a full disk left in memory


class BacklogReader(CursorSaver):
    """The records from the cursor to the end: how many, and reading them."""

    def __init__(self, directory: Path, segment_bytes: int, name: str) -> None:
        super().__init__(directory, segment_bytes, name)
        self._count = 0  # valid records from the cursor to the end
        self._reader = SpoolReader(directory, self.name, Position(0, 0), Position(0, 0))

    async def peek(self, limit: int) -> list[Alert]:
        """The oldest unacknowledged alerts, at most ``limit``, read from the segment files.

        When every record in the files was delivered and the rest waits in memory for
        room (a full disk), it waits until they are written: an empty answer would
        tell the worker that the backlog is empty.
        """
        while True:
            unwritten = False  # the end of the files, and the rest could not be written
            try:
                while len(self._reader.ahead) < min(limit, self._count):
                    found = self._read_next()
                    if found is None:
                        unwritten = bool(self._buffer)
                        if not unwritten:
                            self._resync()
                        break
                    self._reader.ahead.append(found)
            except OSError as exc:
                raise self._error(exc, "read") from exc
            if self._reader.ahead or not unwritten or self._broken is not None or self._fd < 0:
                return [alert for alert, _ in islice(self._reader.ahead, limit)]
            await asyncio.sleep(ROOM_POLL)

    async def last_record(self, after: Position) -> Alert | None:
        """The last record appended, if it ends past ``after`` (an earlier ``end``).

        For the first moments after a restart; it reads the files, not the write buffer.
        """
        try:
            found = await asyncio.to_thread(
                last_record, self.directory, list(self._segments), dict(self._sizes), after
            )
        except OSError as exc:
            raise self._error(exc, "read") from exc
        return found[0] if found is not None else None

    def _after_failed_write(self) -> None:
        # Records handed to the reader are read from the file once they are in it.
        self._reader.forget_after(self._written_end)

    def _read_next(self) -> tuple[Alert, Position] | None:
        return self._reader.next(self._segments, self._flush_for_reader, self._lost_one)

    def _flush_for_reader(self) -> bool:
        """Write the buffer for a reader at the end of the file; whether it wrote anything."""
        if not self._buffer:
            return False
        try:
            self._flush()
        except SpoolError:
            # The writer reports it; a reader sees only what reached the file.
            return False
        return True

    def _lost_one(self) -> None:
        self._count -= 1

    def _resync(self) -> None:
        # Only reachable if records were damaged after open(): believe the files.
        logger.error(
            "spool %s: counted %d waiting event(s) but found %d on disk",
            self.name,
            self._count,
            len(self._reader.ahead),
        )
        self._count = len(self._reader.ahead)

"""The read side of a channel's spool: records read forward through its segment files.

``SpoolReader`` keeps where the next record starts (``read_at``), the segment
file it reads from, and the read-ahead: records decoded and not acknowledged
yet, each with where it ends. ``next`` decodes the record at ``read_at``; at
the end of what reached the file it asks the writer to flush its buffer, and
says ``None`` once there is nothing more. A damaged record is skipped with an
error (``on_damaged`` keeps the spool's count right), unless ``Spool.open``
already reported it.

A reader that has read everything is handed each appended alert directly
(``hand_off``, up to ``HANDOFF_MAX`` waiting): the worker is about to post it,
and reading it back would only decode what is in memory already.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from shipper.durable import open_private_reader
from shipper.routing.event import Alert
from shipper.spool.records import (
    BadRecord,
    Position,
    decode_record,
    is_valid_record,
    segment_name,
)

__all__ = ["HANDOFF_MAX", "SpoolReader"]

# The spool's own logger: a damaged record is the spool's news, wherever it was found.
logger = logging.getLogger("shipper.spool.spool")

HANDOFF_MAX = 256
_READ_BUFFER = 64 * 1024


class SpoolReader:
    """Reads one spool's records in order, from ``at``; ``close`` releases its file."""

    def __init__(self, directory: Path, name: str, at: Position, scanned_to: Position) -> None:
        self.read_at = at  # where the next record after the read-ahead starts
        self.ahead: deque[tuple[Alert, Position]] = deque()  # record, and where it ends
        self._directory = directory
        self._name = name
        self._scanned_to = scanned_to  # open() reported the bad records before it
        self._file: BinaryIO | None = None

    def caught_up(self, end: Position) -> bool:
        """Whether an alert appended at ``end`` (the spool's end before it) can be handed over."""
        return self.read_at == end and len(self.ahead) < HANDOFF_MAX

    def hand_off(self, alert: Alert, end: Position) -> None:
        """Take the alert just appended, which ends at ``end``, as if read from the file."""
        self.read_at = end
        self.ahead.append((alert, end))
        # It would go on from where it stopped reading, before this record.
        self.close()

    def forget_after(self, end: Position) -> None:
        """Drop the records read ahead that end past ``end`` and read on from there.

        For records handed over before their write failed: they are read from the
        file once a later write puts them there, so a post of them before then is
        at most one batch sent twice, and the cursor never passes what the file holds.
        """
        while self.ahead and self.ahead[-1][1] > end:
            self.ahead.pop()
        if self.read_at > end:
            self.read_at = end
            self.close()

    def next(
        self,
        segments: Sequence[int],
        flush: Callable[[], bool],
        on_damaged: Callable[[], None],
    ) -> tuple[Alert, Position] | None:
        """The record at ``read_at`` and where it ends; ``None`` at the end of the data.

        ``segments`` are the spool's segment numbers; ``flush`` writes the writer's
        buffer and says whether it wrote anything.
        """
        while True:
            at = self.read_at
            if self._file is None:
                path = self._directory / segment_name(at.segment)
                # Kept open across calls, closed at the segment's end or by close().
                self._file = open_private_reader(path, _READ_BUFFER)
                self._file.seek(at.offset)
            line = self._file.readline()
            if not line.endswith(b"\n") and at.segment == segments[-1]:
                self._file.seek(at.offset)  # end of what was written so far
                if flush():
                    continue
                return None
            if not line:
                self.close()
                later = bisect.bisect_right(segments, at.segment)
                self.read_at = Position(segments[later], 0)
                continue
            self.read_at = Position(at.segment, at.offset + len(line))
            try:
                return decode_record(line), self.read_at
            except BadRecord as exc:
                # open() reported, and did not count, damage it found before _scanned_to.
                if at >= self._scanned_to or is_valid_record(line):
                    on_damaged()
                    logger.error(
                        "spool %s: skipped a damaged record in %s at offset %d (%d bytes): %s",
                        self._name,
                        segment_name(at.segment),
                        at.offset,
                        len(line),
                        exc,
                    )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

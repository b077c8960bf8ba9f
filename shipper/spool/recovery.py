"""What ``Spool.open`` finds on disk after a clean stop or a crash, repaired where it must be.

``recover`` lists the segments, trusts the cursor only if it checks out,
counts the valid records from the cursor to the end, and cuts a torn tail off
the last segment. The rules, and why:

- A trailing run of lines that are incomplete or fail their checksum, in the
  last segment, is a write cut short by a crash (or a file that grew but
  whose data never reached the disk): truncated, with a WARNING naming the
  file, offset and size. A complete, valid record is never cut.
- A bad line followed by good ones, or anywhere in an older segment, is
  damage: reported with an ERROR and not counted; the reader skips it.
- A cursor past the end of the last segment: a power loss took the file's
  unsynced tail, which held only delivered records (``commit`` spares the fsync
  then), while the cursor past them had been saved. Nothing before the cursor
  waits, so reading goes on at the end of the last whole record (a torn one
  after it is cut, as above), with an INFO line.
- A cursor that is missing (while segments exist), unreadable, fails its
  checksum, names a missing segment, points past the end of an older segment
  or not at the start of a line: WARNING, and reading restarts at the oldest
  segment. That sends some events twice; trusting it could skip events never
  sent. ``Spool.open`` then writes a fresh cursor file, so the problem is
  reported once.

Blocking file I/O: ``Spool.open`` runs it in a thread. Logs hold offsets and
sizes, never event contents.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from shipper.durable import ensure_private_dir, open_private_reader
from shipper.routing.event import Alert
from shipper.spool.cursor import read_cursor
from shipper.spool.records import (
    BadRecord,
    Position,
    decode_record,
    is_valid_record,
    open_segment,
    segment_name,
    segment_number,
)

logger = logging.getLogger(__name__)

_READ_BUFFER = 64 * 1024


@dataclass(slots=True)
class Recovered:
    """The spool's state on disk: segment numbers (ascending, never empty), sizes, cursor."""

    segments: list[int]
    sizes: dict[int, int]
    cursor: Position
    count: int  # valid records from the cursor to the end


def recover(directory: Path, name: str) -> Recovered:
    """Create the spool directory if needed, repair a torn tail, and report what waits."""
    ensure_private_dir(directory)
    sizes: dict[int, int] = {}
    for entry in os.scandir(directory):
        number = segment_number(entry.name)
        if number is not None:
            sizes[number] = entry.stat(follow_symlinks=False).st_size
    segments = sorted(sizes)
    cursor = _load_cursor(directory, name, segments, sizes)
    if not segments:
        # A fresh spool; numbering goes on from an old cursor so names never repeat.
        first = cursor.segment if cursor else 1
        os.close(open_segment(directory / segment_name(first)))
        segments, sizes = [first], {first: 0}
        cursor = None
    start = cursor or Position(segments[0], 0)
    count = 0
    for number in segments:
        if number >= start.segment:
            offset = start.offset if number == start.segment else 0
            count += _scan(directory, name, number, offset, sizes, is_last=number == segments[-1])
    return Recovered(segments, sizes, start, count)


def _load_cursor(
    directory: Path, name: str, segments: list[int], sizes: dict[int, int]
) -> Position | None:
    """The saved cursor if it can be trusted; ``None`` (and a warning) otherwise."""
    try:
        cursor = read_cursor(directory)
    except FileNotFoundError:
        problem = "is missing"
    except (OSError, ValueError) as exc:
        problem = f"is unreadable ({exc})"
    else:
        if not segments:
            return cursor
        segment = segment_name(cursor.segment)
        size = sizes.get(cursor.segment)
        if size is None:
            problem = f"names a missing segment {segment}"
        elif cursor.offset > size and cursor.segment == segments[-1]:
            whole = _whole_records_end(directory / segment, size)
            logger.info(
                "spool %s: %s ends at %d, before the cursor (%d): the delivered events "
                "written last were lost with the power; nothing waits before the cursor",
                name,
                segment,
                whole,
                cursor.offset,
            )
            return Position(cursor.segment, whole)
        elif cursor.offset > size:
            problem = f"points past the end of {segment}"
        elif cursor.offset and not _ends_line(directory / segment, cursor.offset):
            problem = f"does not point at a record in {segment}"
        else:
            return cursor
    if segments:
        logger.warning(
            "spool %s: the cursor %s; starting again from the oldest segment "
            "(some events may be sent twice)",
            name,
            problem,
        )
    return None


def _scan(
    directory: Path, name: str, number: int, offset: int, sizes: dict[int, int], *, is_last: bool
) -> int:
    """Count the valid records of a segment from ``offset``; truncate a torn tail."""
    count = 0
    damaged: list[tuple[int, int]] = []  # a run of bad lines not yet followed by a good one
    path = directory / segment_name(number)
    with open_private_reader(path, _READ_BUFFER) as segment:
        segment.seek(offset)
        for line in segment:
            if is_valid_record(line):
                count += 1
                _report_damage(name, number, damaged)
                damaged.clear()
            else:
                damaged.append((offset, len(line)))
            offset += len(line)
    if damaged and is_last:
        start = damaged[0][0]
        logger.warning(
            "spool %s: dropped a record cut short by a crash at the end of %s "
            "(offset %d, %d bytes)",
            name,
            path.name,
            start,
            offset - start,
        )
        os.truncate(path, start)
        sizes[number] = start
    else:
        _report_damage(name, number, damaged)
    return count


def _report_damage(name: str, number: int, damaged: list[tuple[int, int]]) -> None:
    for offset, size in damaged:
        logger.error(
            "spool %s: skipping a damaged record in %s at offset %d (%d bytes)",
            name,
            segment_name(number),
            offset,
            size,
        )


def _whole_records_end(path: Path, size: int) -> int:
    """Where the last whole line of the first ``size`` bytes of ``path`` ends (0: none)."""
    if size == 0:
        return 0
    chunk = _READ_BUFFER
    with open_private_reader(path) as f:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            cut = f.read(end - start).rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            end = start
    return 0


def _ends_line(path: Path, offset: int) -> bool:
    with open_private_reader(path) as segment:
        segment.seek(offset - 1)
        return segment.read(1) == b"\n"


def last_record(
    directory: Path, segments: list[int], sizes: dict[int, int], after: Position
) -> tuple[Alert, Position] | None:
    """The last record written, and where it ends, if it ends past ``after``.

    Reads backwards from the end of the newest non-empty segment, so the cost is
    one record, not the spool. ``None`` when nothing was written past ``after``,
    the segment holding it is gone, or the record is damaged.
    """
    for number in reversed(segments):
        if number < after.segment:
            return None
        size = sizes[number]
        if size == 0:
            continue
        end = Position(number, size)
        if end <= after:
            return None
        try:
            line = _last_line(directory / segment_name(number), size)
            return decode_record(line), end
        except (OSError, BadRecord):
            return None
    return None


def _last_line(path: Path, size: int) -> bytes:
    """The last line of the first ``size`` bytes of ``path`` (which end with a newline)."""
    chunk = _READ_BUFFER
    with open_private_reader(path) as f:
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            data = f.read(size - start)
            cut = data.rfind(b"\n", 0, len(data) - 1)
            if cut >= 0 or start == 0:
                return data[cut + 1 :]
            chunk *= 2

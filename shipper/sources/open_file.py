"""One tailed file open for reading: how far it was read, its identity, its unfinished line.

``OpenFile`` reads a file in chunks and splits them into lines, remembers the
offset just past the last complete line (where to resume) and the file's first
bytes (to notice a truncation or rewrite), and gives the ``FilePosition`` to save.
``count_to_last_line`` finds where a file never seen before ends, for
``start_at = "end"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from shipper.sources.lines import Block, Line, Lines, LineSplitter
from shipper.sources.position import FINGERPRINT_BYTES, FilePosition, fingerprint_of, read_head

CHUNK_BYTES = 512 * 1024
# A read after a read that found the end asks for this much: a live log's write or two,
# in a buffer of no more than a heap allocation. A read that fills it goes on at once
# with ``CHUNK_BYTES`` (a catch-up).
LIVE_BYTES = 64 * 1024
_COUNT_CHUNK_BYTES = 1024 * 1024


class OpenFile:
    """One open file: how far it was read, its first bytes, and its unfinished last line."""

    def __init__(self, fd: int, st: os.stat_result, offset: int, line: int, max_bytes: int) -> None:
        self.fd = fd
        self.dev = st.st_dev
        self.inode = st.st_ino
        self.read_offset = offset  # next byte to read
        self.done_offset = offset  # just past the last newline read
        self.splitter = LineSplitter(max_bytes, first_line=line + 1)
        self.head = read_head(fd)
        self._fingerprint = (b"", fingerprint_of(b""))
        self.at_end = True  # the last read found the end of the file (it was short)

    def read_chunk(self) -> Lines | None:
        """The lines one read completes; ``None`` at end of file.

        A plain ``os.pread`` in the tail's reading thread, which alone uses and
        closes the descriptor: ``LIVE_BYTES`` after a read that reached the end,
        else ``CHUNK_BYTES``. ``at_end`` says whether this one reached it.
        """
        want = LIVE_BYTES if self.at_end else CHUNK_BYTES
        chunk = os.pread(self.fd, want, self.read_offset)
        self.at_end = len(chunk) < want
        if not chunk:
            return None
        last_newline = chunk.rfind(b"\n")
        if last_newline >= 0:
            self.done_offset = self.read_offset + last_newline + 1
        self.read_offset += len(chunk)
        return self.splitter.feed(chunk)

    def read_whole(self) -> Block | None:
        """A look at a live log in one step, for a caller whose last read reached the end
        (``at_end``): with the first KiB unchanged, a write of whole lines (none begun
        before) read as one ``Block``. ``None``, with nothing taken, for anything else (a
        head not yet whole or changed, nothing new, a line begun or too long, more than
        a write): ``is_rewritten`` and ``read_chunk`` then look again, the general way."""
        head = self.head
        if len(head) < FINGERPRINT_BYTES or os.pread(self.fd, FINGERPRINT_BYTES, 0) != head:
            return None
        chunk = os.pread(self.fd, LIVE_BYTES, self.read_offset)
        if len(chunk) == LIVE_BYTES:
            return None  # more may follow: a catch-up's read
        block = self.splitter.whole(chunk)
        if block is not None:
            self.read_offset = self.done_offset = self.read_offset + len(chunk)
        return block

    def drain(self) -> Lines:
        """The rest of a file we are leaving, its unterminated last line included; closes it."""
        try:
            parts: list[Line | Block] = []
            while (chunk := self.read_chunk()) is not None:
                parts += chunk.parts
            parts += self.splitter.finish().parts  # nothing will ever end that line now
            return Lines(parts)
        finally:
            os.close(self.fd)

    def is_rewritten(self) -> bool:
        """Whether the file's first bytes changed (it was truncated and written again).

        One ``pread`` once the head is a whole ``FINGERPRINT_BYTES``: a regular file
        gives a short read only at its end.
        """
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        if len(head) == len(self.head):
            return head != self.head
        if len(head) < len(self.head):
            head = read_head(self.fd, len(self.head))  # the end, or an interrupted read
        if head[: len(self.head)] != self.head:
            return True
        self.head = head  # a file shorter than 1 KiB when first seen has grown
        return False

    def is_truncated(self) -> bool:
        """Whether the file is now shorter than what was read of it."""
        return os.fstat(self.fd).st_size < self.read_offset

    def rewind(self) -> None:
        self.read_offset = self.done_offset = 0
        self.splitter = LineSplitter(self.splitter.max_line_bytes)
        self.head = read_head(self.fd)

    def position(self, path: Path) -> FilePosition:
        return FilePosition(
            path=str(path),
            dev=self.dev,
            inode=self.inode,
            fingerprint=self._fingerprint_of_head(),
            fingerprint_len=len(self.head),
            offset=self.done_offset,
            line=self.splitter.next_line - 1,
        )

    def _fingerprint_of_head(self) -> str:
        # Saved after every batch, and the head stops changing once 1 KiB long.
        if self._fingerprint[0] != self.head:
            self._fingerprint = (self.head, fingerprint_of(self.head))
        return self._fingerprint[1]


def count_to_last_line(fd: int, size: int, stopping: Callable[[], bool]) -> tuple[int, int]:
    """Offset just past the last newline within ``size`` bytes, and how many lines precede it.

    Counted once, so that line numbers stay true to the file (a file never seen
    before may be large: ``stopping`` is asked between chunks, and the count given
    so far is returned once it says so: the caller must not start there).
    """
    offset = boundary = lines = 0
    while offset < size and not stopping():
        chunk = os.pread(fd, min(_COUNT_CHUNK_BYTES, size - offset), offset)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        last = chunk.rfind(b"\n")
        if last >= 0:
            boundary = offset + last + 1
        offset += len(chunk)
    return boundary, lines

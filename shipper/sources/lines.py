"""Bytes in chunks -> numbered lines, with a bound on line length.

Pure. ``LineSplitter`` is fed chunks as they are read and hands back complete
lines (newline removed, a trailing ``\\r`` too) numbered from 1. A line longer
than ``max_line_bytes`` is never held in memory whole: its bytes are dropped as
they arrive and it comes out as ``None`` under its number, so the caller can
count and log it.
"""

from __future__ import annotations

Line = tuple[int, bytes | None]


class LineSplitter:
    """Splits a byte stream into numbered lines; ``None`` marks a line that was too long."""

    def __init__(self, max_line_bytes: int, first_line: int = 1) -> None:
        self.max_line_bytes = max_line_bytes
        self.next_line = first_line
        self._partial = bytearray()
        self._overflow = False

    @property
    def pending(self) -> int:
        """Bytes held of a line whose newline has not arrived yet."""
        return len(self._partial)

    def feed(self, chunk: bytes) -> list[Line]:
        """The lines that ``chunk`` completes, in order."""
        out: list[Line] = []
        start = 0
        end = len(chunk)
        while start < end:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._hold(chunk[start:])
                break
            piece = chunk[start:nl]
            if self._partial or self._overflow:
                self._hold(piece)
                out.append(self._take())
            else:
                piece = _strip_cr(piece)
                out.append(self._number(None if len(piece) > self.max_line_bytes else piece))
            start = nl + 1
        return out

    def finish(self) -> list[Line]:
        """At end of input: the last line if it had no newline."""
        if self._partial or self._overflow:
            return [self._take()]
        return []

    def _hold(self, piece: bytes) -> None:
        if self._overflow:
            return
        if len(self._partial) + len(piece) > self.max_line_bytes + 1:
            # +1 leaves room for a trailing \r on a line of exactly the maximum length.
            self._overflow = True
            self._partial.clear()
        else:
            self._partial += piece

    def _take(self) -> Line:
        data = None if self._overflow else _strip_cr(bytes(self._partial))
        if data is not None and len(data) > self.max_line_bytes:
            data = None
        self._partial.clear()
        self._overflow = False
        return self._number(data)

    def _number(self, data: bytes | None) -> Line:
        line = (self.next_line, data)
        self.next_line += 1
        return line


def _strip_cr(data: bytes) -> bytes:
    return data[:-1] if data.endswith(b"\r") else data

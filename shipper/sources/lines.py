"""Bytes in chunks -> numbered lines, with a bound on line length.

Pure. ``LineSplitter`` is fed chunks as they are read and hands back complete
lines (newline removed, a trailing ``\\r`` too) numbered from 1. A line longer
than ``max_line_bytes`` is never held in memory whole: its first bytes (at most
``HEAD_BYTES``) are kept, the rest are counted and dropped as they arrive, and
it comes out as a ``TooLong`` under its number, so the caller can count and log
it, and still read an action in its head: padding one field past the limit
must not hide an alert.

The lines of one chunk come back as ``Lines``: a sequence of ``(number,
bytes)`` pairs that keeps runs of ordinary lines as the ``Block`` of bytes they
arrived in, and makes the pairs only when asked. The intake can then skim a
whole block for lines no channel can take (``skim``) without a Python step per
line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

# What is kept of a line too long: enough for any real event's action and severity,
# never more than the limit itself, whatever the limit.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class TooLong:
    """A line longer than the maximum: its first bytes and its full length in bytes
    (newline and trailing ``\\r`` not counted)."""

    head: bytes
    length: int


Line = tuple[int, bytes | TooLong]


# Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, twice
# the cost of building one, and a block is built at every read of a live log.
@dataclass(slots=True)
class Block:
    """``count`` whole lines numbered from ``first``: ``data`` is their bytes, each ending
    in a newline, none longer than the splitter's maximum (a ``\\r`` may precede a newline)."""

    first: int
    data: bytes
    count: int

    def lines(self) -> list[Line]:
        """The numbered lines, newline and trailing ``\\r`` removed."""
        pieces = self.data.split(b"\n")
        pieces.pop()  # after the last newline
        if self.data.find(b"\r") >= 0:
            pieces = [_strip_cr(piece) for piece in pieces]
        return list(zip(range(self.first, self.first + self.count), pieces, strict=True))


class Lines(Sequence[Line]):
    """The lines of one chunk, in order: single lines and ``Block``s of them."""

    __slots__ = ("_list", "parts")

    def __init__(self, parts: Sequence[Line | Block] = ()) -> None:
        self.parts = tuple(parts)
        self._list: list[Line] | None = None

    def as_list(self) -> list[Line]:
        if self._list is None:
            out: list[Line] = []
            for part in self.parts:
                if isinstance(part, Block):
                    out += part.lines()
                else:
                    out.append(part)
            self._list = out
        return self._list

    def __len__(self) -> int:
        return sum(p.count if isinstance(p, Block) else 1 for p in self.parts)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def __iter__(self) -> Iterator[Line]:
        return iter(self.as_list())

    @overload
    def __getitem__(self, index: int) -> Line: ...
    @overload
    def __getitem__(self, index: slice) -> list[Line]: ...
    def __getitem__(self, index: int | slice) -> Line | list[Line]:
        return self.as_list()[index]

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Sequence):
            return self.as_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Lines({self.as_list()!r})"


class LineSplitter:
    """Splits a byte stream into numbered lines; ``TooLong`` marks a line that was too long."""

    def __init__(self, max_line_bytes: int, first_line: int = 1) -> None:
        self.max_line_bytes = max_line_bytes
        self.head_bytes = min(max_line_bytes, HEAD_BYTES)
        self.next_line = first_line
        self._partial = bytearray()  # the line so far; once it overflowed, its head only
        self._overflow = False
        self._length = 0  # bytes of an overflowed line so far
        self._ends_cr = False  # its last byte so far is a \r

    @property
    def pending(self) -> int:
        """Bytes held of a line whose newline has not arrived yet."""
        return len(self._partial)

    def feed(self, chunk: bytes) -> Lines:
        """The lines that ``chunk`` completes, in order."""
        block = self.whole(chunk)
        if block is not None:
            return Lines((block,))
        parts: list[Line | Block] = []
        start = 0
        if self._partial or self._overflow:
            nl = chunk.find(b"\n")
            if nl < 0:
                self._hold(chunk)
                return Lines(parts)
            self._hold(chunk[:nl])
            parts.append(self._take())
            start = nl + 1
        last = chunk.rfind(b"\n", start)
        if last < 0:
            self._hold(chunk[start:])
            return Lines(parts)
        self._split(chunk, start, last + 1, parts)
        if last + 1 < len(chunk):
            self._hold(chunk[last + 1 :])
        return Lines(parts)

    def whole(self, chunk: bytes) -> Block | None:
        """``chunk`` as one ``Block``, its lines numbered, when it is whole lines, none
        begun in an earlier chunk and none above the limit (a live log's write); else
        ``None``, with nothing taken (``feed`` takes it)."""
        if (
            chunk.endswith(b"\n")
            and len(chunk) <= self.max_line_bytes
            and not (self._partial or self._overflow)
        ):
            count = chunk.count(b"\n")
            first = self.next_line
            self.next_line = first + count
            return Block(first, chunk, count)
        return None

    def _split(self, chunk: bytes, start: int, end: int, parts: list[Line | Block]) -> None:
        """Whole lines ``chunk[start:end]`` into blocks, and a too-long line on its own."""
        limit = self.max_line_bytes
        while start < end:
            # A block no longer than the limit (newlines aside) holds no line above it.
            cut = end if end - start <= limit + 1 else chunk.rfind(b"\n", start, start + limit + 1)
            if cut < 0:
                nl = chunk.find(b"\n", start, end)
                piece = _strip_cr(chunk[start:nl])
                parts.append(self._number(self._too_long(piece) if len(piece) > limit else piece))
                start = nl + 1
                continue
            stop = cut if cut == end else cut + 1
            data = chunk[start:stop]
            count = data.count(b"\n")
            parts.append(Block(self.next_line, data, count))
            self.next_line += count
            start = stop

    def finish(self) -> Lines:
        """At end of input: the last line if it had no newline."""
        if self._partial or self._overflow:
            return Lines([self._take()])
        return Lines()

    def _hold(self, piece: bytes) -> None:
        if not piece:
            return
        if not self._overflow:
            if len(self._partial) + len(piece) <= self.max_line_bytes + 1:
                # +1 leaves room for a trailing \r on a line of exactly the maximum length.
                self._partial += piece
                return
            self._overflow = True
            self._length = len(self._partial)
            del self._partial[self.head_bytes :]
        # Only the head is kept: copy at most what it lacks, count the rest.
        room = self.head_bytes - len(self._partial)
        if room > 0:
            self._partial += piece[:room]
        self._length += len(piece)
        self._ends_cr = piece.endswith(b"\r")

    def _take(self) -> Line:
        data: bytes | TooLong
        if self._overflow:
            data = TooLong(bytes(self._partial), self._length - self._ends_cr)
        else:
            data = _strip_cr(bytes(self._partial))
            if len(data) > self.max_line_bytes:
                data = self._too_long(data)
        self._partial.clear()
        self._overflow = self._ends_cr = False
        self._length = 0
        return self._number(data)

    def _too_long(self, data: bytes) -> TooLong:
        return TooLong(data[: self.head_bytes], len(data))

    def _number(self, data: bytes | TooLong) -> Line:
        line = (self.next_line, data)
        self.next_line += 1
        return line


def _strip_cr(data: bytes) -> bytes:
    return data[:-1] if data.endswith(b"\r") else data

"""Splitting a byte stream into numbered lines with a length bound."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shipper.sources.lines import Block, LineSplitter, TooLong


def split_all(chunks: list[bytes], max_bytes: int = 10) -> list[tuple[int, bytes | TooLong]]:
    splitter = LineSplitter(max_bytes)
    out = [line for chunk in chunks for line in splitter.feed(chunk)]
    return [*out, *splitter.finish()]


def test_lines_across_chunks_and_crlf() -> None:
    assert split_all([b"ab", b"c\nde\r", b"\n", b"f"]) == [(1, b"abc"), (2, b"de"), (3, b"f")]


def test_too_long_lines_keep_only_their_head() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"12345678") == []
    assert splitter.pending == 4
    assert splitter.feed(b"9\nok\n123456\n") == [
        (1, TooLong(b"1234", 9)),
        (2, b"ok"),
        (3, TooLong(b"1234", 6)),
    ]
    assert splitter.feed(b"1234\r\n") == [(4, b"1234")]


def test_partial_last_line_waits_for_its_newline() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\n{"b"') == [(1, b'{"a":1}')]
    assert splitter.pending == 4
    assert splitter.feed(b":2}\n") == [(2, b'{"b":2}')]


def test_a_write_of_whole_lines_is_one_block() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\n{"b":2}\n').parts == (Block(1, b'{"a":1}\n{"b":2}\n', 2),)
    assert splitter.feed(b'{"c"') == []
    # The end of a line begun before, then whole lines: numbered on from it.
    assert splitter.feed(b':3}\n{"d":4}\n') == [(3, b'{"c":3}'), (4, b'{"d":4}')]
    assert splitter.feed(b"x" * 101 + b"\n") == [(5, TooLong(b"x" * 100, 101))]


@given(st.lists(st.binary(max_size=30), max_size=20), st.integers(min_value=1, max_value=40))
def test_same_lines_whatever_the_chunking(chunks: list[bytes], cut: int) -> None:
    data = b"".join(chunks)
    whole = split_all([data], 1000)
    pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
    assert split_all(pieces, 1000) == whole
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [d for _, d in whole] == [e.removesuffix(b"\r") for e in expected]


def reference(data: bytes, max_bytes: int) -> list[tuple[int, bytes | TooLong]]:
    """The rule, stated plainly: split on newlines, drop one trailing CR, bound the length."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    out: list[tuple[int, bytes | TooLong]] = []
    for number, piece in enumerate(pieces, 1):
        piece = piece.removesuffix(b"\r")
        too_long = len(piece) > max_bytes
        out.append((number, TooLong(piece[:max_bytes], len(piece)) if too_long else piece))
    return out


@given(
    st.lists(st.sampled_from([b"a", b"bb", b"\n", b"\r", b"\r\n", b"0123456789"]), max_size=60),
    st.integers(min_value=1, max_value=25),
    st.integers(min_value=1, max_value=12),
)
def test_blocks_and_too_long_lines_match_the_plain_rule(
    tokens: list[bytes], cut: int, max_bytes: int
) -> None:
    data = b"".join(tokens)
    pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
    assert split_all(pieces, max_bytes) == reference(data, max_bytes)
    splitter = LineSplitter(max_bytes)
    for piece in pieces:
        for part in splitter.feed(piece).parts:
            if isinstance(part, Block):
                assert all(len(line) <= max_bytes + 1 for line in part.data.split(b"\n"))

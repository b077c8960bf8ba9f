"""Splitting a byte stream into numbered lines with a length bound."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shipper.sources.lines import LineSplitter


def split_all(chunks: list[bytes], max_bytes: int = 10) -> list[tuple[int, bytes | None]]:
    splitter = LineSplitter(max_bytes)
    out = [line for chunk in chunks for line in splitter.feed(chunk)]
    return out + splitter.finish()


def test_lines_across_chunks_and_crlf() -> None:
    assert split_all([b"ab", b"c\nde\r", b"\n", b"f"]) == [(1, b"abc"), (2, b"de"), (3, b"f")]


def test_too_long_lines_are_numbered_none_and_never_held() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"12345678") == []
    assert splitter.pending == 0
    assert splitter.feed(b"9\nok\n123456\n") == [(1, None), (2, b"ok"), (3, None)]
    assert splitter.feed(b"1234\r\n") == [(4, b"1234")]


def test_partial_last_line_waits_for_its_newline() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\n{"b"') == [(1, b'{"a":1}')]
    assert splitter.pending == 4
    assert splitter.feed(b":2}\n") == [(2, b'{"b":2}')]


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

"""Lines longer than ``source.max_line_bytes``: a bounded head is kept, and its action still
routes.

Regression tests for issue 10, finding 3, below the CLI: padding one field past
the limit must not hide the event, and what is kept of the line stays bounded
whatever the chunking.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.config.model import Fields
from shipper.config.severity import Severity
from shipper.routing.event import Event, Rejected, parse_too_long
from shipper.routing.intake import Intake
from shipper.sources.lines import HEAD_BYTES, Block, Line, LineSplitter, TooLong
from tests.support.config import load_config

EXAMPLE = load_config(Path(__file__).resolve().parents[3] / "config.example.toml", {}, posts=False)
ATTACK = b'{"action":"login.password_failed","severity":"high","user_agent":"'


def split_all(chunks: list[bytes], max_bytes: int) -> list[Line]:
    splitter = LineSplitter(max_bytes)
    out = [line for chunk in chunks for line in splitter.feed(chunk)]
    return [*out, *splitter.finish()]


def test_the_head_is_the_limit_or_64_kib_whichever_is_smaller() -> None:
    line = b"x" * 300_000
    assert split_all([line + b"\n"], 10) == [(1, TooLong(b"x" * 10, 300_000))]
    assert split_all([line + b"\n"], 200_000) == [(1, TooLong(b"x" * HEAD_BYTES, 300_000))]


def test_memory_stays_bounded_while_an_endless_line_streams_in() -> None:
    splitter = LineSplitter(100_000)
    most = 0
    for _ in range(200):  # 12.8 MB in 64 KiB reads, no newline
        assert not splitter.feed(b"y" * 65536)
        most = max(most, splitter.pending)
    assert most <= 100_001
    assert splitter.pending == HEAD_BYTES
    ((number, data),) = splitter.feed(b"\r\nnext\n")[:1]
    assert (number, data) == (1, TooLong(b"y" * HEAD_BYTES, 200 * 65536))
    assert splitter.pending == 0


@given(
    st.lists(st.sampled_from([b"a", b"bcd", b"\n", b"\r", b"\r\n", b"0123456789"]), max_size=80),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=15),
)
def test_head_and_length_are_the_same_whatever_the_chunking(
    tokens: list[bytes], cut: int, max_bytes: int
) -> None:
    data = b"".join(tokens)
    whole = split_all([data], max_bytes)
    assert split_all([data[i : i + cut] for i in range(0, len(data), cut)], max_bytes) == whole
    pieces = data.split(b"\n")
    for number, got in whole:
        piece = pieces[number - 1].removesuffix(b"\r")
        if len(piece) > max_bytes:
            assert got == TooLong(piece[:max_bytes], len(piece))


def test_a_too_long_line_is_never_inside_a_block() -> None:
    splitter = LineSplitter(20)
    lines = splitter.feed(b"short\n" + b"z" * 50 + b"\nshort too\n")
    assert [type(part) for part in lines.parts] == [Block, tuple, Block]
    assert lines.parts[1] == (2, TooLong(b"z" * 20, 50))


def test_a_readable_action_in_the_head_makes_a_malformed_event() -> None:
    head = ATTACK + b"A" * 1000
    parsed = parse_too_long(head, 100_000, 7, Fields(), Severity.INFO, 4096)
    assert isinstance(parsed, Event)
    assert (parsed.line, parsed.action, parsed.severity) == (
        7,
        "login.password_failed",
        Severity.HIGH,
    )
    assert parsed.malformed is Rejected.TOO_LONG
    shown = parsed.raw["malformed"]
    assert shown["reason"] == (
        "longer than source.max_line_bytes (4096 bytes): 100000 bytes, "
        f"only its first {len(head)} bytes were read"
    )
    assert shown["line_start"].startswith(ATTACK.decode()) and shown["line_start"][-1] == "…"
    assert len(shown["line_start"]) <= 1001


@pytest.mark.parametrize(
    "head",
    [
        b'{"pad":"' + b"B" * 5000,  # the action is past the head
        ATTACK[:20],  # cut inside the action
        b'{"action":"login.password_failed',  # the value's closing quote is past the head
        b'{"note":"\\"action\\":\\"login.password_failed\\""',  # only inside a string
    ],
)
def test_no_readable_action_leaves_a_plain_too_long(head: bytes) -> None:
    assert parse_too_long(head, 10**6, 1, Fields(), Severity.INFO, 4096) is Rejected.TOO_LONG


def test_the_intake_routes_it_counts_it_and_logs_its_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = dataclasses.replace(
        EXAMPLE, source=dataclasses.replace(EXAMPLE.source, max_line_bytes=4096)
    )
    data = (
        b'{"action":"login.password_failed","severity":"high"}\n'
        + ATTACK
        + b"A" * 100_000
        + b'"}\n'
        + b'{"pad":"'
        + b"B" * 100_000
        + b'","action":"login.password_failed"}\n'
    )
    splitter = LineSplitter(4096)
    intake = Intake(config)
    with caplog.at_level(logging.WARNING):
        routed = [
            r
            for i in range(0, len(data), 8192)
            for r in intake.process(splitter.feed(data[i : i + 8192]))
        ]
    assert [(r.event.line, r.event.malformed) for r in routed] == [
        (1, None),
        (2, Rejected.TOO_LONG),
    ]
    assert routed[1].channels == routed[0].channels != ()
    assert ("security", "malformed.reason") in [
        (name, fact) for name in routed[1].channels for fact, _ in routed[1].alert.facts
    ]
    assert intake.stats.lines_read == 3
    assert intake.stats.rejected == {"too_long": 2}
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("line 2 is longer than source.max_line_bytes") for m in messages)
    assert "line 3 skipped: longer than source.max_line_bytes" in messages

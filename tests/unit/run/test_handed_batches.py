"""Which routed batches a tail's thread hands to the store, and which position it keeps back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from shipper.routing.event import Alert
from shipper.run.storing import POSITION_EVERY, HandedBatches, Pending
from shipper.sources.lines import Block, Line
from shipper.sources.position import FilePosition
from tests.support.alerts import make_alert


def position(offset: int) -> FilePosition:
    return FilePosition("/var/log/audit.jsonl", 1, 2, "f" * 64, 1024, offset, offset // 10)


def kept_back(handed: HandedBatches) -> FilePosition | None:
    return handed.unsent  # read anew: each step may change it


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def route(lines: Sequence[Line], _: FilePosition | None) -> Pending:
    # Lines whose text starts with "alert" go to channel "c".
    taken: list[Alert] = [
        make_alert(n) for n, data in lines if isinstance(data, bytes) and data.startswith(b"alert")
    ]
    return {"c": taken} if taken else {}


def test_a_batch_with_alerts_goes_at_once_and_covers_the_positions_before_it() -> None:
    clock = Clock()
    handed = HandedBatches(clock)
    step = handed.step(route)
    assert step([(1, b"noise")], position(10)) is not None  # the first position goes
    clock.now += POSITION_EVERY / 10
    assert step([(2, b"noise")], position(20)) is None
    assert handed.unsent == position(20)
    got = step([(3, b"alert!")], position(30))
    assert got is not None and got[1] == position(30) and len(got[0]["c"]) == 1
    assert kept_back(handed) is None and handed.made == 2


def test_a_position_no_channel_took_goes_at_most_every_position_every() -> None:
    clock = Clock()
    handed = HandedBatches(clock)
    step = handed.step(route)
    sent: list[float] = []
    for n in range(1, 101):  # 100 batches of noise, one every 3 ms
        clock.now += 0.003
        if step([(n, b"noise")], position(n * 10)) is not None:
            sent.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(sent) == 6  # 0.3 s: the first batch, then one every 51 ms
    assert all(POSITION_EVERY <= gap < POSITION_EVERY + 0.003 for gap in gaps)
    assert handed.unsent == position(1000)


def test_an_idle_poll_hands_over_what_was_kept_back_once_its_time_is_up() -> None:
    clock = Clock()
    handed = HandedBatches(clock)
    step = handed.step(route)
    assert step([(1, b"noise")], position(10)) is not None
    assert step([(2, b"noise")], position(20)) is None
    assert step((), None) is None  # too soon
    clock.now += POSITION_EVERY + 0.001
    assert step((), None) == ({}, position(20))
    assert step((), None) is None  # nothing left to save
    assert kept_back(handed) is None


def test_stdin_batches_without_alerts_are_dropped_at_once() -> None:
    handed = HandedBatches(Clock())
    step = handed.step(route)
    assert step([(1, b"noise")], None) is None
    assert handed.unsent is None and handed.made == 0
    assert step([(2, b"alert")], None) is not None


def test_a_block_is_passed_over_only_while_the_last_position_is_fresh() -> None:
    clock = Clock()
    handed = HandedBatches(clock)
    step = handed.step(route)
    asked: list[Block] = []

    def skims(block: Block) -> bool:
        asked.append(block)
        return b"alert" not in block.data

    skip = handed.skip(skims)
    noise, alert = Block(1, b"noise\n", 1), Block(1, b"alert\n", 1)
    assert not skip(noise)  # no position went yet: this batch's must
    assert asked == []
    assert step([(1, b"noise")], position(10)) is not None
    clock.now += POSITION_EVERY / 2
    assert skip(noise)
    assert not skip(alert)  # the skimmer found one
    clock.now += POSITION_EVERY
    assert not skip(noise)  # time for a position: the batch goes through ``step``
    assert asked == [noise, alert]

"""A spool whose records were all delivered: no fsync owed, and what a power loss leaves.

A live channel posts each alert within milliseconds, before the store's sync is
due; ``commit`` then writes and spares the fsync. A power loss can take that
unsynced tail, but only delivered records were in it: the next ``open`` finds the
cursor past the end of the last segment and goes on from there, sending nothing
twice. The loss is simulated the way it looks on disk: the segment cut back to a
record boundary (or through a record: a torn write) while the cursor file kept its
later save.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shipper.routing.event import Alert
from shipper.spool import segments as segments_module
from shipper.spool.cursor import encode_slot, read_cursor
from shipper.spool.records import Position, encode_record
from shipper.spool.spool import Spool
from tests.support.alerts import make_alert
from tests.support.spools import open_spool


def alert(n: int) -> Alert:
    return make_alert(n, "user.login", actor="ann@example.com", facts=(("n", str(n)),))


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The descriptors of each fsync a commit made (the real fsyncs still run)."""
    made: list[list[int]] = []
    real = segments_module._sync

    def spy(fds: list[int], directory: Path | None) -> None:
        made.append(list(fds))
        real(fds, directory)

    monkeypatch.setattr(segments_module, "_sync", spy)
    return made


async def deliver(spool: Spool, count: int) -> None:
    assert len(await spool.peek(count)) == count
    await spool.ack(count)


async def test_a_commit_after_every_record_was_delivered_writes_without_a_fsync(
    tmp_path: Path, syncs: list[list[int]]
) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.append([alert(1), alert(2)])
    await spool.commit()
    assert len(syncs) == 1
    await spool.append([alert(3)])
    await deliver(spool, 3)  # posted before the store's sync was due
    await spool.commit()
    assert len(syncs) == 1, "every record in the file was delivered: no fsync owed"
    segment = tmp_path / "s" / "00000000000000000001.seg"
    assert segment.read_bytes().endswith(encode_record(alert(3))), "written all the same"
    await spool.append([alert(4)])
    await spool.commit()
    assert len(syncs) == 2, "a record not yet delivered is made durable"


async def test_a_record_still_waiting_is_synced_with_the_delivered_ones(
    tmp_path: Path, syncs: list[list[int]]
) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.append([alert(1), alert(2)])
    await deliver(spool, 1)
    await spool.commit()
    assert len(syncs) == 1


async def test_a_new_segment_is_synced_even_when_all_it_holds_was_delivered(
    tmp_path: Path, syncs: list[list[int]]
) -> None:
    # Its directory entry must survive a power loss, or the cursor would name a
    # segment that is missing, and everything would be sent again.
    spool = await open_spool(tmp_path / "s", segment_bytes=1)  # a record per segment
    await spool.append([alert(1)])
    await spool.commit()
    await spool.append([alert(2)])
    await deliver(spool, 2)
    await spool.commit()
    assert len(syncs) == 2


@pytest.mark.parametrize("torn", [False, True], ids=["at-a-record", "through-a-record"])
async def test_a_power_loss_that_took_delivered_records_sends_nothing_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, torn: bool
) -> None:
    directory = tmp_path / "s"
    spool = await open_spool(directory)
    await spool.append([alert(1), alert(2)])
    await spool.commit()
    await spool.append([alert(3), alert(4)])
    await deliver(spool, 4)
    await spool.aclose()
    segment = directory / "00000000000000000001.seg"
    kept = len(encode_record(alert(1))) + len(encode_record(alert(2)))
    # What the disk may hold after the power loss: the unsynced tail gone, or half of it.
    cut = kept + (len(encode_record(alert(3))) // 2 if torn else 0)
    segment.write_bytes(segment.read_bytes()[:cut])
    assert read_cursor(directory).offset > cut

    with caplog.at_level(logging.INFO, logger="shipper.spool"):
        again = await open_spool(directory)
    assert len(again) == 0, "records 1 to 4 were delivered: none is sent again"
    assert await again.peek(10) == []
    assert "the delivered events written last were lost with the power" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert ("cut short by a crash" in caplog.text) is torn
    assert segment.stat().st_size == kept, "a torn record is cut, not left before new ones"

    await again.append([alert(5)])
    await again.commit()
    assert [a.line for a in await again.peek(10)] == [5]
    await again.aclose()
    third = await open_spool(directory)
    assert [a.line for a in await third.peek(10)] == [5], "the repaired cursor is trusted"


async def test_a_cursor_past_the_end_of_an_older_segment_sends_everything_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the last segment is written to without a fsync: an older one that ends
    # before the cursor was damaged, and the cursor cannot be trusted.
    directory = tmp_path / "s"
    spool = await open_spool(directory, segment_bytes=1)  # a record per segment
    await spool.append([alert(n) for n in range(1, 5)])
    await spool.commit()
    await spool.aclose()
    (directory / "cursor").write_bytes(encode_slot(2, Position(1, 10**9)))
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory, segment_bytes=1)
    assert "points past the end of 00000000000000000001.seg" in caplog.text
    assert [a.line for a in await again.peek(10)] == [1, 2, 3, 4], "duplicates, not loss"

"""The durable spool on real files under tmp_path: order, recovery, damage, backpressure, memory."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.severity import Severity
from shipper.delivery.deadletter import DeadLetters
from shipper.delivery.worker import ChannelWorker
from shipper.errors import BacklogFullError, SpoolError
from shipper.routing.event import Alert
from shipper.sinks.answers import Delivered, Outcome
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.webhook import WEBHOOK
from shipper.spool import spool as spool_module
from shipper.spool.backlog import Backlog
from shipper.spool.cursor import encode_slot
from shipper.spool.records import (
    BadRecord,
    Position,
    decode_record,
    encode_record,
    segment_name,
)
from shipper.spool.spool import Spool
from tests.integration.workers import Rerendered
from tests.support.alerts import make_alert
from tests.support.clock import FakeClock
from tests.support.spools import open_spool

CURSOR = "cursor"


def alert(n: int, **extra: Any) -> Alert:
    return make_alert(
        n,
        "user.login",
        actor="ann@example.com",
        status="ok",
        timestamp="2024-05-01T12:00:00Z",
        facts=(("ip", "10.0.0.1"), ("n", str(n))),
        **extra,
    )


def lines_of(alerts: list[Alert]) -> list[int]:
    return [a.line for a in alerts]


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


@pytest.fixture
async def spool(tmp_path: Path) -> Spool:
    return await open_spool(tmp_path / "spool" / "security")


async def filled(directory: Path, count: int, **kwargs: Any) -> Spool:
    spool = await open_spool(directory, **kwargs)
    await spool.append([alert(n) for n in range(1, count + 1)])
    await spool.commit()
    return spool


# --- the Backlog contract -------------------------------------------------------------


async def test_is_a_backlog(spool: Spool) -> None:
    backlog: Backlog = spool  # checked by mypy
    assert len(backlog) == 0
    assert not backlog.closed


async def test_append_commit_peek_ack_keep_order(spool: Spool) -> None:
    await spool.append([alert(1), alert(2)])
    await spool.append([alert(3)])
    await spool.commit()
    assert len(spool) == 3
    assert await spool.peek(10) == [alert(1), alert(2), alert(3)]
    await spool.ack(2)
    assert len(spool) == 1
    assert lines_of(await spool.peek(10)) == [3]
    await spool.append([alert(4)])
    assert lines_of(await spool.peek(10)) == [3, 4]
    await spool.ack(2)
    assert len(spool) == 0
    assert await spool.peek(10) == []
    assert spool.bytes_pending == 0


async def test_uncommitted_records_can_be_peeked(spool: Spool) -> None:
    await spool.append([alert(1)])
    assert lines_of(await spool.peek(5)) == [1]


async def test_peek_returns_at_most_limit(spool: Spool) -> None:
    await spool.append([alert(n) for n in range(1, 11)])
    assert lines_of(await spool.peek(3)) == [1, 2, 3]
    assert lines_of(await spool.peek(5)) == [1, 2, 3, 4, 5]
    assert lines_of(await spool.peek(1)) == [1]
    await spool.ack(4)
    assert lines_of(await spool.peek(3)) == [5, 6, 7]


async def test_ack_more_than_peeked_skips_on_disk(spool: Spool) -> None:
    await spool.append([alert(n) for n in range(1, 11)])
    await spool.peek(2)
    await spool.ack(7)
    assert lines_of(await spool.peek(10)) == [8, 9, 10]
    await spool.ack(50)  # more than waits: just empties it
    assert len(spool) == 0


async def test_wait_returns_on_append_and_on_close(spool: Spool) -> None:
    waiter = asyncio.create_task(spool.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    await spool.append([alert(1)])
    await asyncio.wait_for(waiter, 1)
    await spool.ack(1)
    waiter = asyncio.create_task(spool.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    spool.close()
    await asyncio.wait_for(waiter, 1)
    assert spool.closed


async def test_files_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "spool" / "security"
    spool = await filled(directory, 1)
    await spool.ack(1)
    await spool.aclose()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in [*segments(directory), directory / CURSOR]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_channel_worker_drains_a_spool_in_order(tmp_path: Path) -> None:
    posted: list[list[int]] = []

    class Sender:
        async def post(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
            posted.append(request.payload["lines"])
            return Delivered(200, "ok")

    def render_lines(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return Rendered({"lines": [a.line for a in alerts]}, count=len(alerts))

    spool = await filled(tmp_path / "s", 45, segment_bytes=2000)
    channel = ChannelConfig(
        name="security", kind="webhook", url="https://example.invalid/x",
        delivery=DeliveryConfig(batch_max=20),
    )  # fmt: skip
    worker = ChannelWorker(
        channel,
        spool,
        Sender(),
        DeadLetters(tmp_path / "state"),
        sink=Rerendered(WEBHOOK, render_lines),
        clock=FakeClock(),
    )
    spool.close()
    await asyncio.wait_for(worker.run(), 5)
    assert posted == [list(range(1, 21)), list(range(21, 41)), list(range(41, 46))]
    assert len(spool) == 0
    await spool.aclose()
    again = await open_spool(tmp_path / "s", segment_bytes=2000)
    assert len(again) == 0  # the cursor was saved: nothing is sent twice


# --- segments ---------------------------------------------------------------------------


async def test_segments_roll_and_finished_ones_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    spool = await filled(directory, 5, segment_bytes=1)  # one record per segment
    assert len(segments(directory)) == 5
    assert lines_of(await spool.peek(3)) == [1, 2, 3]
    await spool.ack(3)
    assert [p.name for p in segments(directory)] == [segment_name(4), segment_name(5)]
    assert lines_of(await spool.peek(5)) == [4, 5]
    await spool.ack(2)
    assert [p.name for p in segments(directory)] == [segment_name(5)]
    await spool.append([alert(6)])
    assert lines_of(await spool.peek(5)) == [6]
    await spool.aclose()


async def test_reading_follows_appends_across_segments(tmp_path: Path) -> None:
    spool = await open_spool(tmp_path / "s", segment_bytes=600)
    seen: list[int] = []
    for n in range(1, 61):
        await spool.append([alert(n)])
        if n % 7 == 0:
            got = await spool.peek(4)
            seen += lines_of(got)
            await spool.ack(len(got))
    while got := await spool.peek(4):
        seen += lines_of(got)
        await spool.ack(len(got))
    assert seen == list(range(1, 61))
    assert len(segments(tmp_path / "s")) == 1
    await spool.aclose()


# --- restart and recovery -----------------------------------------------------------------


async def test_reopen_resumes_at_the_cursor(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    spool = await filled(directory, 10, segment_bytes=1000)
    await spool.peek(4)
    await spool.ack(4)
    await spool.aclose()
    again = await open_spool(directory, segment_bytes=1000)
    assert len(again) == 6
    assert lines_of(await again.peek(10)) == [5, 6, 7, 8, 9, 10]
    await again.append([alert(11)])
    assert lines_of(await again.peek(10))[-1] == 11
    await again.aclose()


async def test_aclose_commits_what_was_appended(tmp_path: Path) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.append([alert(1), alert(2)])
    await spool.aclose()
    again = await open_spool(tmp_path / "s")
    assert lines_of(await again.peek(5)) == [1, 2]
    await again.aclose()


async def test_a_kill_loses_only_what_was_not_committed(tmp_path: Path) -> None:
    spool = await filled(tmp_path / "s", 3)
    await spool.append([alert(4)])  # buffered, never committed, then the process "dies"
    again = await open_spool(tmp_path / "s")
    assert lines_of(await again.peek(10)) == [1, 2, 3]
    spool._close_files()  # the dead process's descriptors
    await again.aclose()


async def test_torn_last_record_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 5)).aclose()
    (segment,) = segments(directory)
    whole = segment.read_bytes()
    fifth = whole.rindex(b"\n", 0, len(whole) - 1) + 1
    segment.write_bytes(whole[: fifth + 17])  # a crash in the middle of the fifth record
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert len(again) == 4
    assert lines_of(await again.peek(10)) == [1, 2, 3, 4]
    assert segment.stat().st_size == fifth
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    message = warning.getMessage()
    assert segment.name in message
    assert f"offset {fifth}" in message
    assert "17 bytes" in message
    assert "user.login" not in message  # never event contents
    # A record appended after the repair is whole, not fused with the torn bytes.
    await again.append([alert(6)])
    await again.aclose()
    third = await open_spool(directory)
    assert lines_of(await third.peek(10)) == [1, 2, 3, 4, 6]
    await third.aclose()


async def test_zeros_after_a_crash_are_dropped_and_records_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 3)).aclose()
    (segment,) = segments(directory)
    with segment.open("ab") as f:
        f.write(b"\0" * 4096)  # the file grew but its data never reached the disk
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert lines_of(await again.peek(10)) == [1, 2, 3]
    assert "4096 bytes" in caplog.text
    await again.aclose()


async def test_a_whole_valid_last_record_is_never_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 3)).aclose()
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert lines_of(await again.peek(10)) == [1, 2, 3]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await again.aclose()


async def test_a_damaged_middle_record_is_skipped_with_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 3)).aclose()
    (segment,) = segments(directory)
    data = bytearray(segment.read_bytes())
    second = data.index(b"\n") + 1
    data[second + 30] ^= 0x01  # one flipped bit inside the second record's JSON
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert len(again) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert segment.name in errors[0]
    assert f"offset {second}" in errors[0]
    assert lines_of(await again.peek(10)) == [1, 3]
    await again.ack(2)
    assert len(again) == 0
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # reported once
    await again.aclose()


async def test_damage_at_the_end_of_an_older_segment_is_skipped_not_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 4, segment_bytes=1)).aclose()
    second = segments(directory)[1]
    size = second.stat().st_size
    second.write_bytes(second.read_bytes()[:-20])  # not the last segment: not a torn write
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory, segment_bytes=1)
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert f"{second.name} at offset 0 ({size - 20} bytes)" in caplog.text
    assert second.stat().st_size == size - 20
    assert lines_of(await again.peek(10)) == [1, 3, 4]


@pytest.mark.parametrize(
    "cursor",
    [
        b"garbage{",
        b"",
        b'{"segment": 1, "offset": 0, "crc": 12345}',
        encode_slot(2, Position(7, 0)),  # a segment that does not exist
        encode_slot(2, Position(1, 5)),  # inside a record
    ],
    ids=["garbage", "empty", "bad-crc", "missing-segment", "mid-record"],
)
async def test_a_damaged_cursor_restarts_from_the_oldest_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cursor: bytes
) -> None:
    directory = tmp_path / "s"
    spool = await filled(directory, 4)
    await spool.peek(2)
    await spool.ack(2)
    await spool.aclose()
    (directory / CURSOR).write_bytes(cursor)
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert "the cursor" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    # Duplicates rather than loss.
    assert lines_of(await again.peek(10)) == [1, 2, 3, 4]
    await again.aclose()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = await open_spool(directory)  # the fallback was saved: reported once
    assert not caplog.records
    await third.aclose()


async def test_a_missing_cursor_keeps_every_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "s"
    await (await filled(directory, 2)).aclose()
    (directory / CURSOR).unlink()
    with caplog.at_level(logging.WARNING):
        again = await open_spool(directory)
    assert "missing" in caplog.text
    assert lines_of(await again.peek(10)) == [1, 2]
    await again.aclose()


# --- backpressure ---------------------------------------------------------------------------


async def full_spool(tmp_path: Path) -> tuple[Spool, asyncio.Task[None]]:
    """A spool holding alerts 1-3 with room for no more, and the append of 4 waiting."""
    size = len(encode_record(alert(1)))
    spool = await open_spool(tmp_path / "s", max_bytes=3 * size)
    await spool.append([alert(1), alert(2), alert(3)])
    blocked = asyncio.create_task(spool.append([alert(4)]))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not blocked.done()
    return spool, blocked


async def test_append_waits_for_room_and_never_drops(tmp_path: Path) -> None:
    spool, blocked = await full_spool(tmp_path)
    assert len(spool) == 3
    await spool.peek(1)
    await spool.ack(1)
    await asyncio.wait_for(blocked, 1)
    assert lines_of(await spool.peek(10)) == [2, 3, 4]
    await spool.aclose()


async def test_a_full_backlog_is_said_once_until_it_is_under_half_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shipper.spool.spool")
    spool, blocked = await full_spool(tmp_path)
    full = "channel s: its backlog is full (3 event(s)"
    assert caplog.text.count(full) == 1
    await spool.peek(1)
    await spool.ack(1)  # room for the waiting append: 2, 3, 4, full again
    await asyncio.wait_for(blocked, 1)
    again = asyncio.create_task(spool.append([alert(5)]))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not again.done()
    assert caplog.text.count(full) == 1  # a slow channel does not say it at every append
    await spool.peek(3)
    await spool.ack(3)
    await asyncio.wait_for(again, 1)
    assert "channel s: its backlog is under half full again" in caplog.text
    await spool.aclose()


async def test_a_stop_gives_up_waiting_for_room_and_appends_nothing(tmp_path: Path) -> None:
    spool, blocked = await full_spool(tmp_path)
    spool.give_up_waiting()
    with pytest.raises(BacklogFullError, match="channel s"):
        await asyncio.wait_for(blocked, 1)
    assert len(spool) == 3
    await spool.peek(1)
    await spool.ack(1)
    await asyncio.wait_for(spool.append([alert(5)]), 1)  # with room, appends go on
    assert lines_of(await spool.peek(10)) == [2, 3, 5]
    await spool.aclose()


async def test_a_record_bigger_than_the_cap_passes_an_empty_spool(tmp_path: Path) -> None:
    spool = await open_spool(tmp_path / "s", max_bytes=10)
    await asyncio.wait_for(spool.append([alert(1)]), 1)
    blocked = asyncio.create_task(spool.append([alert(2)]))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not blocked.done()
    await spool.peek(1)
    await spool.ack(1)
    await asyncio.wait_for(blocked, 1)
    assert lines_of(await spool.peek(10)) == [2]
    await spool.aclose()


# --- bounded memory ----------------------------------------------------------------------------


async def test_200k_waiting_events_do_not_grow_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Durability is tested above; here 10,000 cursor fsyncs would only cost time.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    total, batch = 200_000, 20
    tracemalloc.start()
    try:
        spool = await open_spool(tmp_path / "s", segment_bytes=4 * 1024 * 1024)
        for start in range(0, total, 1000):
            await spool.append([alert(n) for n in range(start, start + 1000)])
            await spool.commit()
        assert len(spool) == total
        _, peak_after_append = tracemalloc.get_traced_memory()
        seen = 0
        while got := await spool.peek(batch):
            assert got[0].line == seen
            seen += len(got)
            await spool.ack(len(got))
        _, peak = tracemalloc.get_traced_memory()
        await spool.aclose()
    finally:
        tracemalloc.stop()
    assert seen == total
    assert peak_after_append < 20 * 1024 * 1024
    assert peak < 20 * 1024 * 1024
    assert len(segments(tmp_path / "s")) == 1


# --- the record codec ---------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_alerts = st.builds(
    Alert,
    line=st.integers(min_value=0, max_value=2**62),
    raw=st.dictionaries(st.text(), _json, max_size=5),
    action=st.text(),
    severity=st.sampled_from(Severity),
    actor=st.none() | st.text(),
    status=st.none() | st.text(),
    timestamp=st.none() | st.text(),
    facts=st.lists(st.tuples(st.text(), st.text()), max_size=5).map(tuple),
)


@given(_alerts)
def test_a_record_decodes_to_an_equal_alert(original: Alert) -> None:
    record = encode_record(original)
    assert record.endswith(b"\n")
    assert record.count(b"\n") == 1  # newlines inside text are escaped
    assert decode_record(record) == original


@given(_alerts, st.data())
def test_any_flipped_bit_is_caught(original: Alert, data: st.DataObject) -> None:
    record = bytearray(encode_record(original))
    index = data.draw(st.integers(min_value=0, max_value=len(record) - 2))
    record[index] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    with pytest.raises(BadRecord):
        decode_record(bytes(record))


def test_a_checksummed_record_that_is_not_an_alert_is_bad() -> None:
    import zlib

    body = orjson.dumps({"line": 1})
    with pytest.raises(BadRecord):
        decode_record(b"%08x %s\n" % (zlib.crc32(body), body))


async def test_awkward_alerts_survive_the_disk(tmp_path: Path) -> None:
    odd = Alert(
        line=3,
        raw={"msg": "two\nlines\r\u2028", "nested": {"a": [1, {"b": None}]}, "ü": "🔐"},
        action="a\nb",
        severity=Severity.DEBUG,
        actor=None,
        status=None,
        timestamp=None,
        facts=(("k\n", "v\u0000"),),
    )
    spool = await open_spool(tmp_path / "s")
    await spool.append([odd, alert(4)])
    await spool.aclose()
    again = await open_spool(tmp_path / "s")
    assert await again.peek(5) == [odd, alert(4)]
    await again.aclose()


# --- disk errors ---------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_an_unwritable_directory_is_a_spool_error(tmp_path: Path) -> None:
    tmp_path.joinpath("state").mkdir(mode=0o500)
    try:
        with pytest.raises(SpoolError, match="Permission denied") as caught:
            await Spool.open(tmp_path / "state" / "spool" / "security")
    finally:
        tmp_path.joinpath("state").chmod(0o700)
    assert str(tmp_path / "state") in str(caught.value)


async def test_a_spool_under_a_file_is_a_spool_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    with pytest.raises(SpoolError, match="Not a directory") as caught:
        await Spool.open(tmp_path / "state" / "spool")
    assert str(tmp_path / "state" / "spool") in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_failed_fsync_is_a_spool_error_and_stops_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.append([alert(1)])

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SpoolError, match="No space left on device") as caught:
        await spool.commit()
    assert f"cannot write the backlog in {tmp_path / 's'}" in str(caught.value)
    monkeypatch.setattr(os, "fsync", real_fsync)
    # The kernel may have dropped what it could not write: no more pretending.
    with pytest.raises(SpoolError, match="restart"):
        await spool.append([alert(2)])
    with pytest.raises(SpoolError):
        await spool.commit()
    await spool.aclose()


async def test_a_failed_write_leaves_no_half_record_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.append([alert(1)])
    await spool.commit()
    real_write = os.write

    def short_then_full(fd: int, data: Any) -> int:
        monkeypatch.setattr(os, "write", full)
        return real_write(fd, bytes(data)[:10])  # half a record reaches the file

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(SpoolError, match="No space left on device"):
        await spool.append([alert(n, pad="x" * 1000) for n in range(2, 80)])
    monkeypatch.setattr(os, "write", real_write)
    (segment,) = segments(tmp_path / "s")
    assert segment.read_bytes().endswith(b"\n")  # cut back to the last whole record
    await spool.commit()  # the space is back: what was kept in memory is written
    await spool.aclose()
    again = await open_spool(tmp_path / "s")
    assert lines_of(await again.peek(100)) == list(range(1, 80))
    await again.aclose()


async def test_a_closed_spool_refuses_appends(tmp_path: Path) -> None:
    spool = await open_spool(tmp_path / "s")
    await spool.aclose()
    await spool.aclose()  # twice is fine
    with pytest.raises(SpoolError, match="closed"):
        await spool.append([alert(1)])


def test_the_default_cap_is_256_mib() -> None:
    assert spool_module.DEFAULT_MAX_BYTES == 256 * 1024 * 1024


# --- the last record, for queueing re-read lines once after a crash --------------------


async def test_last_record_past_an_earlier_end(tmp_path: Path) -> None:
    spool = await filled(tmp_path / "s", 3, segment_bytes=600)
    mark = spool.end
    assert await spool.last_record(mark) is None
    await spool.append([alert(n) for n in range(4, 12)])  # rolls into new segments
    await spool.commit()
    assert mark < spool.end
    found = await spool.last_record(mark)
    assert found is not None and found.line == 11
    await spool.ack(11)  # delivered: still the last record written
    again = await open_spool(tmp_path / "s", segment_bytes=600)
    last = await again.last_record(mark)
    assert last is not None and last.line == 11
    assert await again.last_record(again.end) is None


async def test_last_record_torn_by_a_crash_or_damaged_later(tmp_path: Path) -> None:
    spool = await filled(tmp_path / "s", 2)
    mark = Position(0, 0)
    await spool.aclose()
    (segment,) = (tmp_path / "s").glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5] + b"XXXX\n")  # the same length, a failed checksum
    again = await open_spool(tmp_path / "s")  # cuts it as a torn write
    found = await again.last_record(mark)
    assert found is not None and found.line == 1
    segment.write_bytes(b"X" + segment.read_bytes()[1:])  # damaged while open
    assert await again.last_record(mark) is None


async def test_last_record_longer_than_one_read(tmp_path: Path) -> None:
    spool = await open_spool(tmp_path / "s")
    mark = spool.end
    await spool.append([alert(1), alert(2, blob="x" * 200_000)])
    await spool.commit()
    found = await spool.last_record(mark)
    assert found is not None and found.raw["blob"] == "x" * 200_000


async def test_records_handed_over_in_memory_and_read_back_agree(tmp_path: Path) -> None:
    # A reader that keeps up gets appended alerts without a decode (up to a bound); past
    # the bound it reads the files again. Either way: the same alerts, in order, once.
    spool = await open_spool(tmp_path / "s", segment_bytes=3000)
    await spool.append([alert(n) for n in range(1, 601)])  # more than the bound
    seen: list[Alert] = []
    while len(seen) < 600:
        batch = await spool.peek(37)
        seen += batch
        await spool.ack(len(batch))
    for n in range(601, 641):  # now caught up: each one handed over, across segment rolls
        await spool.append([alert(n)])
        (got,) = await spool.peek(5)
        seen.append(got)
        await spool.ack(1)
    await spool.commit()
    assert seen == [decode_record(encode_record(alert(n))) for n in range(1, 641)]
    assert len(await open_spool(tmp_path / "s", segment_bytes=3000)) == 0

"""The flood gate on a real spool: counts saved before the acknowledgement, and a run
counted but not acknowledged before a crash is acknowledged once, never counted again."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from shipper.clock import SystemClock
from shipper.delivery.flood_groups import FloodSettings
from shipper.delivery.flooding import STATE_FILE, FloodGate
from shipper.spool.spool import Spool
from tests.support.alerts import make_alert

SETTINGS = FloodSettings(limit=2, window=3600.0, by=(("action",),))


async def filled_spool(directory: Path, count: int) -> Spool:
    spool = await Spool.open(directory, name="s")
    await spool.append([make_alert(i, "login.failed") for i in range(count)])
    await spool.commit()
    return spool


def counted(directory: Path) -> int:
    doc = orjson.loads((directory / STATE_FILE).read_bytes())
    return sum(w["counted"] for w in doc["windows"] + doc["owed"])


async def test_a_run_is_counted_saved_and_acknowledged(tmp_path: Path) -> None:
    spool = await filled_spool(tmp_path, 10)
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    assert gate.full_run(await spool.peek(10)) == 2
    await spool.ack(2)
    gate.state.record([make_alert(0, "login.failed")] * 2, SystemClock().time(), counted=False)
    assert await gate.count_run(spool) == 8
    assert len(spool) == 0
    assert counted(tmp_path) == 8
    mode = os.lstat(tmp_path / STATE_FILE).st_mode
    assert stat.S_IMODE(mode) == 0o600
    await spool.aclose()


async def test_a_crash_between_counting_and_acknowledging_counts_once(tmp_path: Path) -> None:
    spool = await filled_spool(tmp_path, 10)
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    await spool.ack(2)
    gate.state.record([make_alert(0, "login.failed")] * 2, SystemClock().time(), counted=False)

    async def no_ack(count: int) -> None:  # the crash: the acknowledgement never happens
        return None

    real_ack = spool.ack
    spool.ack = no_ack  # type: ignore[method-assign]
    assert await gate.count_run(spool) == 8
    spool.ack = real_ack  # type: ignore[method-assign]
    await spool.aclose()
    assert counted(tmp_path) == 8

    again = await Spool.open(tmp_path, name="s")
    assert len(again) == 8  # still in the backlog after the "crash"
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(again)
    assert len(again) == 0  # acknowledged on open...
    assert await gate.count_run(again) == 0
    assert sum(w.counted for w in gate.state.windows.values()) == 8  # ...not counted again
    await again.aclose()


async def test_an_acknowledged_run_is_not_acknowledged_again(tmp_path: Path) -> None:
    spool = await filled_spool(tmp_path, 10)
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    await spool.ack(2)
    gate.state.record([make_alert(0, "login.failed")] * 2, SystemClock().time(), counted=False)
    assert await gate.count_run(spool) == 8
    # The saved state still names the run (it was saved before the acknowledgement): a
    # restart whose backlog moved on past it must leave the new events alone.
    assert orjson.loads((tmp_path / STATE_FILE).read_bytes())["pending"]["count"] == 8
    await spool.append([make_alert(20, "other")])
    await spool.commit()
    await spool.aclose()
    again = await Spool.open(tmp_path, name="s")
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(again)
    assert len(again) == 1
    await again.aclose()


async def test_a_damaged_state_file_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = await filled_spool(tmp_path, 3)
    (tmp_path / STATE_FILE).write_bytes(b"{not json")
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    assert "damaged" in caplog.text
    await spool.aclose()


async def test_counts_that_cannot_be_saved_leave_the_run_in_the_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await filled_spool(tmp_path, 10)
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    await spool.ack(2)
    gate.state.record([make_alert(0, "login.failed")] * 2, SystemClock().time(), counted=False)

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shipper.delivery.flooding.write_atomic", full_disk)
    assert await gate.count_run(spool) is None
    assert len(spool) == 8, (
        "not acknowledged: after a crash they would be neither posted nor counted"
    )
    assert sum(w.counted for w in gate.state.windows.values()) == 0, "the counts went back"
    monkeypatch.undo()
    assert await gate.count_run(spool) == 8, "once the disk has room, counted once"
    assert counted(tmp_path) == 8
    await spool.aclose()


async def test_a_spool_that_cannot_commit_is_not_counted(tmp_path: Path) -> None:
    spool = await filled_spool(tmp_path, 10)
    gate = FloodGate.in_directory("s", SETTINGS, tmp_path, SystemClock())
    await gate.open(spool)
    await spool.ack(2)
    gate.state.record([make_alert(0, "login.failed")] * 2, SystemClock().time(), counted=False)

    async def broken() -> None:
        from shipper.errors import SpoolError

        raise SpoolError("cannot write the backlog: No space left on device")

    real_commit = spool.commit
    spool.commit = broken  # type: ignore[method-assign]
    assert await gate.count_run(spool) is None  # the worker then waits instead of spinning
    spool.commit = real_commit  # type: ignore[method-assign]
    assert len(spool) == 8
    await spool.aclose()

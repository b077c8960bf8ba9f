"""Re-read lines after a crash between the spools' fsync and the position save: queued once."""

from __future__ import annotations

from pathlib import Path

from shipper.routing.event import Alert
from shipper.sources.lines import Line
from shipper.sources.position import Checkpoint, FilePosition
from shipper.spool.resume import Resume
from shipper.spool.spool import Spool
from tests.support.alerts import make_alert

SAVED = FilePosition("/log/a.jsonl", 1, 100, "f" * 64, 1024, 5000, 50)


def alert(line: int) -> Alert:
    return make_alert(line, raw={"n": line})


def at(line: int, **changes: object) -> FilePosition:
    return FilePosition(**{**SAVED.__dict__, "offset": line * 100, "line": line, **changes})


def batch(first: int, last: int) -> tuple[list[Line], dict[str, list[Alert]]]:
    lines: list[Line] = [(n, b"{}") for n in range(first, last + 1)]
    return lines, {"a": [alert(n) for n in range(first, last + 1)], "b": [alert(first)]}


def test_drops_what_each_channel_queued_then_stops() -> None:
    resume = Resume(SAVED, {"a": 55, "b": 50})
    lines, pending = batch(51, 53)
    resume.drop_queued(pending, lines, at(53))
    assert pending == {"a": [], "b": [alert(51)]}
    lines, pending = batch(54, 60)
    resume.drop_queued(pending, lines, at(60))
    assert [a.line for a in pending["a"]] == list(range(56, 61))
    lines, pending = batch(61, 62)
    resume.drop_queued(pending, lines, at(62))
    assert len(pending["a"]) == 2


def test_another_file_turns_it_off() -> None:
    for changed in ({"inode": 101}, {"dev": 2}, {"fingerprint": "0" * 64}):
        resume = Resume(SAVED, {"a": 55})
        lines, pending = batch(51, 53)
        resume.drop_queued(pending, lines, at(53, **changed))
        assert len(pending["a"]) == 3
        lines, pending = batch(51, 53)  # off for good, even if the file comes back
        resume.drop_queued(pending, lines, at(53))
        assert len(pending["a"]) == 3


def test_line_numbers_that_start_over_turn_it_off() -> None:
    resume = Resume(SAVED, {"a": 55})
    lines, pending = batch(1, 3)  # the same inode, truncated and rewritten
    resume.drop_queued(pending, lines, at(3))
    assert len(pending["a"]) == 3


def test_reading_the_file_again_from_its_start_turns_it_off() -> None:
    resume = Resume(SAVED, {"a": 55})
    resume.drop_queued({}, [], at(0))  # --from-beginning: the first, empty batch is at 0
    lines, pending = batch(1, 56)
    resume.drop_queued(pending, lines, at(56))
    assert len(pending["a"]) == 56


def test_stdin_and_an_empty_batch() -> None:
    resume = Resume(SAVED, {"a": 55})
    resume.drop_queued({}, [], at(50))  # the tail opened where it was saved: still on
    lines, pending = batch(51, 51)
    resume.drop_queued(pending, lines, at(51))
    assert pending["a"] == []
    resume.drop_queued(pending, lines, None)
    lines, pending = batch(52, 52)
    resume.drop_queued(pending, lines, at(52))
    assert len(pending["a"]) == 1


async def test_find_reads_the_spools_past_the_saved_ends(tmp_path: Path) -> None:
    spools = {name: await Spool.open(tmp_path / name, name=name) for name in ("a", "b", "c")}
    try:
        for spool in spools.values():
            await spool.append([alert(n) for n in range(40, 51)])
            await spool.commit()
        ends = {name: (s.end.segment, s.end.offset) for name, s in spools.items()}
        await spools["a"].append([alert(n) for n in range(51, 56)])
        await spools["a"].commit()
        resume = await Resume.find(Checkpoint(SAVED, ends), spools)
        lines, pending = batch(51, 56)
        resume.drop_queued(pending, lines, at(56))
        assert [a.line for a in pending["a"]] == [56]
        assert pending["b"] == [alert(51)]
        assert (await Resume.find(None, spools))._through == {}
    finally:
        for spool in spools.values():
            await spool.aclose()


def test_a_position_before_through_keeps_the_end_the_last_run_saved() -> None:
    # Lines 51-80 were queued for "security" before the restart, past its saved end
    # (2, 700). A position saved before line 80 keeps that end, so that a second restart
    # still finds those records past it; from line 80 on, the spool's own end will do.
    resume = Resume(SAVED, {"security": 80}, {"security": (2, 700), "siem": (1, 50)})
    assert resume.held_end("security", at(60)) == (2, 700)
    assert resume.held_end("security", at(80)) is None
    assert resume.held_end("siem", at(60)) is None  # nothing of it was re-read
    assert resume.held_end("security", at(60, inode=101)) is None  # another file
    assert Resume(None, {}).held_end("security", at(60)) is None

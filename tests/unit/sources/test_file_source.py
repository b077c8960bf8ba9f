"""The file tailer against real files: appends, rotation, truncation, restarts, real logrotate.

Every test runs the real ``FileTail`` on files under ``tmp_path`` and waits
for conditions under a deadline (``asyncio.timeout``); none sleeps and hopes.
Where an ordering between the tailer and a writer matters, the writer acts in
one synchronous step (no await), which the tailer cannot interleave with.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import pytest

from shipper.sources import file as file_source
from shipper.sources.lines import Block, TooLong
from shipper.sources.open_file import OpenFile
from shipper.sources.position import save_position
from tests.support.files import append
from tests.support.position import load_position
from tests.unit.sources.tailing import DEADLINE, POLL


def numbered(prefix: str, first: int, last: int) -> list[bytes]:
    return [f"{prefix}{n}".encode() for n in range(first, last + 1)]


def as_lines(texts: list[bytes]) -> bytes:
    return b"".join(text + b"\n" for text in texts)


async def test_appends_are_followed_and_a_partial_line_waits(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)
    append(path, b"a1\na2\npart")
    await tail.wait_lines(2)
    assert tail.lines == [(1, b"a1"), (2, b"a2")]
    # The position stops at the last newline: the partial line is re-read after a restart.
    assert tail.position.offset == len(b"a1\na2\n")
    assert tail.position.line == 2
    append(path, b"ial\r\nthree\n")
    await tail.wait_lines(4)
    assert tail.lines[2:] == [(3, b"partial"), (4, b"three")]
    assert tail.position.offset == path.stat().st_size
    assert tail.position.line == 4
    st = path.stat()
    assert (tail.position.dev, tail.position.inode) == (st.st_dev, st.st_ino)


async def test_a_partial_line_is_not_emitted_at_stop_and_is_read_next_run(
    tmp_path: Path, start
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"one\ntw")
    first = start(path)
    await first.wait_lines(1)
    await first.stop()
    assert first.texts == [b"one"]
    append(path, b"o\n")
    second = start(path, saved=first.position)
    await second.wait_lines(1)
    assert second.lines == [(2, b"two")]


async def test_overlong_lines_come_out_as_their_head(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"ok\n" + b"x" * 5000 + b"\nfine\n")
    tail = start(path, max_line_bytes=100)
    await tail.wait_lines(3)
    assert tail.lines == [(1, b"ok"), (2, TooLong(b"x" * 100, 5000)), (3, b"fine")]


async def test_start_at_end_skips_existing_lines_but_counts_them(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"old1\nold2\nstill being writ")
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)
    append(path, b"ten\nnew\n")
    await tail.wait_lines(2)
    # The line being written when we started is whole, not a fragment.
    assert tail.lines == [(3, b"still being written"), (4, b"new")]


async def test_start_at_beginning_reads_existing_lines(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"old1\nold2\n")
    tail = start(path, start_at="beginning")
    await tail.wait_lines(2)
    append(path, b"new\n")
    await tail.wait_lines(3)
    assert tail.lines == [(1, b"old1"), (2, b"old2"), (3, b"new")]


async def test_from_beginning_overrides_the_saved_position(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\nb\n")
    first = start(path)
    await first.wait_lines(2)
    await first.stop()
    again = start(path, saved=first.position, start_at="end", from_beginning=True)
    await again.wait_lines(2)
    assert again.lines == [(1, b"a"), (2, b"b")]


async def test_a_missing_file_is_waited_for_then_read_from_its_start(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)
    assert tail.batches == []
    path.write_bytes(b"first\nsecond\n")
    await tail.wait_lines(2)
    assert tail.lines == [(1, b"first"), (2, b"second")]


async def test_rename_rotation_while_appending_delivers_every_line_once(
    tmp_path: Path, start
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)

    old = os.open(path, os.O_WRONLY | os.O_APPEND)
    for n in range(1, 201):
        os.write(old, b"old%d\n" % n)
        if n % 20 == 0:
            await asyncio.sleep(0)  # let the tailer read part of it
    os.rename(path, tmp_path / "audit.jsonl.1")
    new = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    await tail.wait_lines(150)  # the tailer is on the old file, possibly at its end
    for n in range(201, 206):  # late writes by an application that has not reopened yet
        os.write(old, b"old%d\n" % n)
    os.close(old)
    for n in range(1, 101):
        os.write(new, b"new%d\n" % n)
        if n % 20 == 0:
            await asyncio.sleep(0)
    os.close(new)

    await tail.wait_lines(305)
    assert tail.texts == numbered("old", 1, 205) + numbered("new", 1, 100)
    assert [n for n, _ in tail.lines] == list(range(1, 206)) + list(range(1, 101))
    st = path.stat()
    assert (tail.position.inode, tail.position.offset) == (st.st_ino, st.st_size)


async def test_rotation_holds_the_old_file_until_the_new_one_has_data(
    tmp_path: Path, start
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    old = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.rename(path, tmp_path / "audit.jsonl.1")
    path.write_bytes(b"")
    os.write(old, b"late\n")  # however late: the new file is still empty
    await tail.wait_lines(2)
    os.write(old, b"later\nunfinished")
    await tail.wait_lines(3)
    os.close(old)
    append(path, b"n1\n")
    await tail.wait_lines(5)
    # Leaving the old file, its unterminated last line is final: it is emitted.
    assert tail.texts == [b"a", b"late", b"later", b"unfinished", b"n1"]


async def test_a_late_write_racing_the_switch_is_not_lost(
    tmp_path: Path, start, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    old = os.open(path, os.O_WRONLY | os.O_APPEND)
    old_inode = os.fstat(old).st_ino
    real_lstat = os.lstat

    def stat_while_the_app_writes(target: object, *args: object, **kwargs: object) -> object:
        # A concurrent writer's last line lands after the tailer found the old file at
        # its end but before it switches: exactly when the tailer first sees the new
        # file at the path (the tail reads in a thread: it may look at any moment).
        found = real_lstat(target, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(target) == os.fspath(path) and found.st_ino != old_inode:  # type: ignore[call-overload]
            os.write(old, b"raced\n")
            monkeypatch.setattr(os, "lstat", real_lstat)
        return found

    monkeypatch.setattr(os, "lstat", stat_while_the_app_writes)
    os.rename(path, tmp_path / "audit.jsonl.1")
    path.write_bytes(b"n1\n")
    await tail.wait_lines(3)
    os.close(old)
    assert tail.texts == [b"a", b"raced", b"n1"]


async def test_deletion_and_recreation(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    writer = os.open(path, os.O_WRONLY | os.O_APPEND)
    path.unlink()
    os.write(writer, b"b\n")  # written to the deleted file we still hold
    os.close(writer)
    await tail.wait_lines(2)
    path.write_bytes(b"c\nd\n")
    await tail.wait_lines(4)
    assert tail.lines == [(1, b"a"), (2, b"b"), (1, b"c"), (2, b"d")]


async def test_copytruncate_while_appending(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    tail = start(path)
    written: list[bytes] = []
    writer = os.open(path, os.O_WRONLY | os.O_APPEND)  # copytruncate needs O_APPEND writers
    for rotation in range(3):
        for n in range(50):
            text = b"r%d-%d" % (rotation, n)
            os.write(writer, text + b"\n")
            written.append(text)
            if n % 10 == 0:
                await asyncio.sleep(0)
        # Only what the tailer has read before the truncate is safe: lines written or
        # unread between logrotate's copy and its truncate are copytruncate's own loss.
        await tail.wait_lines(len(written))
        shutil.copyfile(path, tmp_path / f"audit.jsonl.{rotation + 1}")
        os.truncate(path, 0)
    os.write(writer, b"after\n")
    written.append(b"after")
    os.close(writer)
    await tail.wait_lines(len(written))
    assert tail.texts == written
    assert tail.lines[-1] == (1, b"after")


async def test_truncated_and_rewritten_past_the_offset_before_a_poll(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\nb\n")
    tail = start(path)
    await tail.wait_lines(2)
    # One synchronous step: the tailer cannot see the file between the truncate and
    # the rewrite, so only the changed first bytes can tell it what happened.
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(b"xyz1\nxyz2\n")
    await tail.wait_lines(4)
    assert tail.lines == [(1, b"a"), (2, b"b"), (1, b"xyz1"), (2, b"xyz2")]


# A first line past the first KiB, which identifies the file: from then on a live log's
# look is a compare of that KiB and one read (``OpenFile.read_whole``).
HEAD = b"h" * 1100


def count_whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many looks took the short way: a test of it must not pass by the general one."""
    taken: list[int] = []
    read_whole = OpenFile.read_whole

    def counted(self: OpenFile) -> Block | None:
        block = read_whole(self)
        if block is not None:
            taken.append(block.count)
        return block

    monkeypatch.setattr(OpenFile, "read_whole", counted)
    return taken


async def test_a_live_log_is_read_write_by_write_once_its_head_is_whole(
    tmp_path: Path, start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole lines come in one step; a line begun, or one too long, the general way,
    numbered and positioned the same."""
    taken = count_whole_reads(monkeypatch)
    path = tmp_path / "audit.jsonl"
    path.write_bytes(HEAD + b"\n")
    tail = start(path, max_line_bytes=2000)
    await tail.wait_lines(1)
    append(path, b"a1\na2\n")
    await tail.wait_lines(3)
    append(path, b"a3\npart")
    await tail.wait_lines(4)
    assert tail.position.offset == len(HEAD) + len(b"\na1\na2\na3\n")
    append(path, b"ial\n")
    await tail.wait_lines(5)
    append(path, b"x" * 3000 + b"\nfine\n")
    await tail.wait_lines(7)
    append(path, b"a8\n")
    await tail.wait_lines(8)
    assert tail.lines[1:] == [
        (2, b"a1"),
        (3, b"a2"),
        (4, b"a3"),
        (5, b"partial"),
        (6, TooLong(b"x" * 2000, 3000)),
        (7, b"fine"),
        (8, b"a8"),
    ]
    assert (tail.position.offset, tail.position.line) == (path.stat().st_size, 8)
    assert taken == [1, 2, 1], "the first line, a1 and a2, a8; the rest the general way"


async def test_a_live_log_truncated_and_rewritten_past_the_offset(
    tmp_path: Path, start, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = count_whole_reads(monkeypatch)
    path = tmp_path / "audit.jsonl"
    path.write_bytes(HEAD + b"\n")
    tail = start(path, max_line_bytes=2000)
    await tail.wait_lines(1)
    append(path, b"a\n")
    await tail.wait_lines(2)
    assert taken == [1, 1]
    with path.open("r+b") as f:  # one step: only the first KiB can tell what happened
        f.truncate(0)
        f.write(b"g" * 1100 + b"\n" + b"y\n" * 10)
    await tail.wait_lines(13)
    assert tail.lines[2:] == [(1, b"g" * 1100)] + [(n, b"y") for n in range(2, 12)]
    os.truncate(path, 0)  # copytruncate: shorter than what was read
    append(path, b"after\n")
    await tail.wait_lines(14)
    assert tail.lines[-1] == (1, b"after")


async def test_restart_continues_after_the_saved_position(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    state = tmp_path / "position.json"
    path.write_bytes(as_lines(numbered("l", 1, 5)))
    first = start(path)
    await first.wait_lines(5)
    await first.stop()
    save_position(state, first.position)
    append(path, as_lines(numbered("l", 6, 8)))

    second = start(path, saved=load_position(state), start_at="end")
    await second.wait_lines(3)
    append(path, b"l9\n")
    await second.wait_lines(4)
    assert second.lines == [(6, b"l6"), (7, b"l7"), (8, b"l8"), (9, b"l9")]


async def test_restart_after_a_rotation_while_stopped(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(as_lines(numbered("old", 1, 5)))
    first = start(path)
    await first.wait_lines(5)
    await first.stop()
    saved = first.position
    append(path, as_lines(numbered("old", 6, 8)))  # never read before the rotation
    path.rename(tmp_path / "audit.jsonl.1")
    path.write_bytes(as_lines(numbered("new", 1, 4)))

    second = start(path, saved=saved, start_at="end")
    await second.wait_lines(7)
    assert second.lines == [
        (6, b"old6"),
        (7, b"old7"),
        (8, b"old8"),
        (1, b"new1"),
        (2, b"new2"),
        (3, b"new3"),
        (4, b"new4"),
    ]
    await second.stop()
    # And the position now names the new file, so a third run re-sends nothing.
    third = start(path, saved=second.position)
    append(path, b"new5\n")
    await third.wait_lines(1)
    assert third.lines == [(5, b"new5")]


async def test_restart_when_the_rotated_file_is_gone_warns_and_reads_the_new_file(
    tmp_path: Path, start, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\nb\n")
    first = start(path)
    await first.wait_lines(2)
    await first.stop()
    # Written aside first, so the new file cannot reuse the old one's inode.
    (tmp_path / "fresh").write_bytes(b"c\n")
    os.replace(tmp_path / "fresh", path)
    with caplog.at_level(logging.WARNING, logger="shipper.sources.file"):
        second = start(path, saved=first.position, start_at="end")
        await second.wait_lines(1)
    assert second.lines == [(1, b"c")]
    assert "lines after offset 4 of it may have been missed" in caplog.text


async def test_restart_when_a_different_file_took_the_name(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\nb\n")
    first = start(path)
    await first.wait_lines(2)
    await first.stop()
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"x\ny\nz\n")
    shutil.copyfile(other, tmp_path / "replacement")
    os.replace(tmp_path / "replacement", path)
    second = start(path, saved=first.position, start_at="end")
    await second.wait_lines(3)
    assert second.lines == [(1, b"x"), (2, b"y"), (3, b"z")]


@pytest.mark.parametrize(
    "rewrite", [b"", b"q\n", b"qqqqqq\nr\n"], ids=["empty", "shorter", "longer"]
)
async def test_restart_after_truncation_while_stopped(
    tmp_path: Path, start, rewrite: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a1\na2\n")
    first = start(path)
    await first.wait_lines(2)
    await first.stop()
    with path.open("r+b") as f:  # the same inode: copytruncate while we were down
        f.truncate(0)
        f.write(rewrite)
    with caplog.at_level(logging.WARNING, logger="shipper.sources.file"):
        second = start(path, saved=first.position)
        append(path, b"end\n")
        expected = [*rewrite.splitlines(), b"end"]
        await second.wait_lines(len(expected))
    assert second.texts == expected
    assert "lines after offset 6 of the old content may have been missed" in caplog.text


async def test_a_position_for_another_path_is_ignored(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    first = start(path)
    await first.wait_lines(1)
    await first.stop()
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"b\n")
    second = start(other, saved=first.position, start_at="beginning")
    await second.wait_lines(1)
    assert second.lines == [(1, b"b")]


async def test_stop_and_cancel_close_the_file(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    before = len(os.listdir("/proc/self/fd"))
    stopped = start(path)
    await stopped.wait_lines(1)
    await stopped.stop()
    cancelled = start(path)
    await cancelled.wait_lines(1)
    cancelled.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled.task
    assert len(os.listdir("/proc/self/fd")) == before


async def test_an_idle_tail_polls_gently(
    tmp_path: Path, start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_source, "_QUIET_AFTER", 0.0)  # idle at once, not after 1 s
    idle_poll = 2.5 * POLL
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path, idle_poll_interval=idle_poll)
    await tail.wait_lines(1)
    calls = {"lstat": 0, "fstat": 0, "pread": 0}
    real_lstat, real_fstat, real_pread = os.lstat, os.fstat, os.pread

    def counting_lstat(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(target) == os.fspath(path):  # type: ignore[call-overload]
            calls["lstat"] += 1
        return real_lstat(target, *args, **kwargs)  # type: ignore[arg-type]

    def counting_fstat(fd: int) -> os.stat_result:
        calls["fstat"] += 1
        return real_fstat(fd)

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        calls["pread"] += 1
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "lstat", counting_lstat)
    monkeypatch.setattr(os, "fstat", counting_fstat)
    monkeypatch.setattr(os, "pread", counting_pread)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(1.0)  # the idle period being measured, not a wait for a result
    polls = (loop.time() - began) / idle_poll
    monkeypatch.undo()
    # Per poll, nothing more than: a 1 KiB head check and a read that finds nothing
    # (two preads), one fstat (a truncation) and one lstat of the path (a rotation).
    assert 0.5 * polls <= calls["lstat"] <= 1.5 * polls + 2
    assert calls["fstat"] <= 1.5 * polls + 2
    assert calls["pread"] <= 2 * (1.5 * polls + 2)


LOGROTATE = shutil.which("logrotate")
needs_logrotate = pytest.mark.skipif(
    LOGROTATE is None, reason="the logrotate binary is not installed (apt-get install logrotate)"
)


async def run_logrotate(conf: Path, state: Path) -> None:
    assert LOGROTATE is not None
    proc = await asyncio.create_subprocess_exec(
        LOGROTATE,
        "-f",
        "-s",
        str(state),
        str(conf),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()


def app_write(path: Path, data: bytes) -> bool:
    """An application that reopens its log for each write, as after a HUP; ``False``
    while logrotate has moved the file and not yet created the new one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return False
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return True


@needs_logrotate
async def test_logrotate_create_while_appending(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{path} {{\n  rotate 3\n  create 0600\n  missingok\n  nocompress\n}}\n")
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)
    written: list[bytes] = []
    done = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not done.is_set():
            if app_write(path, b"w%d\n" % n):
                written.append(b"w%d" % n)
                n += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(writer())
    for _ in range(3):
        await tail.wait_lines(len(written) + 20)  # some traffic before each rotation
        await run_logrotate(conf, tmp_path / "state")
    await tail.wait_lines(len(written) + 20)
    done.set()
    await task
    await tail.wait_lines(len(written))
    assert tail.texts == written
    assert (tmp_path / "audit.jsonl.3").exists()


@needs_logrotate
async def test_logrotate_copytruncate_while_appending(tmp_path: Path, start) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{path} {{\n  rotate 3\n  copytruncate\n  missingok\n  nocompress\n}}\n")
    tail = start(path, start_at="end")
    await asyncio.wait_for(tail.tail.ready.wait(), DEADLINE)
    written: list[bytes] = []
    writer = os.open(path, os.O_WRONLY | os.O_APPEND)
    n = 0
    for _ in range(3):
        for _ in range(100):
            os.write(writer, b"c%d\n" % n)
            written.append(b"c%d" % n)
            n += 1
            if n % 10 == 0:
                await asyncio.sleep(0.001)
        # Lines unread at the truncate live only in the copy: copytruncate's own loss
        # window, which the test stays out of by letting the tailer catch up first.
        await tail.wait_lines(len(written))
        await run_logrotate(conf, tmp_path / "state")
    os.write(writer, b"last\n")
    written.append(b"last")
    os.close(writer)
    await tail.wait_lines(len(written))
    assert tail.texts == written
    assert (tmp_path / "audit.jsonl.3").exists()
    assert path.read_bytes() == b"last\n"

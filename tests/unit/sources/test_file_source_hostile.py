"""The file tailer when the tailed name is swapped by whoever controls the log's directory.

A symlink to a file elsewhere (standing for ``/etc/shadow``), a directory, a
FIFO or a socket in place of the log: never read, never the end of the tail,
one warning, and reading resumes when a regular file is there again. A
symlink configured as the path is followed as configured. Real files under
``tmp_path``, the real ``FileTail``, deadlines instead of sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import pytest

from shipper.sources.lines import TooLong
from shipper.sources.tailed_path import TailedPath
from tests.support.files import append
from tests.unit.sources.tailing import Tailer

SECRET = b'{"action": "user.lock", "severity": "high", "secret": "root-only"}\n'


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the log's directory that must never be read through the log's name."""
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    shadow = elsewhere / "shadow"
    shadow.write_bytes(SECRET * 3)
    return shadow


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    return directory


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def wait_logged(caplog: pytest.LogCaptureFixture, words: str, tail: Tailer) -> None:
    """Wait, under a deadline, for a log line containing ``words`` while the tail runs."""
    async with asyncio.timeout(10):
        while not any(words in r.getMessage() for r in caplog.records):
            assert not tail.task.done(), f"the tail ended: {tail.task}"
            await asyncio.sleep(0.01)


def no_secret(tail: Tailer) -> None:
    heads = [text.head if isinstance(text, TooLong) else text for text in tail.texts]
    assert all(b"root-only" not in text for text in heads)


@pytest.mark.parametrize("link_text", ["absolute", "relative", "dotted"])
async def test_a_symlink_out_of_the_directory_after_rotation_is_not_followed(
    logs: Path, secret: Path, start, caplog: pytest.LogCaptureFixture, link_text: str
) -> None:
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    target = {
        "absolute": str(secret),
        "relative": "../etc/shadow",
        "dotted": f"./../{logs.name}/../etc/shadow",
    }[link_text]
    path.symlink_to(target)
    await wait_logged(caplog, "outside its directory", tail)
    append(logs / "audit.jsonl.1", b"late\n")  # the old file is still followed meanwhile
    await tail.wait_lines(2)
    path.unlink()
    path.write_bytes(b"n1\n")
    await tail.wait_lines(3)
    assert tail.texts == [b"a", b"late", b"n1"]
    no_secret(tail)
    assert sum("outside its directory" in w for w in warnings_of(caplog)) == 1, "warned once"


async def test_a_symlink_within_the_directory_is_followed(logs: Path, start) -> None:
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    (logs / "audit-2.jsonl").write_bytes(b"n1\n")
    path.symlink_to("audit-2.jsonl")
    await tail.wait_lines(2)
    append(logs / "audit-2.jsonl", b"n2\n")
    await tail.wait_lines(3)
    assert tail.texts == [b"a", b"n1", b"n2"]


async def test_a_relative_path_follows_a_symlink_within_its_directory(
    logs: Path, secret: Path, start, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.chdir(logs)
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(Path(path.name))
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    (logs / "audit-2.jsonl").write_bytes(b"n1\n")
    path.symlink_to("audit-2.jsonl")
    await tail.wait_lines(2)
    path.unlink()
    path.symlink_to("../etc/shadow")
    await wait_logged(caplog, "outside its directory", tail)
    assert tail.texts == [b"a", b"n1"]


async def test_a_link_chain_out_of_the_directory_and_a_link_through_a_subdirectory(
    logs: Path, secret: Path, start, caplog: pytest.LogCaptureFixture
) -> None:
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    (logs / "hop").symlink_to(secret)  # a link in our directory, to a file elsewhere
    path.symlink_to("hop")
    await wait_logged(caplog, "is a symlink, not a regular file", tail)
    # A link whose path goes through a symlinked subdirectory is opened by its name
    # in our directory: ``sub`` points to /etc-like, but what is read is logs/shadow.
    (logs / "sub").symlink_to(secret.parent)
    (logs / "shadow").write_bytes(b"ours\n")
    path.unlink()
    path.symlink_to("sub/../shadow")
    await tail.wait_lines(2)
    assert tail.texts == [b"a", b"ours"]
    no_secret(tail)


@pytest.mark.parametrize("kind", ["directory", "fifo", "socket"])
async def test_something_else_in_place_is_waited_past(
    logs: Path, start, caplog: pytest.LogCaptureFixture, kind: str, tmp_path: Path
) -> None:
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    tail = start(path)
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    listener = _make(path, kind)
    try:
        await wait_logged(caplog, "not a regular file", tail)
        _remove(path, kind)
        path.write_bytes(b"n1\n")
        await tail.wait_lines(2)
    finally:
        if listener is not None:
            listener.close()
    assert tail.texts == [b"a", b"n1"]
    assert any("a regular file again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["directory", "fifo", "socket"])
async def test_something_else_at_start_is_waited_past(
    logs: Path, start, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = logs / "audit.jsonl"
    listener = _make(path, kind)
    try:
        tail = start(path)
        await wait_logged(caplog, "not a regular file", tail)
        assert not tail.batches
        _remove(path, kind)
        path.write_bytes(b"n1\n")
        await tail.wait_lines(1)
    finally:
        if listener is not None:
            listener.close()
    assert tail.texts == [b"n1"]
    assert not any("does not exist yet" in r.getMessage() for r in caplog.records)


async def test_a_fifo_with_a_writer_never_blocks_the_tail(logs: Path, start, caplog) -> None:
    path = logs / "audit.jsonl"
    os.mkfifo(path)
    # A writer that holds the FIFO open with data in it: a blocking reader would read it.
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    os.write(writer, b'{"action": "x"}\n')
    try:
        tail = start(path)
        await wait_logged(caplog, "is a FIFO, not a regular file", tail)
        await tail.stop()
        assert tail.texts == []
    finally:
        os.close(writer)


async def test_an_unreadable_file_in_place_is_waited_past(logs: Path, start, caplog) -> None:
    path = logs / "audit.jsonl"
    path.write_bytes(b"a\n")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("this user reads any file (root with CAP_DAC_OVERRIDE)")
    path.chmod(0o600)
    tail = start(path)
    await tail.wait_lines(1)
    os.rename(path, logs / "audit.jsonl.1")
    path.write_bytes(b"n1\n")
    path.chmod(0)
    await wait_logged(caplog, "cannot be read", tail)
    path.chmod(0o600)
    await tail.wait_lines(2)
    assert tail.texts == [b"a", b"n1"]


async def test_a_configured_symlink_is_followed_with_rotation_in_its_target_directory(
    tmp_path: Path, start
) -> None:
    """Kubernetes' /var/log/containers/<pod>.log -> /var/log/pods/<pod>/<container>/0.log."""
    pods = tmp_path / "pods" / "app"
    pods.mkdir(parents=True)
    containers = tmp_path / "containers"
    containers.mkdir()
    real = pods / "0.log"
    real.write_bytes(b"a\n")
    link = containers / "app.log"
    link.symlink_to(real)
    tail = start(link)
    await tail.wait_lines(1)
    os.rename(real, pods / "0.log.20261130")  # the kubelet's rotation, in the target's directory
    append(pods / "0.log.20261130", b"late\n")
    real.write_bytes(b"n1\n")
    await tail.wait_lines(3)
    assert tail.texts == [b"a", b"late", b"n1"]
    assert tail.position.path == str(link), "positions name the configured path"
    await tail.stop()
    # A restart after a rotation while stopped finds the rotated file in the target's directory.
    append(real, b"n2\n")
    os.rename(real, pods / "0.log.20261201")
    real.write_bytes(b"m1\n")
    again = start(link, saved=tail.position)
    await again.wait_lines(2)
    assert again.texts == [b"n2", b"m1"]


async def test_a_configured_symlink_re_pointed(
    logs: Path, secret: Path, start, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-pointed within its target's directory: followed; elsewhere: not, with a warning."""
    (logs / "2026-11-30.jsonl").write_bytes(b"a\n")
    (logs / "2026-12-01.jsonl").write_bytes(b"b\n")
    link = logs / "current.jsonl"
    link.symlink_to("2026-11-30.jsonl")
    tail = start(link)
    await tail.wait_lines(1)
    _repoint(link, "2026-12-01.jsonl")
    await tail.wait_lines(2)
    _repoint(link, str(secret))
    await wait_logged(caplog, "outside", tail)
    append(logs / "2026-12-01.jsonl", b"c\n")  # still read: the file it pointed to before
    await tail.wait_lines(3)
    assert tail.texts == [b"a", b"b", b"c"]
    no_secret(tail)


def test_a_configured_symlink_is_resolved_once(logs: Path, secret: Path) -> None:
    link = logs / "current.jsonl"
    link.symlink_to(secret)
    where = TailedPath(link)
    assert where.watched == secret
    assert where.directory == secret.parent
    opened = where.open()
    assert opened is not None
    os.close(opened[0])


def test_swapping_again_and_again_warns_once_per_kind(
    logs: Path, secret: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = logs / "audit.jsonl"
    where = TailedPath(path)
    for n in range(20):  # each poll finds another outside target, or a directory
        if n % 2:
            path.mkdir()
        else:
            path.symlink_to(f"{secret}{'/.' * n}")
        assert where.look() is None
        _remove(path, "directory" if n % 2 else "link")
    assert len(warnings_of(caplog)) == 2
    path.write_bytes(b"a\n")
    opened = where.open()
    assert opened is not None
    os.close(opened[0])
    path.unlink()
    path.mkdir()
    assert where.look() is None
    assert len(warnings_of(caplog)) == 3, "a file opened in between: said again"


def _make(path: Path, kind: str) -> socket.socket | None:
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        return listener
    return None


def _remove(path: Path, kind: str) -> None:
    if kind == "directory":
        path.rmdir()
    else:
        path.unlink()


def _repoint(link: Path, target: str) -> None:
    """Re-point ``link`` in one step, as ``ln -sfn`` does (a new link renamed over it)."""
    new = link.with_name(link.name + ".new")
    new.symlink_to(target)
    os.replace(new, link)

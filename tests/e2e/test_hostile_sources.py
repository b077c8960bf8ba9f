"""The real CLI when its input is swapped or odd: a symlink or a directory in the log's place,
stdin from ``/dev/null``, a closed stdin, a terminal.

Each test runs ``shipper run`` in a subprocess against a fake webhook on
127.0.0.1 (or ``--dry-run``) and waits on what it logs or posts, with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import pty
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.cli import SHIPPER, StderrWatch, clean_env, start_watched, stop_watched
from tests.e2e.inputs import SIEM_WEBHOOK, audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Request, posted_seqs
from tests.support.files import append

SIEM = "/ingest/siemSECRETpath9"
SHADOW_SEQ = 999  # the event in the file standing for /etc/shadow


def write_config(tmp_path: Path, log: Path | None) -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "300ms"\ndrain_timeout = "5s"\ntimeout = "2s"'
    return config_file(tmp_path, log=log, delivery=delivery, channels=f"{SIEM_WEBHOOK}max_rate = 0")


def event(seq: int) -> bytes:
    return audit_line(seq)


def received(requests: list[Request]) -> list[int]:
    return posted_seqs(requests, SIEM)


async def wait_seqs(fake: FakeWebhook, *seqs: int) -> None:
    await fake.wait_for(lambda reqs: set(received(reqs)) >= set(seqs), 30)


# Every process a test started; the ``_no_leftovers`` fixture kills those still running when
# a test failed before stopping them.
_started: list[asyncio.subprocess.Process] = []


@pytest.fixture(autouse=True)
async def _no_leftovers() -> AsyncIterator[None]:
    yield
    while _started:
        proc = _started.pop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def start(config: Path, fake: FakeWebhook) -> tuple[asyncio.subprocess.Process, StderrWatch]:
    proc, watch = await start_watched(config, clean_env({"SIEM_URL": fake.to(SIEM)}))
    _started.append(proc)
    return proc, watch


async def stop(proc: asyncio.subprocess.Process, watch: StderrWatch) -> bytes:
    _, err = await stop_watched(proc, watch)
    assert b"Traceback" not in err, err.decode()
    assert b"siemSECRET" not in err
    return err


def assert_running(proc: asyncio.subprocess.Process) -> None:
    """It did not exit: a swapped path is a wait, never the end of the run."""
    assert proc.returncode is None


@pytest.fixture
def shadow(tmp_path: Path) -> Path:
    """A file in another directory holding a matching event: it stands for /etc/shadow."""
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "shadow"
    path.write_bytes(event(SHADOW_SEQ) * 3)
    return path


async def test_a_symlink_swapped_in_for_the_log_is_never_read(
    tmp_path: Path, fake: FakeWebhook, shadow: Path
) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "audit.jsonl"
    log.write_bytes(event(0))
    proc, watch = await start(write_config(tmp_path, log), fake)
    await wait_seqs(fake, 0)
    os.rename(log, log.with_name("audit.jsonl.1"))
    log.symlink_to(shadow)
    await watch.wait_for(b"outside its directory: not followed")
    append(log.with_name("audit.jsonl.1"), event(1))  # the old file is still followed
    await wait_seqs(fake, 1)
    log.unlink()
    log.write_bytes(event(2))  # a regular file again: read
    await wait_seqs(fake, 2)
    assert_running(proc)
    await stop(proc, watch)
    assert proc.returncode == 0
    assert received(fake.requests) == [0, 1, 2], "the symlinked file was never posted"


@pytest.mark.parametrize("kind", ["directory", "fifo", "socket"])
async def test_something_else_in_the_logs_place_is_a_warning_and_a_wait(
    tmp_path: Path, fake: FakeWebhook, kind: str
) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "audit.jsonl"
    log.write_bytes(event(0))
    proc, watch = await start(write_config(tmp_path, log), fake)
    await wait_seqs(fake, 0)
    os.rename(log, log.with_name("audit.jsonl.1"))
    listener = None
    if kind == "directory":
        log.mkdir()
        (log / "inside.jsonl").write_bytes(event(SHADOW_SEQ))
    elif kind == "fifo":
        os.mkfifo(log)
    else:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(log))
    try:
        await watch.wait_for(b"not a regular file; waiting for a regular file")
        assert_running(proc)
        if kind == "directory":
            (log / "inside.jsonl").unlink()
            log.rmdir()
        else:
            log.unlink()
    finally:
        if listener is not None:
            listener.close()
    log.write_bytes(event(1))
    await wait_seqs(fake, 1)
    err = await stop(proc, watch)
    assert proc.returncode == 0
    assert b"cannot keep events on disk" not in err
    assert received(fake.requests) == [0, 1]


async def test_a_directory_at_start_is_waited_past(tmp_path: Path, fake: FakeWebhook) -> None:
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "audit.jsonl"
    log.mkdir()
    proc, watch = await start(write_config(tmp_path, log), fake)
    await watch.wait_for(b"is a directory, not a regular file")
    log.rmdir()
    log.write_bytes(event(0))
    await wait_seqs(fake, 0)
    await stop(proc, watch)
    assert proc.returncode == 0


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_stdin_from_dev_null_is_an_empty_input(tmp_path: Path, dry_run: bool) -> None:
    """``docker run -d`` without ``-i``: stdin is /dev/null, which epoll cannot watch."""
    args = ["--dry-run"] if dry_run else []
    result = subprocess.run(
        [str(SHIPPER), "run", "-c", str(write_config(tmp_path, None)), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=clean_env({"SIEM_URL": "http://127.0.0.1:9/never-posted"}),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert b"read 0 lines" in result.stderr
    assert result.stdout == b""


def test_a_closed_stdin_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "sh",
            "-c",
            'exec "$@" <&-',
            "sh",
            str(SHIPPER),
            "run",
            "-c",
            str(write_config(tmp_path, None)),
        ],
        capture_output=True,
        env=clean_env({"SIEM_URL": "http://127.0.0.1:9/never-posted"}),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr.decode()
    assert b"stdin is closed" in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize(("closing", "fd"), [("<&-", 0), (">&-", 1)])
async def test_a_closed_stdin_or_stdout_does_not_matter_when_tailing_a_file(
    tmp_path: Path, fake: FakeWebhook, closing: str, fd: int
) -> None:
    """The closed descriptor is opened on /dev/null: no file of the run takes its number,
    where a write meant for it would land."""
    log = tmp_path / "audit.jsonl"
    log.write_bytes(event(0))
    config = write_config(tmp_path, log)
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        f'exec "$@" {closing}',
        "sh",
        str(SHIPPER),
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env({"SIEM_URL": fake.to(SIEM)}),
    )
    _started.append(proc)
    watch = StderrWatch(proc)
    await watch.wait_for(b"started: reading", deadline=20)
    await wait_seqs(fake, 0)
    assert os.readlink(f"/proc/{proc.pid}/fd/{fd}") == os.devnull
    await stop(proc, watch)
    assert proc.returncode == 0


@pytest.mark.parametrize("devnull", [os.devnull, "/nonexistent/null"])
def test_closed_standard_descriptors_are_opened_on_dev_null_when_it_can_be_opened(
    devnull: str,
) -> None:
    """stdin and stderr closed: both name /dev/null after the call; without a /dev/null to
    open, the call returns and leaves them closed, with no error."""
    probe = (
        "import os\n"
        f"os.devnull = {devnull!r}\n"
        "from shipper.cli.main import open_standard_descriptors\n"
        "open_standard_descriptors()\n"
        "names = []\n"
        "for fd in (0, 2):\n"
        "    try:\n"
        "        names.append(os.readlink(f'/proc/self/fd/{fd}'))\n"
        "    except OSError:\n"
        "        names.append('closed')\n"
        "print(' '.join(names))\n"
    )
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" <&- 2>&-', "sh", sys.executable, "-c", probe],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode()
    opened = "/dev/null /dev/null" if devnull == os.devnull else "closed closed"
    assert result.stdout.decode().split() == opened.split()


@pytest.mark.parametrize("end", ["ctrl-d", "hangup"])
async def test_a_terminal_on_stdin_is_read_until_it_ends(tmp_path: Path, end: str) -> None:
    """``docker run -t`` gives a terminal: typed lines are read; Ctrl-D or a hang-up ends it."""
    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(SHIPPER),
            "run",
            "-c",
            str(write_config(tmp_path, None)),
            "--dry-run",
            stdin=slave,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        _started.append(proc)
    finally:
        os.close(slave)
    try:
        watch = StderrWatch(proc)
        await watch.wait_for(b"stdin is a terminal", deadline=20)
        os.write(master, event(0))
        assert proc.stdout is not None
        printed = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert orjson.loads(printed)["payload"]["seq"] == 0
        if end == "ctrl-d":
            os.write(master, b"\x04")
    finally:
        os.close(master)
    await asyncio.wait_for(proc.wait(), 20)
    err = await watch.finish()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err

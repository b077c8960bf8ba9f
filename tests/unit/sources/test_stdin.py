"""Reading stdin when it is not a pipe: ``/dev/null`` and a terminal that hangs up.

Real descriptors (``/dev/null``, a pseudo-terminal from ``pty.openpty``) read by
the real ``read_lines``; deadlines instead of sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
from collections.abc import Iterator

import pytest

from shipper.sources.stdin import read_lines


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal: the side a user types into and the side read as stdin."""
    master, slave = pty.openpty()
    yield master, slave
    for fd in (master, slave):
        with contextlib.suppress(OSError):  # the master closed by the test: the hang-up
            os.close(fd)


async def test_stdin_from_dev_null_is_read_in_a_thread_and_ends() -> None:
    """The event loop cannot watch /dev/null (epoll refuses it): read it in a thread."""
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        async with asyncio.timeout(10):
            assert [lines async for lines in read_lines(fd, 1000)] == [], "an empty input, ended"
    finally:
        os.close(fd)


async def test_a_terminal_that_hangs_up_ends_the_input(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    async with asyncio.timeout(10):
        batches = aiter(read_lines(slave, 1000))
        os.write(master, b'{"seq": 0}\n')
        assert list(await anext(batches)) == [(1, b'{"seq": 0}')]
        os.close(master)
        assert [lines async for lines in batches] == [], "a hang-up ends the input"


async def test_a_terminal_read_failing_with_eio_at_its_hang_up_ends_the_input(
    terminal: tuple[int, int], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Between the other side's close and the kernel's hang-up a read answers EIO (a blocked
    reader always sees it); the event loop reads too seldom to land there on demand, so the
    kernel's answer is given in its place once the other side has closed."""
    master, slave = terminal
    closed = False
    real_read = os.read
    typed_into = os.fstat(slave).st_rdev  # asyncio reads a copy of the descriptor

    def read(fd: int, n: int) -> bytes:
        if closed and os.fstat(fd).st_rdev == typed_into:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read)
    caplog.set_level(logging.INFO, "shipper.sources.stdin")
    async with asyncio.timeout(10):
        batches = aiter(read_lines(slave, 1000))
        os.write(master, b'{"seq": 0}\n')
        assert list(await anext(batches)) == [(1, b'{"seq": 0}')]
        closed = True
        os.close(master)
        assert [lines async for lines in batches] == [], "EIO at the hang-up ends the input"
    assert "terminal hung up" in caplog.text

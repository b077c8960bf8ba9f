"""Read numbered lines from standard input (or any file descriptor) until end of input.

A pipe, socket or terminal is read through the event loop (non-blocking), so a
signal can stop the reading at any moment. What the loop cannot watch is read
in a worker thread instead: a regular file redirected to stdin (a read never
waits for a writer there) and a character device such as ``/dev/null``, stdin
under ``docker run -d`` without ``-i`` (an empty input: it ends at once).
Lines come out in batches, one per chunk read, to keep the per-line cost of the
pipeline low. ``stdin_problem`` says, before any reading starts, why stdin
cannot be read at all (it is closed): a usage error for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import selectors
import stat
from collections.abc import AsyncIterator
from typing import IO, Any

from shipper.sources.lines import Lines, LineSplitter

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024


def stdin_problem(stdin: IO[Any] | None) -> str | None:
    """Why ``stdin`` (``sys.stdin``) cannot be read, or ``None`` if it can.

    Python sets ``sys.stdin`` to ``None`` when it started with descriptor 0 closed
    (``shipper run <&-``); descriptor 0 names ``/dev/null`` since (``cli.main``), not
    events. (A directory on stdin stops Python itself.)
    """
    if stdin is None:
        return "stdin is closed: give a file to tail ([source].path or --input FILE)"
    return None


async def read_lines(fd: int, max_line_bytes: int) -> AsyncIterator[Lines]:
    """Yield batches of lines read from ``fd``; the last line may lack its newline."""
    splitter = LineSplitter(max_line_bytes)
    async for chunk in _chunks(fd):
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    rest = splitter.finish()
    if rest:
        yield rest


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    if stat.S_ISREG(os.fstat(fd).st_mode) or not _is_pollable(fd):
        async for chunk in _thread_chunks(fd):
            yield chunk
        return
    terminal = os.isatty(fd)
    if terminal:
        # Under `docker run -t` without `-i` nobody ever types: say what we wait for.
        log.info("stdin is a terminal: reading the lines typed there until Ctrl-D")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK_BYTES)
    # The transport closes the descriptor it is given, so give it a copy; O_NONBLOCK is
    # shared by both copies and is undone at the end for whoever reads stdin after us.
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while chunk := await _read_or_hang_up(reader, terminal):
            yield chunk
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)


async def _read_or_hang_up(reader: asyncio.StreamReader, terminal: bool) -> bytes:
    """The next chunk, or ``b""`` at the end, a terminal's hang-up included.

    A terminal that hangs up (the pseudo-terminal's other side closed: ``docker run -t``
    ended, an ssh session dropped) reads as EIO between the close and the kernel's hang-up,
    and as an end of input after it; which one a reader sees is down to timing.
    """
    try:
        return await reader.read(CHUNK_BYTES)
    except OSError as exc:
        if not terminal or exc.errno != errno.EIO:
            raise
        log.info("stdin's terminal hung up: that is the end of the input")
        return b""


def _is_pollable(fd: int) -> bool:
    """Whether the event loop can watch ``fd``: epoll refuses regular files and devices
    such as ``/dev/null``, and the loop would only say so later, in a logged traceback,
    leaving the reader waiting forever."""
    with selectors.DefaultSelector() as probe:
        try:
            probe.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True


async def _thread_chunks(fd: int) -> AsyncIterator[bytes]:
    """Read in a thread, one chunk ahead of the one being parsed."""
    loop = asyncio.get_running_loop()
    ahead = loop.run_in_executor(None, os.read, fd, CHUNK_BYTES)
    try:
        while chunk := await ahead:
            ahead = loop.run_in_executor(None, os.read, fd, CHUNK_BYTES)
            yield chunk
    finally:
        # Stopped early: the read ahead is dropped, and so is any error it ends with.
        ahead.add_done_callback(_drop_outcome)


def _drop_outcome(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()

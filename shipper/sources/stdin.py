"""Read numbered lines from standard input (or any file descriptor) until end of input.

A pipe or terminal is read through the event loop (non-blocking), so a signal
can stop the reading at any moment. A regular file redirected to stdin cannot
be watched that way; it is read in a worker thread, where a read never waits
for a writer. Lines come out in batches, one per chunk read, to keep the
per-line cost of the pipeline low.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator

from shipper.sources.lines import Lines, LineSplitter

CHUNK_BYTES = 512 * 1024


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
    if stat.S_ISREG(os.fstat(fd).st_mode):
        async for chunk in _file_chunks(fd):
            yield chunk
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK_BYTES)
    # The transport closes the descriptor it is given, so give it a copy; O_NONBLOCK is
    # shared by both copies and is undone at the end for whoever reads stdin after us.
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while chunk := await reader.read(CHUNK_BYTES):
            yield chunk
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)


async def _file_chunks(fd: int) -> AsyncIterator[bytes]:
    """Read a regular file in a thread, one chunk ahead of the one being parsed."""
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

"""Events piped to a run that tails a file: refused, never dropped without a word.

``my-gateway | shipper run -c config.toml`` with ``[source] path`` set tails the
file, as the input order says (``--input``, else ``path``, else stdin), and the
pipe would go unread: its writer blocks once the pipe is full, and its events
never arrive. A run reads one input, so this is a usage error (exit 2), told as
soon as it is known: at start when stdin already holds data (a pipe with bytes
waiting, or a non-empty file redirected to it), else the moment the first byte
arrives on the pipe. A pipe that only ends (a harness's or a supervisor's empty
stdin) is no conflict, nor are a terminal and ``/dev/null``. Passing ``--input``
says which input is meant, and nothing here is checked then.

The bytes are counted with ``FIONREAD`` and never read: they stay for whoever
reads the pipe next.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import shlex
import stat
import termios
from collections.abc import Callable
from typing import IO, Any, Literal

Piped = Literal["data", "pipe"]


def piped_input(stdin: IO[Any] | None) -> Piped | None:
    """``"data"``: stdin holds bytes now; ``"pipe"``: a pipe or socket, empty for now;
    ``None``: a terminal, ``/dev/null``, an empty file, or closed."""
    if stdin is None:
        return None
    try:
        fd = stdin.fileno()
        st = os.fstat(fd)
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode):
        try:
            at = os.lseek(fd, 0, os.SEEK_CUR)
        except OSError:
            at = 0
        return "data" if st.st_size > at else None
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return "data" if waiting_bytes(fd) > 0 else "pipe"
    return None


def waiting_bytes(fd: int) -> int:
    """How many bytes can be read from the pipe or socket ``fd`` without waiting."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count, True)
    except OSError:
        return 0
    return count[0]


def conflict_message(path: str) -> str:
    """What the user is told: which input a run would read, and how to choose."""
    return (
        f"events were given on stdin, but [source] path names {path}, and a run reads one "
        f"input: pass --input - to read stdin, or --input {shlex.quote(path)} to tail the "
        "file (with stdin from /dev/null)"
    )


class PipeWatch:
    """Calls ``on_data`` once if bytes arrive on pipe ``fd``; forgets the pipe at its end."""

    def __init__(self, fd: int, on_data: Callable[[], None]) -> None:
        self._fd = fd
        self._on_data = on_data
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)

    @property
    def is_watching(self) -> bool:
        return self._loop is not None

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    def _readable(self) -> None:
        has_data = waiting_bytes(self._fd) > 0
        self.stop()  # data or the end of the pipe: either way, once
        if has_data:
            self._on_data()

"""Waking a file tail when its directory changes: Linux inotify, through ctypes.

A tail that polls finds an appended line up to one poll interval late, and
polling faster costs wake-ups on a quiet file. ``DirectoryWatch`` asks the
kernel instead: one inotify instance watching the directory of the tailed
file for writes to any file in it and for names created, moved or deleted
(rotation). ``wait`` blocks the tail's reading thread until something
changed, ``wake`` is called (a stop), or its timeout passed, so a tail still
polls: what inotify does not see (a file on NFS or FUSE written by another
machine, a write through a hard link in another directory, a symlink
re-pointed in another directory) is found by the poll, as before.

No third-party binding: the three calls (``inotify_init1``,
``inotify_add_watch``, ``inotify_rm_watch``) are libc's, and the events are
only drained, never parsed: any change means "look at the file again", which
is what a poll does. Where inotify is missing (not Linux, no libc, the
per-user instance or watch limit reached) ``wait`` is a plain timeout: the
tail then polls as it always did.

Limits: a busy neighbour (another log written in the same directory) wakes
the tail on each of its writes; each wake costs what a poll costs (an
``fstat`` and an ``lstat``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ONLYDIR = 0x01000000
_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
# Events are drained, not kept, into one buffer made once (a read per wake-up allocates
# nothing); a read that fills it is followed by another.
_READ_BYTES = 16 * 1024


class _Libc:
    def __init__(self) -> None:
        # The process's own symbols, libc's among them: no ctypes.util, which costs
        # about 2 MB of imports to find a library already loaded.
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int


_libc: _Libc | None = None


def _load() -> _Libc | None:
    global _libc
    if _libc is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError):  # no libc, or one without inotify
            return None
    return _libc


class DirectoryWatch:
    """Changes in one directory, as a wake-up for ``wait``; see the module docstring.

    Used by the one thread that reads the tailed file: ``wait`` blocks that thread.
    ``wake`` may be called from any thread. ``close`` it from the reading thread.
    """

    def __init__(self, libc: _Libc | None, fd: int) -> None:
        self._libc = libc
        self._fd = fd
        self._wd = -1
        self._directory: Path | None = None
        # A stop wakes the reading thread at once instead of after its poll interval.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # A wake from another thread never writes to a descriptor number closed meanwhile
        # (and perhaps reused for another file).
        self._closing = threading.Lock()
        self._poll = select.poll()
        self._drained = bytearray(_READ_BYTES)
        self._poll.register(self._wake_r, select.POLLIN)
        if fd >= 0:
            self._poll.register(fd, select.POLLIN)

    @classmethod
    def open(cls, directory: Path) -> DirectoryWatch:
        """A watch on ``directory``; where inotify cannot be used, ``wait`` only times out
        (the tail polls)."""
        libc = _load()
        fd = -1 if libc is None else libc.init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if libc is not None and fd < 0:
            log.info(
                "inotify is not available (%s): polling the file instead",
                os.strerror(ctypes.get_errno()),
            )
        try:
            watch = cls(libc, fd)
        except BaseException:  # no wake-up pipe (out of descriptors): nobody else closes it
            if fd >= 0:
                os.close(fd)
            raise
        watch.watch(directory)
        return watch

    def watch(self, directory: Path) -> None:
        """Watch ``directory`` (again, or instead of the one watched).

        A directory that is missing or cannot be watched is not an error: ``wait``
        then only times out (polling), and the tail calls this again once it opens
        a file.
        """
        if self._fd < 0 or self._libc is None:
            return
        # Added again even for the same path: that directory may have been replaced (the
        # kernel dropped the old watch with it); for the same one it is a no-op.
        if self._wd >= 0 and directory != self._directory:
            self._libc.rm_watch(self._fd, self._wd)
            self._wd = -1
        self._directory = directory
        self._wd = self._libc.add_watch(self._fd, os.fsencode(directory), _MASK)
        if self._wd < 0:
            self._directory = None
            log.debug(
                "%s: cannot watch it with inotify (%s): polling it",
                directory,
                os.strerror(ctypes.get_errno()),
            )

    def wait(self, at_most: float) -> None:
        """Block until something changed in the directory since the last call, ``wake``
        was called, or ``at_most`` seconds passed."""
        # Events that came while the tail was reading wait in the kernel's queue
        # (consecutive writes to one file make one event): they end this wait at once.
        ready = self._poll.poll(max(0, int(at_most * 1000)))
        for fd, _ in ready:
            self._drain(fd)

    def wake(self) -> None:
        """End a ``wait`` under way, or the next one, at once (from any thread)."""
        with self._closing:
            if self._wake_w < 0:
                return
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending
                os.write(self._wake_w, b"\0")

    def close(self) -> None:
        with self._closing:
            for fd in (self._fd, self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)  # the inotify descriptor's watches go with it
            self._fd = self._wake_r = self._wake_w = -1

    def _drain(self, fd: int) -> None:
        try:
            while os.readv(fd, (self._drained,)) == _READ_BYTES:
                pass
        except BlockingIOError:
            pass
        except OSError as exc:  # not expected from an inotify descriptor: poll from now on
            log.debug("inotify read failed (%s): polling the file instead", exc)
            if fd == self._fd:
                self._poll.unregister(fd)
                os.close(fd)
                self._fd = -1

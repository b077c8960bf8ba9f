"""Files in the state directory: opened only if they are what they claim, and small files
that must survive a crash.

Trust. Another local user must not be able to steer shipper's writes or reads
through the state directory. ``ensure_private_dir`` creates a directory 0700,
or accepts an existing one only if it is a real directory (not a link) owned
by the user shipper runs as and not writable by group or others: then no one
else can plant a link, a FIFO or a file in it. ``open_private`` opens every
file in it without following a symbolic link (``O_NOFOLLOW``) and without
blocking (``O_NONBLOCK``, so a FIFO cannot hang a start), and keeps the file
only if ``fstat`` says it is a regular file; new files are 0600. What fails
raises ``UntrustedPathError``, an ``OSError`` whose message names the path
and says how to fix it, so every caller's ``OSError`` handling covers it.

Durability. Cursors, read positions and the replay inbox all rely on the same
two steps: write a temporary file and fsync it, rename it over the old one,
then fsync the directory, because a rename is durable only once its directory
is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "UntrustedPathError",
    "ensure_private_dir",
    "fsync_directory",
    "open_private",
    "open_private_reader",
    "read_private",
    "write_atomic",
]

# What an open of a link (O_NOFOLLOW), a directory (for writing) or a FIFO or socket
# without a peer (O_NONBLOCK) fails with: the path is then described, not the errno.
_NOT_A_FILE_ERRNOS = (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP)
_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_WRITERS = ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "other users"))


class UntrustedPathError(OSError):
    """A path in the state directory that shipper will not use, and how to fix it.

    ``errno`` is ``None``: the message is the whole story.
    """


def ensure_private_dir(path: Path, *, follow: bool = False) -> None:
    """Create ``path`` (and missing parents) mode 0700, or check the directory that is there.

    ``follow``: ``path`` may be a symbolic link to the directory (the state
    directory itself, as configured; systemd's ``DynamicUser`` makes it one).
    Raises ``UntrustedPathError`` when it is not a directory, not owned by this
    user or writable by group or others; ``OSError`` when it cannot be created.
    """
    with contextlib.suppress(FileExistsError):
        try:
            os.mkdir(path, 0o700)
        except FileNotFoundError:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
    st = os.stat(path) if follow else os.lstat(path)
    quoted = shlex.quote(str(path))
    if not stat.S_ISDIR(st.st_mode):
        raise UntrustedPathError(
            f"{path} is {_kind(st.st_mode)}, not a directory; "
            f"move it away (shipper creates the directory): mv {quoted} {quoted}.invalid"
        )
    uid = os.geteuid()
    if st.st_uid != uid:
        raise UntrustedPathError(
            f"{path} belongs to uid {st.st_uid}, but shipper runs as uid {uid}: its owner "
            "could plant links there that make shipper overwrite or read other files. "
            "Give it to this user: chown -R "
            f"{uid}:{os.getegid()} {quoted} && chmod 700 {quoted}"
        )
    writers = [who for bit, who in _WRITERS if st.st_mode & bit]
    if writers:
        raise UntrustedPathError(
            f"{path} is writable by {' and '.join(writers)} "
            f"(mode {stat.S_IMODE(st.st_mode):04o}): they could plant links there that make "
            f"shipper overwrite or read other files. Make it private: chmod 700 {quoted}"
        )


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` for a file in the state directory: never through a link, never blocking,
    and only a regular file (created ``mode``); ``UntrustedPathError`` otherwise."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in _NOT_A_FILE_ERRNOS:
            _raise_if_not_a_file(path)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_a_file(path, st.st_mode)
        # A regular file never blocks; later reads and writes behave as without it.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_reader(path: Path, buffering: int = -1) -> BinaryIO:
    """A file in the state directory opened for reading, as ``open(path, "rb")`` would."""
    return os.fdopen(open_private(path, os.O_RDONLY), "rb", buffering)


def read_private(path: Path) -> bytes:
    """The content of a file in the state directory (``Path.read_bytes``, checked)."""
    with open_private_reader(path) as f:
        return f.read()


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content.

    One fixed temporary name per file: only one run owns a state directory (its
    lock). The temporary file is created exclusively, so whatever sits at its
    name (one left by a crash, or a planted link) is removed, never written through.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = open_private(tmp, flags)
    except FileExistsError:
        try:
            tmp.unlink()
        except OSError:
            _raise_if_not_a_file(tmp)
            raise
        fd = open_private(tmp, flags)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        # A rename replaces a link at ``path`` itself, never the file it points to.
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.EISDIR, errno.ENOTEMPTY):
            _raise_if_not_a_file(path)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make new, renamed or removed entries of ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _raise_if_not_a_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_file(path, st.st_mode)


def _not_a_file(path: Path, mode: int) -> UntrustedPathError:
    quoted = shlex.quote(str(path))
    return UntrustedPathError(
        f"{path} is {_kind(mode)}, not a regular file: shipper neither follows links nor "
        f"uses special files in its state directory; move it away: mv {quoted} {quoted}.invalid"
    )


def _kind(mode: int) -> str:
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")

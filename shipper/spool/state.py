"""The state directory: its layout, the lock that keeps two runs apart, and the replay inbox.

    <state_dir>/
      lock                      held (flock) by the running ``shipper run``
      position.json             where the tailed file was read up to
      spool/<channel>/          each channel's durable backlog
      dead-letter/<channel>.jsonl
      replay/<channel>.<ns>.jsonl  dead letters ``shipper replay`` handed back, waiting to be
                                re-queued by the next or the running ``shipper run``

Trust (``durable``): the directory and each one shipper uses in it must be
owned by the user shipper runs as and writable by no one else, and every file
in them is opened without following links and used only if it is a regular
file. ``prepare`` checks what a run starts with, so a start refuses a state
directory that another user could steer, with the command that fixes it.

``shipper replay`` only renames files (atomic within one file system), so it
never writes into a spool that a running process owns; the run picks the
files up, appends their events to the channel's spool, and deletes them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipper.config.channel_files import file_name_for
from shipper.durable import (
    UntrustedPathError,
    ensure_private_dir,
    fsync_directory,
    open_private,
    open_private_reader,
)
from shipper.errors import StateError

__all__ = ["StateDir", "file_name_for"]

_LOCK = "lock"
_SPOOL = "spool"
_REPLAY = "replay"
_DEAD_LETTER = "dead-letter"  # deadletter.DEAD_LETTER_DIR (that module imports this one)
_KINDS = "kinds"


class StateDir:
    """Paths under one state directory, and the operations on it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def position_path(self) -> Path:
        """Where the tailed file's read position is saved."""
        return self.root / "position.json"

    def spool_dir(self, channel: str) -> Path:
        """The directory of a channel's durable backlog."""
        return self.root / _SPOOL / file_name_for(channel)

    @property
    def replay_dir(self) -> Path:
        """Dead-letter files handed back by ``shipper replay``."""
        return self.root / _REPLAY

    @property
    def kinds_dir(self) -> Path:
        """Files a kind of destination keeps across restarts (a Splunk channel id, a Slack
        app's threads), one or more a kind, named after it; created by whoever writes one."""
        return self.root / _KINDS

    def prepare(self) -> None:
        """Create the directory (mode 0700), check that it and what shipper keeps in it can
        be trusted, and prove it is writable; ``StateError`` otherwise."""
        try:
            ensure_private_dir(self.root, follow=True)
            self.check_contents()
            probe = self.root / f".probe.{os.getpid()}"
            probe.unlink(missing_ok=True)
            fd = open_private(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                os.write(fd, b"x")
                os.fsync(fd)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(
                exc, UntrustedPathError
            ):
                # Writable, only full: a run can still deliver its backlog and so free
                # room (and it pauses reading while there is none).
                return
            raise _state_error(self.root, exc) from exc

    def check_contents(self) -> None:
        """Check the directories and files shipper keeps in the state directory, where they
        exist: ``UntrustedPathError`` for a link, a special file, or a directory that
        another user owns or may write to. Each spool's own files are checked as it opens."""
        for path in (self.root / _LOCK, self.position_path):
            if os.path.lexists(path):
                _check_file(path)
        for name in (_SPOOL, _DEAD_LETTER, _REPLAY, _KINDS):
            directory = self.root / name
            if not os.path.lexists(directory):
                continue
            ensure_private_dir(directory)
            for entry in sorted(os.listdir(directory)):
                if name == _SPOOL:
                    ensure_private_dir(directory / entry)
                else:
                    _check_file(directory / entry)

    def check(self) -> None:
        """For commands that only touch what a run made (``replay``): ``StateError`` unless
        the directory and its contents can be trusted."""
        try:
            ensure_private_dir(self.root, follow=True)
            self.check_contents()
        except OSError as exc:
            raise _state_error(self.root, exc) from exc

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for this run; ``StateError`` if another run holds it."""
        try:
            fd = open_private(self.root / _LOCK, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise _state_error(self.root, exc) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StateError(
                        f"another shipper run is using {self.root}; "
                        "give each run its own source.state_dir"
                    ) from None
                raise
            yield
        finally:
            os.close(fd)

    def queue_replay(self, channel: str, dead_letter: Path) -> int | None:
        """Hand a dead-letter file back for re-delivery; how many lines it holds, ``None``
        when there is none. ``StateError`` when it or the inbox cannot be used."""
        try:
            try:
                with open_private_reader(dead_letter) as lines:
                    count = sum(1 for _ in lines)
            except FileNotFoundError:
                return None
            if count == 0:
                return None
            ensure_private_dir(self.replay_dir)
            target = self.replay_dir / f"{file_name_for(channel)}.{time.time_ns()}.jsonl"
            os.replace(dead_letter, target)
            fsync_directory(self.replay_dir)
            fsync_directory(dead_letter.parent)
        except OSError as exc:
            raise _state_error(self.root, exc) from exc
        return count

    def pending_replays(self, channel: str) -> list[Path]:
        """The replay files waiting for ``channel``, oldest first."""
        prefix = file_name_for(channel) + "."
        try:
            names = os.listdir(self.replay_dir)
        except FileNotFoundError:
            return []
        found = [n for n in names if n.startswith(prefix) and n[len(prefix) : -6].isdigit()]
        return [self.replay_dir / n for n in sorted(found, key=lambda n: int(n[len(prefix) : -6]))]


def _check_file(path: Path) -> None:
    os.close(open_private(path, os.O_RDONLY))


def _state_error(root: Path, exc: OSError) -> StateError:
    if isinstance(exc, UntrustedPathError):
        return StateError(f"refusing the state directory {root}: {exc}")
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(root) else ""
    return StateError(
        f"cannot use the state directory {root}{where}: {exc.strerror or exc}; "
        "set source.state_dir to a writable directory"
    )

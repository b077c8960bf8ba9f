"""The state directory: its layout, the lock that keeps two runs apart, and the replay inbox.

    <state_dir>/
      lock                      held (flock) by the running ``shipper run``
      position.json             where the tailed file was read up to
      spool/<channel>/          each channel's durable backlog
      dead-letter/<channel>.jsonl
      replay/<channel>.<ns>.jsonl  dead letters ``shipper replay`` handed back, waiting to be
                                re-queued by the next or the running ``shipper run``

``shipper replay`` only renames files (atomic within one file system), so it
never writes into a spool that a running process owns; the run picks the
files up, appends their events to the channel's spool, and deletes them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipper.durable import fsync_directory
from shipper.errors import StateError

# Channel names are TOML keys and may hold any character; a file name must not.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name_for(channel: str) -> str:
    """A channel's name made safe to use as a file or directory name."""
    return _UNSAFE.sub("_", channel).lstrip(".") or "_"


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
        return self.root / "spool" / file_name_for(channel)

    @property
    def replay_dir(self) -> Path:
        """Dead-letter files handed back by ``shipper replay``."""
        return self.root / "replay"

    def prepare(self) -> None:
        """Create the directory (mode 0700) and prove it is writable, or raise ``StateError``."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = self.root / f".probe.{os.getpid()}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"x")
                os.fsync(fd)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # Writable, only full: a run can still deliver its backlog and so free
                # room (and it stops reading cleanly while there is none).
                return
            raise StateError(
                f"cannot use the state directory {self.root}: {exc.strerror or exc}; "
                "set source.state_dir to a writable directory"
            ) from exc

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for this run; ``StateError`` if another run holds it."""
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
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

    def queue_replay(self, channel: str, dead_letter: Path) -> Path | None:
        """Hand a dead-letter file back for re-delivery; ``None`` when there is none."""
        if not dead_letter.exists() or dead_letter.stat().st_size == 0:
            return None
        self.replay_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.replay_dir / f"{file_name_for(channel)}.{time.time_ns()}.jsonl"
        os.replace(dead_letter, target)
        fsync_directory(self.replay_dir)
        fsync_directory(dead_letter.parent)
        return target

    def pending_replays(self, channel: str) -> list[Path]:
        """The replay files waiting for ``channel``, oldest first."""
        prefix = file_name_for(channel) + "."
        try:
            names = os.listdir(self.replay_dir)
        except FileNotFoundError:
            return []
        found = [n for n in names if n.startswith(prefix) and n[len(prefix) : -6].isdigit()]
        return [self.replay_dir / n for n in sorted(found, key=lambda n: int(n[len(prefix) : -6]))]

"""Dead letters: the events a channel gave up on, kept on disk with the reason.

``DeadLetters.write`` appends one JSON line per alert to
``<state_dir>/dead-letter/<channel>.jsonl``: ``{"time", "channel", "reason",
"attempts", "line", "event"}``. ``shipper replay`` reads the same files back
(``path_for`` names them). Each write is flushed and fsynced before it
returns, because the caller acknowledges the alerts in its backlog right
after: once written, a dead letter must survive a crash. A write that fails (a
full disk) is cut back to where the file ended, so the file never holds a torn
line nor a dead letter the worker will still try to deliver.

The write is a plain blocking ``os.write``: dead letters are rare and small.
The channel worker calls the whole write through ``asyncio.to_thread``, one
thread hop, so that an fsync on a slow disk never stalls the other channels'
posts; aiofiles would make each of open, write, flush, fsync and close a hop of
its own, and took 2.4 times as long (``bench/aiofiles_io.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from shipper.durable import ensure_private_dir, fsync_directory, open_private
from shipper.routing.event import Alert
from shipper.spool.state import file_name_for

DEAD_LETTER_DIR = "dead-letter"


class DeadLetterSink(Protocol):
    """Where a channel worker puts what it gave up on."""

    def write(self, channel_name: str, alerts: Sequence[Alert], reason: str, attempts: int) -> None:
        """Keep ``alerts`` durably with the reason; raise ``OSError`` when that is impossible."""


class DeadLetters:
    """Per-channel JSON-lines dead-letter files under ``state_dir``."""

    def __init__(self, state_dir: Path, *, now: Callable[[], float] = time.time) -> None:
        self.directory = state_dir / DEAD_LETTER_DIR
        self._now = now

    def path_for(self, channel_name: str) -> Path:
        """The dead-letter file of a channel."""
        return self.directory / f"{file_name_for(channel_name)}.jsonl"

    def write(self, channel_name: str, alerts: Sequence[Alert], reason: str, attempts: int) -> None:
        if not alerts:
            return
        stamp = datetime.fromtimestamp(self._now(), UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        data = b"".join(
            orjson.dumps(_record(stamp, channel_name, reason, attempts, alert)) + b"\n"
            for alert in alerts
        )
        ensure_private_dir(self.directory)
        path = self.path_for(channel_name)
        is_new = not path.exists()
        # Dead letters hold whole events, which may be sensitive: owner-only. Read too:
        # a torn last line is found and cut.
        fd = open_private(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            size = _whole_lines(fd, os.fstat(fd).st_size)
            try:
                if size != os.fstat(fd).st_size:
                    os.ftruncate(fd, size)  # a write cut short by a crash: never acknowledged
                _write_all(fd, data)
                os.fsync(fd)
                if is_new:
                    fsync_directory(self.directory)
            except OSError:
                # Not written means not acknowledged: the worker keeps the alerts and may
                # deliver them later, so no line of this write may stay (a torn one, or a
                # whole one that would be a false dead letter). Shrinking needs no room.
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)


def _whole_lines(fd: int, size: int) -> int:
    """Where the last whole line of the file ends (``size`` unless it ends torn)."""
    end, chunk = size, 4096
    while end > 0:
        start = max(0, end - chunk)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _record(stamp: str, channel: str, reason: str, attempts: int, alert: Alert) -> dict[str, Any]:
    event = alert.raw if isinstance(alert.raw, dict) else dict(alert.raw)
    return {
        "time": stamp,
        "channel": channel,
        "reason": reason,
        "attempts": attempts,
        "line": alert.line,
        "event": event,
    }

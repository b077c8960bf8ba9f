"""Dead letters: the events a channel gave up on, kept on disk with the reason.

``DeadLetters.write`` appends one JSON line per alert to
``<state_dir>/dead-letter/<channel>.jsonl``: ``{"time", "channel", "reason",
"attempts", "line", "event"}``. ``shipper replay`` reads the same files back
(``path_for`` names them). Each write is flushed and fsynced before it
returns, because the caller acknowledges the alerts in its backlog right
after: once written, a dead letter must survive a crash.

The write is a plain blocking ``os.write``: dead letters are rare and small,
and aiofiles would only move the same blocking call to a thread. The channel
worker calls it through ``asyncio.to_thread`` so that an fsync on a slow disk
never stalls the other channels' posts.
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
from shipper.event import Alert
from shipper.state import file_name_for

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
        # Dead letters hold whole events, which may be sensitive: owner-only.
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if is_new:
            fsync_directory(self.directory)


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

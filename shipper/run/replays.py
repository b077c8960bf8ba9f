"""Dead letters handed back by ``shipper replay``, queued again by the run.

``shipper replay`` moves a channel's dead-letter file into the state
directory's replay inbox; ``ReplayInbox.take`` (at start, then every second)
appends each dead letter's event to that channel's spool, under the run's
spool lock, and deletes the file once the spool is durable. A file is read in
batches, so a large one never sits in memory whole; a crash part-way queues
the whole file again next time (duplicates, never loss). A take that fails
part-way (a full disk) remembers how many lines the spool kept, and the next
try goes on from there, so a file is never queued twice by one run. A file for
a channel the config no longer has waits in the inbox for the channel's return.

A dead letter is a whole line holding a JSON object with an ``event`` object
and a ``line`` number; ``queue_dead_letters`` counts those, the number
``shipper replay`` reports, and the run queues exactly those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from shipper.config.model import Config
from shipper.delivery.channels import ChannelSet
from shipper.durable import open_private_reader
from shipper.errors import SpoolError
from shipper.routing.event import Alert, make_event, to_alert
from shipper.spool.spool import Spool
from shipper.spool.state import StateDir

log = logging.getLogger(__name__)

# Dead letters re-queued per spool append when a replay file is taken in.
REPLAY_BATCH = 1000


class ReplayInbox:
    """Takes replay files into the spools; ``resave`` saves the last checkpoint again."""

    def __init__(
        self, state: StateDir, channels: ChannelSet, resave: Callable[[], Awaitable[None]]
    ) -> None:
        self._state = state
        self._channels = channels
        self._resave = resave
        self._taken: dict[Path, int] = {}  # lines of a file the spool holds already
        self._reported: set[Path] = set()

    async def take(self, config: Config) -> None:
        """Queue every pending replay file of ``config``'s channels."""
        for channel in config.channels:
            for path in self._state.pending_replays(channel.name):
                async with self._channels.lock:
                    spool = self._channels.spools.get(channel.name)
                    if spool is None:
                        break  # removed by a reload meanwhile
                    try:
                        queued = await self._take(spool, path, config)
                    except (SpoolError, OSError) as exc:
                        # Tried again every second; reported once per file.
                        if path not in self._reported:
                            self._reported.add(path)
                            log.error(
                                "%s: cannot re-queue replayed dead letters yet (%s); trying again",
                                channel.name,
                                exc,
                            )
                        break
                log.info("%s: %d replayed dead letter(s) queued", channel.name, queued)

    async def _take(self, spool: Spool, path: Path, config: Config) -> int:
        # What a failed write left in memory goes first: a disk with no room stops the
        # take here, before it holds more of the file in memory.
        await spool.commit()
        done = self._taken.get(path, 0)
        queued = 0
        with open_private_reader(path) as lines:
            for _ in islice(lines, done):
                pass
            while batch := list(islice(lines, REPLAY_BATCH)):
                alerts = _replayed_alerts(config, path.name, done, batch)
                try:
                    await spool.append(alerts)
                except SpoolError:
                    # A failed write keeps the alerts in the spool (a full disk): the
                    # next try must not queue them again.
                    self._taken[path] = done + len(batch)
                    raise
                done += len(batch)
                queued += len(alerts)
                self._taken[path] = done
        await spool.commit()
        # Replayed records past the saved spool end would look like re-read lines.
        await self._resave()
        await asyncio.to_thread(path.unlink)
        self._taken.pop(path, None)
        self._reported.discard(path)
        return queued


def queue_dead_letters(state: StateDir, channel: str, path: Path) -> int | None:
    """Hand ``channel``'s dead-letter file ``path`` to the replay inbox; how many dead
    letters it held, or ``None`` when there were none.

    Counted through the file moved, opened before the move: a dead letter the run
    appends meanwhile is counted if it was moved.
    """
    try:
        moved = path.open("rb")
    except FileNotFoundError:
        return None
    with moved:
        if state.queue_replay(channel, path) is None:
            return None
        return count_dead_letters(moved)


def count_dead_letters(lines: BinaryIO) -> int:
    """The dead letters among ``lines``: what a run queues from them."""
    return sum(1 for raw_line in lines if _dead_letter(raw_line) is not None)


def _dead_letter(raw_line: bytes) -> tuple[dict[str, Any], int] | None:
    """The event and line number of a dead letter; ``None`` for a torn or foreign line."""
    if not raw_line.endswith(b"\n"):
        return None  # cut short: it was never acknowledged, so it was never a dead letter
    try:
        record: Any = orjson.loads(raw_line)
        event, line = record["event"], int(record["line"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return (event, line) if isinstance(event, dict) else None


def _replayed_alerts(config: Config, name: str, before: int, lines: list[bytes]) -> list[Alert]:
    fields, default = config.fields, config.default_severity
    alerts = []
    for number, raw_line in enumerate(lines, before + 1):
        found = _dead_letter(raw_line)
        if found is None:
            log.warning("%s line %d: not a dead letter, skipped", name, number)
            continue
        alerts.append(to_alert(make_event(*found, fields, default), fields))
    return alerts

"""Dead letters handed back by ``shipper replay``, queued again by the run.

``shipper replay`` moves a channel's dead-letter file into the state
directory's replay inbox; ``ReplayInbox.take`` (at start, then every second)
appends each dead letter's event to that channel's spool, under the run's
spool lock, and deletes the file once the spool is durable. A file is read in
batches, so a large one never sits in memory whole; a crash part-way queues
the whole file again next time (duplicates, never loss). A file for a
channel the config no longer has waits in the inbox for the channel's return.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from shipper.channels import ChannelSet
from shipper.config import Config
from shipper.durable import open_private_reader
from shipper.event import Alert, make_event, to_alert
from shipper.spool import Spool
from shipper.state import StateDir

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

    async def take(self, config: Config) -> None:
        """Queue every pending replay file of ``config``'s channels."""
        for channel in config.channels:
            for path in self._state.pending_replays(channel.name):
                async with self._channels.lock:
                    spool = self._channels.spools.get(channel.name)
                    if spool is None:
                        break  # removed by a reload meanwhile
                    queued = await self._take(spool, path, config)
                log.info("%s: %d replayed line(s) queued", channel.name, queued)

    async def _take(self, spool: Spool, path: Path, config: Config) -> int:
        queued = 0
        with open_private_reader(path) as lines:
            while batch := list(islice(lines, REPLAY_BATCH)):
                await spool.append(_replayed_alerts(config, path.name, queued, batch))
                queued += len(batch)
        await spool.commit()
        # Replayed records past the saved spool end would look like re-read lines.
        await self._resave()
        await asyncio.to_thread(path.unlink)
        return queued


def _replayed_alerts(config: Config, name: str, before: int, lines: list[bytes]) -> list[Alert]:
    fields, default = config.fields, config.default_severity
    alerts = []
    for number, raw_line in enumerate(lines, before + 1):
        try:
            record: Any = orjson.loads(raw_line)
            event = make_event(record["event"], int(record["line"]), fields, default)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("%s line %d: not a dead letter, skipped", name, number)
            continue
        alerts.append(to_alert(event, fields))
    return alerts

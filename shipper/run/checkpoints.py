"""The tailed file's saved read position, kept with where each channel's spool ended.

``save`` is called by the store once a group's spools are durable, so the position
never runs ahead of what is queued; ``resave`` records new spool ends at the same
position (after ``shipper replay`` queued dead letters). A position file that cannot
be used is reported once and the run starts where ``source.start_at`` says.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from shipper.delivery.channels import ChannelSet
from shipper.errors import PositionError
from shipper.sources.position import Checkpoint, FilePosition, load_checkpoint, save_position

log = logging.getLogger(__name__)


class Checkpoints:
    """Loading and saving ``position.json`` for one run."""

    def __init__(self, path: Path, channels: ChannelSet) -> None:
        self.path = path
        self.channels = channels
        self.saved: FilePosition | None = None

    def load(self, start_at: str) -> Checkpoint | None:
        """The saved checkpoint; ``None`` when there is none or it is unusable (logged)."""
        try:
            checkpoint = load_checkpoint(self.path)
        except PositionError as exc:
            log.warning(
                "the saved read position is unusable (%s): starting at the %s of the file",
                exc,
                "beginning" if start_at == "beginning" else "end",
            )
            return None
        self.saved = checkpoint.position if checkpoint is not None else None
        return checkpoint

    async def save(self, position: FilePosition) -> None:
        """Save ``position`` with each spool's end, atomically and durably (in a thread)."""
        ends = {
            name: (spool.end.segment, spool.end.offset)
            for name, spool in self.channels.spools.items()
        }
        await asyncio.to_thread(save_position, self.path, position, ends)
        self.saved = position

    async def resave(self) -> None:
        """Save the last position again with the spools' ends as they are now."""
        if self.saved is not None:
            await self.save(self.saved)

"""The tailed file's saved read position, kept with where each channel's spool ended.

``save`` is called by the store once a group's spools are durable, so the position
never runs ahead of what is queued; ``resave`` records new spool ends at the same
position (after ``shipper replay`` queued dead letters). A position file that cannot
be used is reported once and the run starts where ``source.start_at`` says.

A save is one ``pwrite`` on the event loop (``PositionFile``): no thread, no fsync.
It is made durable within ``SYNC_INTERVAL`` by a background fdatasync, and at
``close``. A ``kill -9`` loses no save; a power loss may bring back a position up
to that old, and the lines after it are read again: each channel's spool end saved
with it keeps what was queued from being queued twice (``spool.resume``). The spools
were fsync'd before any save that follows them (or held only delivered records, which
need no fsync), so a position on disk never passes what the spools hold or delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from shipper.delivery.channels import ChannelSet
from shipper.errors import PositionError
from shipper.sources.position import Checkpoint, FilePosition, PositionFile, load_checkpoint

log = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0  # seconds an in-place save may stay in the page cache only
# Seconds between two saves while the tail reads on in the same file: a live log makes a
# batch every few milliseconds, and a position that lags behind what was stored costs
# nothing but a re-read after a crash, queued once (``spool.resume``).
SAVE_EVERY = 0.05


class Checkpoints:
    """Loading and saving ``position.json`` for one run."""

    def __init__(self, path: Path, channels: ChannelSet) -> None:
        self.path = path
        self.channels = channels
        self.saved: FilePosition | None = None
        self._file = PositionFile(path)
        self._due: asyncio.TimerHandle | None = None
        self._syncing: asyncio.Task[None] | None = None
        self._last_write = float("-inf")  # loop time
        self._later: tuple[FilePosition, dict[str, tuple[int, int]]] | None = None
        self._later_due: asyncio.TimerHandle | None = None
        # The end to save instead of a spool's own (``Resume.held_end``), set once known.
        self.held_end: Callable[[str, FilePosition], tuple[int, int] | None] = _own_end

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

    def save(self, position: FilePosition, *, now: bool = False) -> None:
        """Save ``position`` with each spool's end (in place; see the module docstring).

        Within ``SAVE_EVERY`` of the last save, in the same file, it is written once that
        time is up (with the spool ends of now: what they hold is durable already),
        unless ``now``. Raises ``OSError`` (a save written now).
        """
        held = self.held_end
        ends = {
            name: held(name, position) or (spool.end.segment, spool.end.offset)
            for name, spool in self.channels.spools.items()
        }
        loop = asyncio.get_running_loop()
        last = self.saved
        self.saved = position
        wait = self._last_write + SAVE_EVERY - loop.time()
        if (
            not now
            and wait > 0
            and last is not None
            and (last.dev, last.inode, last.path) == (position.dev, position.inode, position.path)
        ):
            self._later = (position, ends)
            if self._later_due is None:
                self._later_due = loop.call_later(wait, self._write_later)
            return
        self._write(position, ends)

    async def resave(self) -> None:
        """Save the last position again with the spools' ends as they are now."""
        # Replayed records now lie past any end held for a restart: keeping one would let
        # their line numbers pass for re-read lines queued already (duplicates are the
        # worst a crash may cost from here on, never a loss).
        self.held_end = _own_end
        if self.saved is not None:
            # The store may owe some spools a sync (``Store``'s ``sync_after``): the ends
            # saved with a position must never pass what the spools made durable.
            for spool in list(self.channels.spools.values()):
                await spool.commit()
            self.save(self.saved, now=True)

    def close(self) -> None:
        """Write the last save, make it durable and close the file (a later save reopens it).

        Blocking (one fdatasync), and with no await: called once, as storing ends,
        where a cancellation must not replace the error that ended it.
        """
        if self._due is not None:
            self._due.cancel()
            self._due = None
        try:
            if self._later is not None:
                self._write(*self._later)
            self._file.sync()
        except OSError as exc:
            # The saved position is older: lines read again, queued once.
            log.warning("could not save the read position: %s", exc)
        self._file.close()

    def _write_later(self) -> None:
        self._later_due = None
        if self._later is not None:
            try:
                self._write(*self._later)
            except OSError as exc:
                # The next save tries again; until then a crash re-reads a little more.
                log.warning("could not save the read position: %s", exc)

    def _write(self, position: FilePosition, ends: dict[str, tuple[int, int]]) -> None:
        self._later = None
        if self._later_due is not None:
            self._later_due.cancel()
            self._later_due = None
        self._last_write = asyncio.get_running_loop().time()
        # A background sync may still run on the descriptor a replacement closes: at
        # worst it fails (logged) and the next one syncs the new file.
        if self._file.save(position, ends) and self._due is None:
            loop = asyncio.get_running_loop()
            self._due = loop.call_later(SYNC_INTERVAL, self._sync_soon)

    def _sync_soon(self) -> None:
        self._due = None
        self._syncing = asyncio.get_running_loop().create_task(self._sync(), name="position sync")

    async def _sync(self) -> None:
        try:
            await asyncio.to_thread(self._file.sync)
        except OSError as exc:
            # Only a power loss could cost anything: lines read again, queued once.
            log.warning("could not make the read position durable: %s", exc)


def _own_end(_name: str, _position: FilePosition) -> None:
    return None

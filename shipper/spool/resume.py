"""Queue each event once across a crash between the spools' fsync and the position save.

The pipeline makes a batch's alerts durable in the spools, then saves the read
position together with where each spool ended (``Checkpoint.spool_ends``). A
``kill -9`` between the two steps leaves alerts in the spools whose lines the
next run reads again. ``Resume`` finds, per channel, the last record written
past the saved end: every re-read line up to that record's line number was
queued for that channel already, so its alerts are not queued again there.

It applies only while the tail reads on in the file the checkpoint names: same
device and inode, a fingerprint that agrees, and line numbers that continue
from the saved one. The first batch from any other file (rotated in, truncated,
stdin) or from any other point of it (``--from-beginning``) turns it off for
good, so the worst a surprise can cost is a duplicate.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence

from shipper.routing.event import Alert
from shipper.sources.lines import Line
from shipper.sources.position import Checkpoint, FilePosition, SpoolEnds
from shipper.spool.records import Position
from shipper.spool.spool import Spool

log = logging.getLogger(__name__)


class Resume:
    """Which re-read lines each channel has queued already; empty in the common case."""

    def __init__(
        self,
        saved: FilePosition | None,
        queued_through: Mapping[str, int],
        saved_ends: SpoolEnds | None = None,
    ) -> None:
        self._saved = saved
        self._through = dict(queued_through)
        ends = saved_ends or {}
        # Never changed: a position saved before ``through`` must keep the old end.
        self._held = {n: (line, ends[n]) for n, line in queued_through.items() if n in ends}
        # Where the tail must be for the next batch to continue the saved one.
        self._offset = saved.offset if saved is not None else 0
        self._line = saved.line if saved is not None else 0
        self.skipped: Counter[str] = Counter()

    @classmethod
    async def find(cls, checkpoint: Checkpoint | None, spools: Mapping[str, Spool]) -> Resume:
        """Compare each spool's end with the end saved in ``checkpoint``."""
        if checkpoint is None:
            return cls(None, {})
        saved = checkpoint.position
        through: dict[str, int] = {}
        for name, end in checkpoint.spool_ends.items():
            spool = spools.get(name)
            if spool is None:
                continue
            last = await spool.last_record(Position(*end))
            if last is not None and last.line > saved.line:
                through[name] = last.line
        if through:
            log.info(
                "the last run stopped before saving its read position: lines %d to %d "
                "are read again, and sent only to channels that did not queue them yet",
                saved.line + 1,
                max(through.values()),
            )
        return cls(saved, through, checkpoint.spool_ends)

    @property
    def is_done(self) -> bool:
        """Whether no line read from now on can have been queued before the restart."""
        return not self._through

    def drop_queued(
        self, pending: dict[str, list[Alert]], lines: Sequence[Line], position: FilePosition | None
    ) -> None:
        """Remove from ``pending`` (a batch's alerts per channel) those queued before the restart.

        Call once per batch, in order, before the alerts are appended.
        """
        if not self._through:
            return
        if not self._continues(lines, position):
            self._finish()
            return
        assert position is not None
        for name, through in self._through.items():
            alerts = pending.get(name)
            if alerts:
                kept = [alert for alert in alerts if alert.line > through]
                self.skipped[name] += len(alerts) - len(kept)
                pending[name] = kept
        self._offset, self._line = position.offset, position.line
        self._through = {name: line for name, line in self._through.items() if line > position.line}
        if not self._through:
            self._finish()

    def held_end(self, name: str, position: FilePosition) -> tuple[int, int] | None:
        """The end to save for channel ``name`` with ``position``, if not the spool's own.

        Lines after ``position`` up to ``through`` were queued before the restart, and
        the spool's own end lies past their records: saved with it, a second restart
        would not know them and would queue them again. The end the last run saved
        keeps them past it, as they were. ``None``: the spool's own end will do.
        """
        held = self._held.get(name)
        saved = self._saved
        if held is None or saved is None or position.line >= held[0]:
            return None
        if (position.dev, position.inode) != (saved.dev, saved.inode):
            return None
        return held[1]

    def _continues(self, lines: Sequence[Line], position: FilePosition | None) -> bool:
        saved = self._saved
        if position is None or saved is None:
            return False
        if (position.dev, position.inode) != (saved.dev, saved.inode):
            return False
        if (
            position.fingerprint_len == saved.fingerprint_len
            and position.fingerprint != saved.fingerprint
        ):
            return False
        if not lines:
            # A batch with no lines (the first one, as the tail opens) must be where the
            # saved position is; read again from the start, it is at offset 0.
            return (position.offset, position.line) == (self._offset, self._line)
        return lines[0][0] == self._line + 1 and position.offset > self._offset

    def _finish(self) -> None:
        self._through.clear()
        for channel, count in sorted(self.skipped.items()):
            log.info(
                "%s: %d re-read event(s) were queued before the restart; not queued again",
                channel,
                count,
                extra={"channel": channel, "count": count},
            )
        self.skipped.clear()

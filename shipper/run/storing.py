"""Storing what a run reads: route each batch and make it durable, and how storing ends.

``Storing`` is the part of a real ``Run`` between reading and delivery. Each batch
of lines is routed (less the alerts queued before a restart: ``resume``) and
handed to the ``store`` (of a tailed file's lines that no channel can take, only
a read position past them goes, now and then: ``HandedBatches``), which appends
each alert to the spool of every channel that takes it, makes the spools durable,
and only then saves the tailed file's read position. A failed store stops the
reading as a stop signal would. Once reading stops, appends stop waiting for
room in a full backlog (``_give_up_on_full_backlogs``): a tailed file's lines
that were not stored are read again by the next run; stdin's are lost, and said
to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from shipper.delivery.channels import ChannelSet
from shipper.errors import BacklogFullError, SpoolError
from shipper.ops.status import SourceState
from shipper.routing.event import Alert
from shipper.run.checkpoints import SAVE_EVERY, Checkpoints
from shipper.run.lifecycle import Items, Lifecycle, Source
from shipper.run.tasks import cancel_and_wait, wait_first
from shipper.sources.lines import Block, Line
from shipper.sources.position import FilePosition
from shipper.spool.resume import Resume
from shipper.spool.store import Store, uninterrupted

# The run's logger: operators filter on it, and these lines are part of a run's story.
log = logging.getLogger("shipper.run.pipeline")

Pending = dict[str, list[Alert]]
Handed = tuple[Pending, FilePosition | None]
Router = Callable[[Sequence[Line], FilePosition | None], Pending]
# Seconds between two saves of a position whose lines no channel took (see ``HandedBatches``).
POSITION_EVERY = 0.05


class Storing(Lifecycle):
    """Reading batches into the spools until reading stops; ``failed`` says if it failed."""

    channels: ChannelSet
    checkpoints: Checkpoints
    resume: Resume
    failed: bool

    def store_all(self, source: Source, saved: FilePosition | None) -> Coroutine[Any, Any, None]:
        """Read ``source`` and store what it routes, until reading stops.

        A tailed file's reading thread starts now (``tail`` is set); await the result,
        which ends the reading and stores what it read, whatever happens.
        """
        handed = HandedBatches()
        # Routing is pure: a tailed file's batches are routed in its reading thread while
        # the ones before them are made durable (their fsyncs run in threads), and only
        # the batches that hold alerts, or a position to save, come to the loop.
        step, skip = handed.step(self._route), handed.skip(self._skims_to_nothing)
        return self._store_all(self.routed(source, saved, step, skip), handed)

    async def _store_all(self, routed: Items[Handed], handed: HandedBatches) -> None:
        # A failed store stops the reading as a stop signal would; the error comes out
        # of the flush below.
        # A tailed file's lines can be read again, so its spools' fsyncs wait for company
        # (as its position saves do); stdin's cannot, so each of its groups is made
        # durable at once.
        store = Store(
            self.channels,
            self.checkpoints.save,
            on_failure=self.stopping.set,
            sync_after=SAVE_EVERY if self.tail is not None else 0.0,
        )
        ended = asyncio.Event()
        giving_up = asyncio.create_task(self._give_up_on_full_backlogs(ended))
        try:
            try:
                async for pending, position in routed:
                    handed.taken += 1
                    await store.put(pending, position)
                    # Not kept alive while the next batch is read and routed.
                    del pending, position
            finally:
                # Stopped or not, what was read and routed is stored before reading ends;
                # a stop signal's cancellation comes out after it, a failure instead of it.
                ended.set()
                try:
                    await uninterrupted(_store_the_rest(routed, handed, store))
                finally:
                    # No position save after this one, not even one a timer owes.
                    store.close()
                    self.checkpoints.close()
        except BacklogFullError as exc:
            lost = self.tail is None
            self.failed |= lost
            log.warning(
                "stopped while the backlog of channel %s was full (its webhook is not "
                "taking events): the last lines read were not queued; %s",
                exc.channel,
                "they are lost" if lost else "the next run reads them again",
                extra={"channel": exc.channel},
            )
        except (SpoolError, OSError) as exc:
            # Stop reading: what was not made durable is read again by the next run (a
            # tailed file's position was not saved past it).
            self.failed = True
            self.source_state = SourceState.FAILED
            again = (
                "the next run reads the unsaved lines again"
                if self.tail is not None
                else "lines read from stdin since the last save are lost"
            )
            log.error("cannot keep events on disk, reading stopped (%s): %s", again, exc)
        else:
            if self.tail is None:
                log.info("end of input after %d lines", self.intake.stats.lines_read)
        finally:
            await cancel_and_wait(giving_up)

    async def _give_up_on_full_backlogs(self, ended: asyncio.Event) -> None:
        """Once reading stops, stop waiting for room in a full backlog.

        A channel whose webhook is down fills its backlog, and the batch being stored
        waits for room that may never come; a stop or the end of stdin must not wait
        with it. A tailed file's lines that were not stored are read again by the next
        run, so the wait ends at once. stdin's would be lost, so it lasts as long as a
        drain may (``drain_timeout``, or until a second SIGINT).
        """
        await wait_first(self.stopping.wait(), ended.wait())
        if self.tail is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.forced.wait(), self.config.delivery.drain_timeout)
        self.channels.give_up_waiting()

    def _skims_to_nothing(self, block: Block) -> bool:
        # ``resume`` must see every batch until the lines queued before a restart are past.
        return self.resume.is_done and self.intake.skims_to_nothing(block)

    def _route(self, lines: Sequence[Line], position: FilePosition | None) -> Pending:
        """A batch's alerts per channel, less those queued before a restart (``resume``)."""
        pending: dict[str, list[Alert]] = defaultdict(list)
        for routed in self.intake.process(lines):
            for name in routed.channels:
                pending[name].append(routed.alert)
        self.resume.drop_queued(pending, lines, position)
        return pending


async def _store_the_rest(routed: Items[Handed], handed: HandedBatches, store: Store) -> None:
    # What the reading thread routed before the stop is stored too: a file rotated away
    # or truncated before the next run could not give those lines again.
    rest, error = await routed.finish()
    for pending, position in rest:
        handed.taken += 1
        await store.put(pending, position)
    if handed.unsent is not None and handed.taken == handed.made:
        await store.put({}, handed.unsent)
    await store.flush()
    if error is not None:  # the reading failed: said once what was read is stored
        raise error


class HandedBatches:
    """Which routed batches go to the store, and which position none of them has saved.

    A batch with alerts goes at once. A position whose lines no channel takes goes
    at most every ``POSITION_EVERY`` seconds (and once the file is quiet, at the next
    idle poll): in between, ``unsent`` keeps it, and a crash costs a re-read of lines
    that go nowhere. In between too, ``skip`` lets the tail pass over such lines
    with no batch at all; the tail then steps a position past them at its next idle
    poll and at a stop, where ``_store_the_rest`` stores what ``unsent`` holds.
    ``made`` and ``taken`` count the batches handed over and taken; ``unsent`` may be
    stored at the end only if they agree (a batch with alerts that was not taken
    lies before it).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.made = 0
        self.taken = 0
        self.unsent: FilePosition | None = None
        self._sent_at = float("-inf")

    def step(self, route: Router) -> Callable[[Sequence[Line], FilePosition | None], Handed | None]:
        def routed(lines: Sequence[Line], position: FilePosition | None) -> Handed | None:
            # A batch without lines still goes through routing when it has a position: it
            # may tell ``resume`` that the tail moved to another file.
            pending = route(lines, position) if lines or position is not None else {}
            now = self._clock()
            if not pending:
                if position is not None:
                    self.unsent = position
                if self.unsent is None or now - self._sent_at < POSITION_EVERY:
                    return None
                position, self.unsent = self.unsent, None
            else:
                self.unsent = None
            self._sent_at = now
            self.made += 1
            return pending, position

        return routed

    def skip(self, skims: Callable[[Block], bool]) -> Callable[[Block], bool]:
        """What a tail's thread may pass over with no batch: a block ``skims`` finds no
        alert in, while the last position went less than ``POSITION_EVERY`` ago (the
        next batch, idle poll or stop brings the position past it)."""

        def passed_over(block: Block) -> bool:
            return self._clock() - self._sent_at < POSITION_EVERY and skims(block)

        return passed_over

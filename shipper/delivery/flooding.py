"""Flood control at the channel worker: count the backlog's flooded events, keep the counts.

A ``FloodGate`` holds one channel's ``flood.FloodState`` and saves it in the
channel's spool directory (``flood.json``, written atomically with
``durable.write_atomic``: mode 0600, never through a link), so counts survive
a restart and a ``kill -9``. ``count_run`` takes the leading run of events
that flood control counts, at disk speed (up to ``COUNT_CHUNK`` at a time, no
post, no pacing), so a flood of one group never holds back another group's
event for more than a moment.

Exactly once, across a crash. A counted run is saved with the counts as
``pending`` (the backlog's position at its head, and its length) *before* it
is acknowledged. On open, a pending run whose position is still the backlog's
head was counted but not acknowledged: it is acknowledged now, not counted
again; any other position means the acknowledgement happened. The run is
committed to the spool before it is counted, so that no counted event can be
lost from the spool and read again from the source after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from shipper.clock import Clock
from shipper.delivery.flood import FloodState, Pending
from shipper.delivery.flood_groups import FloodSettings
from shipper.delivery.flood_json import load_state, state_json
from shipper.durable import read_private, write_atomic
from shipper.errors import SpoolError
from shipper.routing.event import Alert
from shipper.sinks.summary import FloodSummary
from shipper.spool.backlog import Backlog

logger = logging.getLogger(__name__)

STATE_FILE = "flood.json"
# Events counted per step (one commit, one state save and one acknowledgement each): as
# many as the spool hands a reader at the end of its files, so memory stays as bounded.
COUNT_CHUNK = 256


class FloodGate:
    """One channel's flood control and its saved state; see the module docstring."""

    def __init__(self, name: str, settings: FloodSettings, path: Path | None, clock: Clock) -> None:
        self.name = name
        self.state = FloodState(settings)
        self._path = path
        self._clock = clock

    @classmethod
    def in_directory(
        cls, name: str, settings: FloodSettings, directory: Path, clock: Clock
    ) -> FloodGate:
        """A gate whose state lives in ``directory`` (the channel's spool directory)."""
        return cls(name, settings, directory / STATE_FILE, clock)

    async def open(self, backlog: Backlog) -> None:
        """Load the saved state and settle a run counted but not acknowledged before a crash."""
        if self._path is None:
            return
        try:
            data = await asyncio.to_thread(read_private, self._path)
        except FileNotFoundError:
            return
        except OSError as exc:
            logger.error(
                "channel %s: cannot read the flood-control counts (%s); starting without them",
                self.name,
                os.strerror(exc.errno) if exc.errno else exc,
            )
            return
        try:
            load_state(self.state, data)
        except ValueError as exc:
            logger.error(
                "channel %s: the saved flood-control counts are damaged (%s); starting without "
                "them",
                self.name,
                exc,
            )
            return
        pending, self.state.pending = self.state.pending, None
        if pending is not None and pending.position == backlog.position:
            await backlog.peek(pending.count)
            await backlog.ack(pending.count)
            logger.info(
                "channel %s: %d event(s) counted for a flood summary before a crash were "
                "acknowledged, not counted again",
                self.name,
                pending.count,
            )

    async def count_run(self, backlog: Backlog) -> int | None:
        """Count the leading run of events that flood control holds back; how many (0: none).

        The backlog's head decides: if its first event is to be posted in full, nothing
        is counted. ``None``: the run could not be committed or its counts not saved, so
        nothing was counted or acknowledged; the caller waits before it tries again.
        """
        state = self.state
        if not state.settings.is_on:
            return 0
        now = self._clock.time()
        counted, n = state.plan(await backlog.peek(1), now)
        if not counted or not n:
            return 0
        alerts = await backlog.peek(COUNT_CHUNK)
        counted, n = state.plan(alerts, now)
        if not counted:
            return 0
        try:
            await backlog.commit()
        except SpoolError:
            return None  # reported by the spool; the events wait in the backlog meanwhile
        run = alerts[:n]
        before = state_json(state)
        state.record(run, now, counted=True)
        state.pending = Pending(backlog.position, n)
        if not await self.save():
            # Acknowledged but not saved, the run would be neither posted nor counted
            # after a crash: the counts go back, the events stay in the backlog.
            load_state(state, before)
            return None
        await backlog.ack(n)
        state.pending = None
        return n

    async def wait(self, backlog: Backlog) -> None:
        """Wait for events in ``backlog``, or until the next summary is due."""
        due = self.state.next_due()
        if due is None:
            await backlog.wait()
            return
        delay = due - self._clock.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(backlog.wait(), delay)

    def next_summary(self, backlog: Backlog) -> FloodSummary | None:
        """The summary to post now, if one is due; at the end of the input, every open one."""
        state = self.state
        summary = state.due(self._clock.time())
        if summary is None and backlog.closed and not len(backlog) and state.counting:
            state.close_all()
            summary = state.due(self._clock.time())
        return summary

    def full_run(self, alerts: Sequence[Alert]) -> int:
        """How many leading ``alerts`` are posted in full now (0: the head is counted)."""
        counted, n = self.state.plan(alerts, self._clock.time())
        return 0 if counted else n

    async def save(self) -> bool:
        """Save the state; whether it was saved (a failure is logged)."""
        if self._path is None:
            return True
        try:
            await asyncio.to_thread(write_atomic, self._path, state_json(self.state))
        except OSError as exc:
            logger.error(
                "channel %s: could not save the flood-control counts (%s); trying again",
                self.name,
                os.strerror(exc.errno) if exc.errno else exc,
            )
            return False
        return True

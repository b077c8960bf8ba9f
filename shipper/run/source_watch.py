"""A tailed file that stays missing: said at start, again while it lasts, and shown in /healthz.

A mistyped ``[source] path`` looks exactly like a log not written yet: the tail
waits for it, quietly. ``SourceWatch`` makes the wait visible: at start, a
warning when the path's directory does not exist (the file cannot appear
without it); once the file has been missing for ``[source] missing_after``, a
warning and the ``WAITING`` state (``/healthz`` answers 503, naming the path),
then the warning again every ``missing_after`` (at least ``REPEAT_MIN``) for as
long as it lasts: bounded, and never lost in a log that rolls over. When the
file appears, one line says so and the state is ``READING`` again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shipper.ops.status import SourceState
from shipper.run.preflight import source_path_problem

log = logging.getLogger(__name__)

# The least time between two warnings about the same missing file.
REPEAT_MIN = 60.0


class SourceWatch:
    """Follows whether the tailed file is missing; ``check`` is called about once a second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.missing_since: float | None = None
        self._next_warning: float | None = None

    def at_start(self) -> None:
        """Warn now if the file's directory does not exist: likely a mistyped path."""
        problem = source_path_problem(str(self.path))
        if problem is not None:
            log.warning("%s", problem)

    def check(
        self, is_waiting: bool, now: float, missing_after: float, state: SourceState
    ) -> SourceState:
        """The source's state now, given whether the tail is still waiting for its file."""
        if not is_waiting:
            if self.missing_since is not None and state is SourceState.WAITING:
                log.info("%s: found after %.0fs; reading it", self.path, now - self.missing_since)
            self.missing_since = self._next_warning = None
            return SourceState.READING if state is SourceState.WAITING else state
        if self.missing_since is None:
            self.missing_since = now
            self._next_warning = now + missing_after
        if state not in (SourceState.READING, SourceState.WAITING):
            return state
        assert self._next_warning is not None
        if now >= self._next_warning:
            self._next_warning = now + max(missing_after, REPEAT_MIN)
            log.warning(
                "%s: still missing after %.0fs; nothing is read until it appears "
                "(check [source] path; /healthz reports the source as waiting)",
                self.path,
                now - self.missing_since,
            )
            return SourceState.WAITING
        return state

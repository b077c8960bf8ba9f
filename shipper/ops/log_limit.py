"""A rate limit on repeated warnings: a flood of one warning becomes a few lines and a count.

A file full of bad lines, or a channel retrying all night, would otherwise
write the same warning thousands of times and bury everything else.
``RepeatFilter`` keys each warning by logger, message template (before its
arguments are filled in) and channel. Within a window of ``window`` seconds
the first ``limit`` records of a key pass; the rest are counted, and once the
window is over one summary says how many were suppressed and shows the last
one. Summaries go out at the next record of any kind after the window ends,
or at ``flush`` (the run calls it every second, and at exit for every window). Errors and
anything below a warning always pass. The clock is injected so tests are exact.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# At most this many records of one warning per window, then a summary.
DEFAULT_LIMIT = 10
DEFAULT_WINDOW_SECONDS = 60.0

# Marks the summaries this filter emits, so they pass it untouched.
_SUMMARY = "_shipper_repeat_summary"

_Key = tuple[str, str, object]


@dataclass(slots=True)
class _Window:
    ends: float
    passed: int = 1
    suppressed: int = 0
    last: logging.LogRecord | None = None


class RepeatFilter(logging.Filter):
    """Passes the first ``limit`` records of a warning per ``window`` seconds; see the module."""

    def __init__(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[logging.LogRecord], object] | None = None,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.emit = emit  # where summaries go: the handler this filter is attached to
        self._clock = clock
        self._windows: dict[_Key, _Window] = {}
        self._next_end = float("inf")
        self._lock = threading.Lock()  # records may come from worker threads

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):
            return True
        now = self._clock()
        with self._lock:
            due = self._take_due(now)
            is_limited = logging.WARNING <= record.levelno < logging.ERROR
            passes = not is_limited or self._count(record, now)
        self._emit_all(due)
        return passes

    def flush(self, *, closing: bool = False) -> None:
        """Emit the summaries of every window that has ended; all of them when ``closing``."""
        with self._lock:
            due = self._take_due(float("inf") if closing else self._clock())
        self._emit_all(due)

    def _count(self, record: logging.LogRecord, now: float) -> bool:
        key = (record.name, str(record.msg), record.__dict__.get("channel"))
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now + self.window)
            self._next_end = min(self._next_end, now + self.window)
            return True
        if window.passed < self.limit:
            window.passed += 1
            return True
        window.suppressed += 1
        window.last = record
        return False

    def _take_due(self, now: float) -> list[logging.LogRecord]:
        """Close the windows that ended by ``now``; the summaries of those that suppressed."""
        if now < self._next_end:
            return []
        summaries = []
        for key, window in list(self._windows.items()):
            if window.ends <= now:
                del self._windows[key]
                if window.suppressed and window.last is not None:
                    summaries.append(self._summary(window.suppressed, window.last))
        self._next_end = min((w.ends for w in self._windows.values()), default=float("inf"))
        return summaries

    def _summary(self, count: int, last: logging.LogRecord) -> logging.LogRecord:
        summary = logging.LogRecord(
            last.name,
            logging.WARNING,
            last.pathname,
            last.lineno,
            "%d similar message(s) suppressed in the last %gs; the last one: %s",
            (count, self.window, last.getMessage()),
            None,
        )
        summary.__dict__[_SUMMARY] = True
        summary.__dict__["count"] = count
        channel = last.__dict__.get("channel")
        if channel is not None:
            summary.__dict__["channel"] = channel
        return summary

    def _emit_all(self, summaries: list[logging.LogRecord]) -> None:
        if self.emit is not None:
            for summary in summaries:
                self.emit(summary)

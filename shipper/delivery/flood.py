"""Flood control's decisions: which events are posted in full, which are counted, and the
summaries owed.

Pure: no file, socket or clock; the caller passes ``now`` (unix seconds of the
run's clock, when the worker handles the event; an event's own timestamp is
never used, so a forged one cannot escape a window). A group is the values of
the ``burst_by`` fields; its window opens with its first event. The first
``burst_limit`` events of a group in a window are posted in full, the rest are
counted, and when the window ends a summary of the counted ones is owed
(``due``). Every event handed to ``record`` is thus either posted in full or
counted in exactly one summary.

Group values come from hostile events, so memory stays bounded: a group key is
cut to ``GROUP_MAX_CHARS``; past ``MAX_GROUPS`` open windows a new group shares
the window of ``OTHER_GROUPS``; a summary names at most ``MAX_ACTORS`` actors
(the rest are counted as others); and summaries that could not be posted yet
merge by group, past ``MAX_GROUPS`` into ``OTHER_GROUPS``. Nothing is dropped:
a line can change which summary counts it, never whether it is counted.

``FloodState`` also carries ``pending``, the backlog position a counted run
started at and its length: the worker saves it with the counts before it
acknowledges the run, so that after a crash the run is acknowledged, not
counted again (``flooding``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shipper.delivery.flood_groups import FloodSettings, Grouped, group_of
from shipper.routing.event import Alert
from shipper.sinks.summary import FloodSummary

MAX_GROUPS = 200
ACTOR_MAX_CHARS = 64
MAX_ACTORS = 20
OTHER_GROUPS = "(other groups)"


@dataclass(slots=True)
class GroupWindow:
    """One group's window: what was posted in full and what was counted in it."""

    group: str
    start: float
    end: float
    full: int = 0
    counted: int = 0
    first: float = 0.0
    last: float = 0.0
    severities: dict[str, int] = field(default_factory=dict)
    actors: dict[str, int] = field(default_factory=dict)
    other_actors: int = 0

    def count(self, alert: Alert, now: float) -> None:
        if not self.counted:
            self.first = now
        self.counted += 1
        self.last = now
        label = alert.severity.label
        self.severities[label] = self.severities.get(label, 0) + 1
        if alert.actor is not None:
            self._add_actor(alert.actor[:ACTOR_MAX_CHARS], 1)

    def merge(self, other: GroupWindow) -> None:
        """Fold ``other`` (a later window of summaries not yet posted) into this one."""
        if other.counted:
            self.first = min(self.first, other.first) if self.counted else other.first
            self.last = max(self.last, other.last)
        self.counted += other.counted
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        for label, n in other.severities.items():
            self.severities[label] = self.severities.get(label, 0) + n
        for actor, n in other.actors.items():
            self._add_actor(actor, n)
        self.other_actors += other.other_actors

    def summary(self) -> FloodSummary:
        def ranked(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
            return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

        return FloodSummary(
            group=self.group,
            count=self.counted,
            window=self.end - self.start,
            first=self.first,
            last=self.last,
            severities=ranked(self.severities),
            actors=ranked(self.actors),
            other_actors=self.other_actors,
        )

    def _add_actor(self, actor: str, n: int) -> None:
        if actor in self.actors or len(self.actors) < MAX_ACTORS:
            self.actors[actor] = self.actors.get(actor, 0) + n
        else:
            self.other_actors += n


@dataclass(frozen=True, slots=True)
class Pending:
    """A counted run about to be acknowledged: where the backlog's head was, and how many."""

    position: tuple[int, int]
    count: int


class FloodState:
    """One channel's open windows and owed summaries; see the module docstring."""

    def __init__(self, settings: FloodSettings) -> None:
        self.settings = settings
        self.windows: dict[str, GroupWindow] = {}
        self.owed: dict[str, GroupWindow] = {}
        self.pending: Pending | None = None
        # roll() scans the windows only once one may have ended: at _next_end, or when
        # the clock went back (below _last_now). -inf: scan next time.
        self._next_end = -math.inf
        self._last_now = -math.inf

    def restore(self, windows: Iterable[GroupWindow], owed: Iterable[GroupWindow]) -> None:
        """Take saved windows and owed summaries (bounded as when they were made)."""
        self.windows = {}
        for window in windows:
            if len(self.windows) > MAX_GROUPS:
                break
            self.windows[window.group] = window
        self.owed = {}
        for window in owed:
            self.owe(window)
        self._next_end = -math.inf

    def plan(self, alerts: Sequence[Alert], now: float) -> tuple[bool, int]:
        """``(counted, n)``: the leading ``n`` alerts are all counted, or all posted in full.

        Changes nothing: ``record`` what was done, once it was.
        """
        self.roll(now)
        if not self.settings.is_on:
            return False, len(alerts)
        used: dict[str, int] = {}
        kind: bool | None = None
        n = 0
        for alert in alerts:
            key = self._key(alert, used)
            window = self.windows.get(key)
            counted = (window.full if window else 0) + used.get(key, 0) >= self.settings.limit
            if kind is None:
                kind = counted
            elif counted != kind:
                break
            if not counted:
                used[key] = used.get(key, 0) + 1
            n += 1
        return bool(kind), n

    def record(self, alerts: Iterable[Alert], now: float, *, counted: bool) -> None:
        """``alerts`` were posted in full (or dead-lettered), or ``counted``."""
        if not self.settings.is_on:
            return  # nothing to count: windows would only take memory
        self.roll(now)
        for alert in alerts:
            key = self._key(alert, {})
            window = self.windows.get(key)
            if window is None:
                window = self._open(key, now)
            if counted:
                window.count(alert, now)
            else:
                window.full += 1

    def take(self, event: Grouped, now: float) -> bool:
        """Decide and record one event handled at once (``route --stats``); whether it is
        counted. Only the number is kept of what is counted, not the summary's details."""
        self.roll(now)
        if not self.settings.is_on:
            return False
        key = self._key(event, {})
        window = self.windows.get(key) or self._open(key, now)
        if window.full < self.settings.limit:
            window.full += 1
            return False
        window.counted += 1
        return True

    def roll(self, now: float) -> None:
        """Close the windows that ended by ``now`` (or start after it: the clock went back)."""
        if self._last_now <= now < self._next_end:
            self._last_now = now
            return
        self._last_now = now
        for key, window in list(self.windows.items()):
            if now >= window.end or now < window.start:
                del self.windows[key]
                self.owe(window)
        self._next_end = min((w.end for w in self.windows.values()), default=math.inf)

    def _open(self, key: str, now: float) -> GroupWindow:
        window = GroupWindow(key, now, now + self.settings.window)
        self.windows[key] = window
        self._next_end = min(self._next_end, window.end)
        return window

    def close_all(self) -> None:
        """End every open window now: the input ended (or the run stops)."""
        for window in self.windows.values():
            self.owe(window)
        self.windows.clear()

    def due(self, now: float) -> FloodSummary | None:
        """The oldest summary owed by ``now``, if any; ``settle`` it once posted."""
        self.roll(now)
        for window in self.owed.values():
            return window.summary()
        return None

    def settle(self, group: str) -> None:
        """The summary of ``group`` was posted (or dead-lettered)."""
        self.owed.pop(group, None)

    def next_due(self) -> float | None:
        """When the next summary falls due (unix seconds), if one will."""
        if self.owed:
            return 0.0
        ends = [w.end for w in self.windows.values() if w.counted]
        return min(ends) if ends else None

    @property
    def counting(self) -> bool:
        """Whether any window holds counted events."""
        return any(w.counted for w in self.windows.values())

    def _key(self, alert: Grouped, new: dict[str, int]) -> str:
        key = group_of(alert, self.settings.by)
        if key in self.windows or key in new:
            return key
        return OTHER_GROUPS if len(self.windows) + len(new) >= MAX_GROUPS else key

    def owe(self, window: GroupWindow) -> None:
        """Owe the summary of ``window`` (merged with one owed already for its group)."""
        if not window.counted:
            return
        key = window.group
        if key not in self.owed and len(self.owed) >= MAX_GROUPS:
            key = OTHER_GROUPS
            window.group = key
        if key in self.owed:
            self.owed[key].merge(window)
        else:
            self.owed[key] = window

"""Channel rules, compiled once; an event's action and severity -> the channels it goes to.

Pure. A channel takes an event when the severity is at least its
``min_severity``, one of its ``actions`` globs matches the whole action and no
``exclude`` glob does. Globs are case-sensitive; ``*`` crosses dots. Each
channel's globs are folded into one regular expression, and decisions are
cached per (action, severity) because audit logs repeat a small set of actions.

An action is hostile text, so matching is linear in its length for every
glob: ``fnmatch.translate`` (Python 3.11 on) makes each star but the last an
atomic lazy group, ``(?>.*?piece)``, which finds the piece's leftmost
occurrence and never gives it back (leftmost is right for globs), and the
last star backtracks at most the final piece's length per character.
``tests/unit/routing/test_fuzz_routing.py`` checks the answers against a plain
matcher and ``bench/hostile_lines.py`` measures the time per byte. Only short
actions are cached, so unique long ones cannot fill memory.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity

# Audit logs have tens to hundreds of distinct actions; the bound only guards
# against a log whose actions are unique (request ids in the action field).
_CACHE_MAX = 65536
# Longer actions are matched each time: cached, 65,536 of them could hold gigabytes.
_CACHED_ACTION_MAX = 256


def compile_globs(globs: Sequence[str]) -> re.Pattern[str] | None:
    """One anchored, case-sensitive pattern matching any of ``globs``; ``None`` for none."""
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


@dataclass(frozen=True, slots=True)
class Rule:
    """One channel's compiled rule."""

    name: str
    min_severity: Severity
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None

    def matches(self, action: str, severity: Severity) -> bool:
        """Whether this channel takes an event with that action and severity."""
        if severity < self.min_severity:
            return False
        if self.include is None or self.include.match(action) is None:
            return False
        return self.exclude is None or self.exclude.match(action) is None

    def could_take(self, action: str) -> bool:
        """Whether this channel takes that action at some severity."""
        return self.matches(action, Severity.CRITICAL)


class Router:
    """Decides, for each event, which channels take it (fan-out to every match)."""

    def __init__(self, channels: Sequence[ChannelConfig]) -> None:
        self.rules = tuple(
            Rule(c.name, c.min_severity, compile_globs(c.actions), compile_globs(c.exclude))
            for c in channels
        )
        self._cache: dict[tuple[str, Severity], tuple[str, ...]] = {}

    def could_take(self, action: str) -> bool:
        """Whether some channel takes events with that action, at some severity."""
        return any(r.could_take(action) for r in self.rules)

    def route(self, action: str, severity: Severity) -> tuple[str, ...]:
        """The names of the channels that take this event, in config order."""
        key = (action, severity)
        found = self._cache.get(key)
        if found is None:
            found = tuple(r.name for r in self.rules if r.matches(action, severity))
            if len(action) <= _CACHED_ACTION_MAX:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = found
        return found

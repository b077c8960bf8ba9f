"""Why each channel takes an event or not: the answers of ``shipper route --explain``.

Pure. ``Explainer`` holds one compiled pattern per glob (the ``Router`` folds a
channel's globs into one, which cannot say which glob matched), and for each
event gives, per channel in config order, ``"taken"`` or the first reason it is
not, in the order a reader checks a rule: the action field is missing, the
severity is below ``min_severity``, no ``actions`` glob matches, an ``exclude``
glob vetoes. It gives the same answers as ``Router.route`` (a test holds them
together); matching is linear in the action's length as there (``route``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shipper.config.model import ChannelConfig, Fields
from shipper.routing.event import Event, lookup
from shipper.routing.route import compile_globs

TAKEN = "taken"


@dataclass(frozen=True, slots=True)
class _Rule:
    channel: ChannelConfig
    include: tuple[tuple[str, re.Pattern[str]], ...]
    exclude: tuple[tuple[str, re.Pattern[str]], ...]


def _each(globs: Sequence[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for glob in globs:
        pattern = compile_globs([glob])
        if pattern is not None:
            out.append((glob, pattern))
    return tuple(out)


class Explainer:
    """Explains routing decisions under one config's channels and fields."""

    def __init__(self, channels: Sequence[ChannelConfig], fields: Fields) -> None:
        self.fields = fields
        self._rules = tuple(_Rule(c, _each(c.actions), _each(c.exclude)) for c in channels)

    def missing(self, event: Event) -> list[str]:
        """The ``[fields]`` routing reads that this event lacks (``fields.action``...)."""
        out = []
        if event.malformed is None:
            for name, path in (("action", self.fields.action), ("severity", self.fields.severity)):
                if lookup(event.raw, path) is None:
                    out.append(f"fields.{name} ({'.'.join(path)})")
        return out

    def explain(self, event: Event) -> dict[str, str]:
        """Channel name -> ``"taken"`` or why not, for every channel in config order."""
        action_missing = event.malformed is None and lookup(event.raw, self.fields.action) is None
        return {r.channel.name: self._why(r, event, action_missing) for r in self._rules}

    def _why(self, rule: _Rule, event: Event, action_missing: bool) -> str:
        channel = rule.channel
        if event.severity < channel.min_severity:
            return (
                f"severity {event.severity.label} is below its min_severity "
                f"{channel.min_severity.label}"
            )
        if not any(p.match(event.action) for _, p in rule.include):
            if action_missing:
                dotted = ".".join(self.fields.action)
                return f'no "{dotted}" field (fields.action), and no actions glob matches ""'
            return "no actions glob matches"
        for glob, pattern in rule.exclude:
            if pattern.match(event.action):
                return f"excluded by {_quoted(glob)}"
        return TAKEN


def explanation(
    event: Event, explainer: Explainer, channels: Mapping[str, str]
) -> dict[str, object]:
    """The JSON object ``route --explain`` prints for one event."""
    out: dict[str, object] = {
        "line": event.line,
        "action": event.action,
        "severity": event.severity.label,
        "channels": [name for name, why in channels.items() if why == TAKEN],
        "explain": dict(channels),
    }
    missing = explainer.missing(event)
    if missing:
        out["missing"] = missing
    return out


def _quoted(glob: str) -> str:
    return '"' + glob.replace("\\", "\\\\").replace('"', '\\"') + '"'

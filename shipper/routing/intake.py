"""Lines -> parsed, counted and routed events: the part of the pipeline with no effects.

``Intake`` turns each numbered line into an ``Event`` (or counts and logs why
it was skipped, with its line number), asks the ``Router`` which channels take
it, and builds the ``Alert`` once for all of them. ``route``, ``run --dry-run``
and ``run`` all go through it, so they route identically. A line that is not
JSON but whose action could be read is counted and logged like a skipped one,
and routed as a malformed event, and so is a line too long whose kept head has
a readable action; an event that a channel takes has what is
nested too deep cut (``bound_event``) before anything stores or shows it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from shipper.config.model import Config, Fields
from shipper.routing.event import (
    REJECT_TEXT,
    Alert,
    Event,
    Rejected,
    bound_event,
    parse_line,
    parse_too_long,
    to_alert,
)
from shipper.routing.route import Router
from shipper.routing.schema import SchemaCheck
from shipper.routing.skim import Skimmer
from shipper.sources.lines import Block, Line, Lines, TooLong

log = logging.getLogger(__name__)


@dataclass
class IntakeStats:
    """What the intake saw: lines read and rejected (by reason), matches per channel."""

    lines_read: int = 0
    lines_skimmed: int = 0  # of lines_read: skipped unparsed, as no channel could take them
    rejected: Counter[str] = field(default_factory=Counter)
    unknown_severity: int = 0
    matched: Counter[str] = field(default_factory=Counter)

    @property
    def lines_rejected(self) -> int:
        """All skipped lines, whatever the reason."""
        return sum(self.rejected.values())


class Routed:
    """One event that at least one channel takes; its ``Alert`` is built when first asked
    for (``route`` never asks)."""

    __slots__ = ("_alert", "_fields", "channels", "event")

    def __init__(self, event: Event, fields: Fields, channels: tuple[str, ...]) -> None:
        self.event = event
        self.channels = channels
        self._fields = fields
        self._alert: Alert | None = None

    @property
    def alert(self) -> Alert:
        if self._alert is None:
            self._alert = to_alert(self.event, self._fields)
        return self._alert


class Intake:
    """Parses and routes lines under one config; ``stats`` accumulates across calls."""

    def __init__(self, config: Config, stats: IntakeStats | None = None) -> None:
        self.config = config
        self.router = Router(config.channels)
        takes_any = [r.could_take("") for r in self.router.rules]
        globs = [
            g for c, a in zip(config.channels, takes_any, strict=True) if not a for g in c.actions
        ]
        any_action = [c.min_severity for c, a in zip(config.channels, takes_any, strict=True) if a]
        self.skimmer = Skimmer(
            config.fields, globs, min(any_action, default=None), config.default_severity
        )
        self.stats = stats if stats is not None else IntakeStats()
        self.schema = SchemaCheck(config.fields)

    def process(self, lines: Iterable[Line]) -> Iterator[Routed]:
        """The events among ``lines`` that match a channel, in input order."""
        if not self.schema.done:
            lines = lines if isinstance(lines, Lines) else list(lines)
            if (hint := self.schema.see_lines(_each(lines))) is not None:
                log.warning("%s", hint, extra={"count": self.schema.seen})
        if not isinstance(lines, Lines):
            yield from self._parse(lines)
            return
        for part in lines.parts:
            if not isinstance(part, Block):
                yield from self._parse((part,))
                continue
            wanted = self.skimmer.wanted(part)
            if wanted is None:
                yield from self._parse(part.lines())
            else:
                self.stats.lines_read += part.count - len(wanted)
                self.stats.lines_skimmed += part.count - len(wanted)
                yield from self._parse(wanted)

    def skims_to_nothing(self, block: Block) -> bool:
        """Whether no channel could take any line of ``block``, as ``process`` would find;
        if so, its lines are counted as read and skimmed (``process`` must not see them)."""
        if not self.schema.done or self.skimmer.wanted(block) != []:
            return False
        self.stats.lines_read += block.count
        self.stats.lines_skimmed += block.count
        return True

    def _parse(self, lines: Iterable[Line]) -> Iterator[Routed]:
        """Parse each line in full: the path every line could take, and the reference."""
        config = self.config
        fields = config.fields
        default = config.default_severity
        max_bytes = config.source.max_line_bytes
        route = self.router.route
        stats = self.stats
        for number, data in lines:
            stats.lines_read += 1
            parsed: Event | Rejected | None
            if isinstance(data, TooLong):
                parsed = parse_too_long(data.head, data.length, number, fields, default, max_bytes)
                data = data.head
            else:
                parsed = parse_line(data, number, fields, default, max_bytes)
            if parsed is None:
                continue
            if isinstance(parsed, Rejected):
                stats.rejected[parsed.value] += 1
                log.warning(
                    "line %d skipped: %s",
                    number,
                    REJECT_TEXT[parsed],
                    extra={"line": number, "reason": parsed.value},
                )
                continue
            if parsed.malformed is not None:
                reason = parsed.malformed
                stats.rejected[reason.value] += 1
                log.warning(
                    "line %d is %s; its action could be read: routed as a malformed event",
                    number,
                    REJECT_TEXT[reason],
                    extra={"line": number, "reason": reason.value},
                )
            if not parsed.severity_known:
                stats.unknown_severity += 1
            channels = route(parsed.action, parsed.severity)
            if channels:
                stats.matched.update(channels)
                yield Routed(bound_event(parsed, data), fields, channels)


def _each(lines: Sequence[Line]) -> Iterator[Line]:
    """The lines one by one, splitting a block only when reached."""
    if not isinstance(lines, Lines):
        yield from lines
        return
    for part in lines.parts:
        if isinstance(part, Block):
            yield from part.lines()
        else:
            yield part

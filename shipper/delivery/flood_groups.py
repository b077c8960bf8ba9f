"""Flood control's groups and settings: which group an event belongs to, and a channel's
effective ``burst_limit``, ``burst_window`` and ``burst_by``.

Pure. A group is the values of the ``burst_by`` fields, joined with `` / ``; the
names ``action``, ``severity``, ``actor`` and ``status`` mean those fields as
``[fields]`` locates them, any other dotted path is looked up in the event. Group
values come from hostile events: each value and the key are cut to
``GROUP_MAX_CHARS``, and the work is linear in the event's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from shipper.config.model import DeliveryConfig, FieldPath
from shipper.config.severity import Severity
from shipper.routing.event import lookup
from shipper.sinks.base import FloodControl

GROUP_MAX_CHARS = 200
MISSING = "(none)"

_BY_ACTION: tuple[FieldPath, ...] = (("action",),)
# Names in burst_by that mean a field as ``[fields]`` locates it, not a path in the event.
_NAMED: dict[FieldPath, Any] = {  # each takes a Grouped
    ("action",): lambda a: a.action,
    ("severity",): lambda a: a.severity.label,
    ("actor",): lambda a: a.actor,
    ("status",): lambda a: a.status,
}


class Grouped(Protocol):
    """What grouping reads of an event: an ``Alert``, or what ``route --stats`` has of one."""

    @property
    def raw(self) -> Mapping[str, Any]: ...
    @property
    def action(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class FloodSettings:
    """A channel's effective flood control; ``limit`` 0 is off."""

    limit: int
    window: float
    by: tuple[FieldPath, ...]

    @property
    def is_on(self) -> bool:
        return self.limit > 0


def flood_settings(delivery: DeliveryConfig, default: FloodControl) -> FloodSettings:
    """The channel's own (or ``[delivery]``'s) keys where given, else its sink's ``default``."""
    return FloodSettings(
        limit=default.limit if delivery.burst_limit is None else delivery.burst_limit,
        window=default.window if delivery.burst_window is None else delivery.burst_window,
        by=(
            tuple(tuple(p.split(".")) for p in default.by)
            if delivery.burst_by is None
            else delivery.burst_by
        ),
    )


def group_of(alert: Grouped, by: Sequence[FieldPath]) -> str:
    """The group ``alert`` belongs to: its ``by`` values, joined, cut to ``GROUP_MAX_CHARS``."""
    if by == _BY_ACTION:  # the default, and by far the most common
        return alert.action[:GROUP_MAX_CHARS] or MISSING
    parts = []
    for path in by:
        named = _NAMED.get(path)
        parts.append(_part(named(alert) if named is not None else lookup(alert.raw, path)))
    return " / ".join(parts)[:GROUP_MAX_CHARS]


def _part(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value[:GROUP_MAX_CHARS] or MISSING
    if isinstance(value, bool | int | float):
        return str(value)[:GROUP_MAX_CHARS]
    return orjson.dumps(value).decode()[:GROUP_MAX_CHARS]

"""One input line -> an ``Event`` (or a ``Rejected`` reason), and an ``Event`` -> an ``Alert``.

Pure. ``parse_line`` does the least work that routing needs (parse the JSON,
read the action and the severity); ``to_alert`` is called only for events that
matched a channel and pulls out what a message shows: actor, status, timestamp
and the context fields flattened into ``key: value`` facts. Field locations are
dotted paths from ``[fields]``; a key that itself contains dots is tried first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from shipper.severity import Severity, parse_severity

FieldPath = tuple[str, ...]


class Rejected(Enum):
    """Why a line was skipped; the value is the reason label in logs and metrics."""

    TOO_LONG = "too_long"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"


@dataclass(frozen=True, slots=True)
class Fields:
    """Where each shown field lives in an event (from ``[fields]``)."""

    action: FieldPath = ("action",)
    severity: FieldPath = ("severity",)
    timestamp: FieldPath = ("timestamp",)
    actor: tuple[FieldPath, ...] = (("user",), ("api_token",))
    status: FieldPath = ("status",)
    context: FieldPath = ("context",)


@dataclass(frozen=True, slots=True)
class Event:
    """A parsed input line: what routing needs, plus the event as received."""

    line: int
    raw: Mapping[str, Any]
    action: str
    severity: Severity
    severity_known: bool


@dataclass(frozen=True, slots=True)
class Alert:
    """What a message shows about one event. ``raw`` is kept for the webhook format."""

    line: int
    raw: Mapping[str, Any]
    action: str
    severity: Severity
    actor: str | None
    status: str | None
    timestamp: str | None
    facts: tuple[tuple[str, str], ...]


def lookup(obj: Mapping[str, Any], path: FieldPath) -> Any:
    """Follow a dotted path into nested objects; ``None`` when any step is missing."""
    if len(path) > 1:
        dotted = ".".join(path)
        if dotted in obj:
            return obj[dotted]
    current: Any = obj
    for key in path:
        # JSON objects are dicts; the Mapping check (slow, an ABC) is for other callers.
        if type(current) is not dict and not isinstance(current, Mapping):
            return None
        current = current.get(key)
        if current is None:
            return None
    return current


def parse_line(
    data: bytes, line: int, fields: Fields, default_severity: Severity, max_line_bytes: int
) -> Event | Rejected | None:
    """Parse one line (without its newline). ``None`` for a blank line, which is no event."""
    if len(data) > max_line_bytes:
        return Rejected.TOO_LONG
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        if not data.strip():
            return None
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return Rejected.INVALID_UTF8
        return Rejected.INVALID_JSON
    if not isinstance(obj, dict):
        return Rejected.NOT_AN_OBJECT
    return make_event(obj, line, fields, default_severity)


def make_event(obj: dict[str, Any], line: int, fields: Fields, default_severity: Severity) -> Event:
    """Build an ``Event`` from an already parsed JSON object."""
    action = lookup(obj, fields.action)
    severity = parse_severity(lookup(obj, fields.severity))
    return Event(
        line=line,
        raw=obj,
        action=action if isinstance(action, str) else "",
        severity=default_severity if severity is None else severity,
        severity_known=severity is not None,
    )


def to_alert(event: Event, fields: Fields) -> Alert:
    """Pull out what a message shows. Values are turned into text, never dropped."""
    raw = event.raw
    actor = None
    for path in fields.actor:
        actor = _text(lookup(raw, path))
        if actor is not None:
            break
    context = lookup(raw, fields.context)
    facts = tuple(flatten(context)) if isinstance(context, Mapping) else ()
    return Alert(
        line=event.line,
        raw=raw,
        action=event.action,
        severity=event.severity,
        actor=actor,
        status=_text(lookup(raw, fields.status)),
        timestamp=_text(lookup(raw, fields.timestamp)),
        facts=facts,
    )


def flatten(obj: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects become ``a.b: value`` facts; lists and scalars are shown as JSON."""
    out: list[tuple[str, str]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if (type(value) is dict or isinstance(value, Mapping)) and value:
            out.extend(flatten(value, f"{name}."))
        else:
            out.append((name, _text(value) or ""))
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()

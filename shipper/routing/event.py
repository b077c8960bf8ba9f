"""One input line -> an ``Event`` (or a ``Rejected`` reason), and an ``Event`` -> an ``Alert``.

Pure. ``parse_line`` does the least work that routing needs (parse the JSON,
read the action and the severity); ``to_alert`` is called only for events that
matched a channel and pulls out what a message shows: actor, status, timestamp
and the context fields flattened into ``key: value`` facts. Field locations are
dotted paths from ``[fields]``; a key that itself contains dots is tried first.

Every byte of a line is hostile, so a line that parses must also be storable
and renderable, and no value in it may hide the event:

- orjson parses nearly every line; what it refuses but JSON producers write
  (lone surrogate escapes such as ``"\ud800"``, which the JSON grammar allows,
  and ``NaN`` / ``Infinity`` from Python's ``json.dumps``) is parsed again with
  the ``json`` module, and the odd values are made visible text (``<U+D800>``,
  ``"NaN"``) that orjson can write back, never a silent ``null``;
- a line that still does not parse but has a readable ``"action": "..."`` becomes a
  *malformed* event with what could be read (action, severity, why, and the
  start of the line as text), so breaking one field cannot suppress an alert;
  so does a line longer than ``source.max_line_bytes`` whose kept head has one
  (``parse_too_long``), so padding one field cannot suppress it either;
- ``bound_event`` cuts what is nested deeper than ``MAX_DEPTH`` (orjson writes
  at most 254 levels but reads 1024) into a visible marker, for the events a
  channel takes; nothing here recurses, so no line can reach Python's limit.

The lenient parse and the bounded copy are in ``storable``; reading a line that is
not JSON is in ``malformed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import orjson

from shipper.config.model import FieldPath, Fields
from shipper.config.severity import Severity, parse_severity
from shipper.routing.malformed import MALFORMED_KEY, scan_malformed
from shipper.routing.storable import MAX_DEPTH, loads_leniently, storable


class Rejected(Enum):
    """Why a line was skipped; the value is the reason label in logs and metrics."""

    TOO_LONG = "too_long"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"


REJECT_TEXT = {
    Rejected.TOO_LONG: "longer than source.max_line_bytes",
    Rejected.INVALID_UTF8: "not valid UTF-8",
    Rejected.INVALID_JSON: "not valid JSON",
    Rejected.NOT_AN_OBJECT: "not a JSON object",
}

# A fact name longer than this is cut, so that a long key over many nested
# fields cannot make the facts quadratic in the line's length.
FACT_NAME_MAX = 256


@dataclass(frozen=True, slots=True)
class Event:
    """A parsed input line: what routing needs, plus the event as received."""

    line: int
    raw: Mapping[str, Any]
    action: str
    severity: Severity
    severity_known: bool
    malformed: Rejected | None = None  # set for a line read by scanning, not parsed


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
    """Parse one line (without its newline). ``None`` for a blank line, which is no event.

    A line that is not JSON but has a readable action is a malformed ``Event``
    (``Event.malformed`` says why); the caller counts it as rejected too.
    """
    if len(data) > max_line_bytes:
        return Rejected.TOO_LONG
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not data.strip():
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _malformed(data, line, Rejected.INVALID_UTF8, fields, default_severity)
        obj = loads_leniently(text)
        if obj is None:
            detail = f"{REJECT_TEXT[Rejected.INVALID_JSON]}: {exc}"
            return _malformed(data, line, Rejected.INVALID_JSON, fields, default_severity, detail)
    if not isinstance(obj, dict):
        return Rejected.NOT_AN_OBJECT
    return make_event(obj, line, fields, default_severity)


def parse_too_long(
    head: bytes,
    length: int,
    line: int,
    fields: Fields,
    default_severity: Severity,
    max_line_bytes: int,
) -> Event | Rejected:
    """A line of ``length`` bytes, over ``max_line_bytes``, of which only ``head`` was kept:
    a malformed ``Event`` when an action can be read in the head, else ``TOO_LONG``."""
    detail = (
        f"{REJECT_TEXT[Rejected.TOO_LONG]} ({max_line_bytes} bytes): {length} bytes, "
        f"only its first {len(head)} bytes were read"
    )
    return _malformed(
        head, line, Rejected.TOO_LONG, fields, default_severity, detail, cut=len(head) < length
    )


def _malformed(
    data: bytes,
    line: int,
    reason: Rejected,
    fields: Fields,
    default_severity: Severity,
    detail: str | None = None,
    cut: bool = False,
) -> Event | Rejected:
    """A line that is not JSON: a malformed ``Event`` when its action can be read.

    ``cut``: ``data`` is only the start of the line.
    """
    found = scan_malformed(data, fields, detail or REJECT_TEXT[reason], cut=cut)
    if found is None:
        return reason
    return Event(
        line=line,
        raw=found.raw,
        action=found.action,
        severity=default_severity if found.severity is None else found.severity,
        severity_known=found.severity is not None,
        malformed=reason,
    )


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


def bound_event(event: Event, data: bytes) -> Event:
    """``event`` with what is nested deeper than ``MAX_DEPTH`` cut, to be stored and shown.

    ``data`` is its line: with fewer brackets than that, no walk is needed.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return event
    return replace(event, raw=storable(event.raw, MAX_DEPTH))


def to_alert(event: Event, fields: Fields) -> Alert:
    """Pull out what a message shows. Values are turned into text, never dropped."""
    raw = event.raw
    actor = None
    for path in fields.actor:
        actor = _text(lookup(raw, path))
        if actor is not None:
            break
    if event.malformed is not None:
        context: Any = {MALFORMED_KEY: raw.get(MALFORMED_KEY)}
    else:
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
    # A stack of iterators, not recursion: nesting is the line's to choose.
    todo = [(iter(obj.items()), prefix)]
    while todo:
        items, outer = todo[-1]
        for key, value in items:
            name = f"{outer}{key}"
            if (type(value) is dict or isinstance(value, Mapping)) and value:
                if len(name) > FACT_NAME_MAX:
                    name = name[:FACT_NAME_MAX] + "…"
                todo.append((iter(value.items()), f"{name}."))
                break
            out.append((name, _text(value) or ""))
        else:
            todo.pop()
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # too deep, or not writable: an event not yet bounded
        return orjson.dumps(storable(value, MAX_DEPTH)).decode()

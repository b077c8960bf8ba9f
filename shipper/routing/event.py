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
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

from shipper.config.model import FieldPath, Fields
from shipper.config.severity import Severity, parse_severity


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

# Deeper containers are cut: far below orjson's 254 levels for writing, with room
# for the envelopes around an event (spool record, dead letter, dry-run line), and
# far above what audit events nest.
MAX_DEPTH = 64
DEEP_MARKER = f"<cut: nested deeper than {MAX_DEPTH} levels>"
# What a malformed event keeps of its line, and the key it is shown under.
MALFORMED_KEY = "malformed"
MALFORMED_PREFIX_BYTES = 1000
# A fact name longer than this is cut, so that a long key over many nested
# fields cannot make the facts quadratic in the line's length.
FACT_NAME_MAX = 256

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_RANGE = range(-(2**63), 2**64)  # what orjson writes


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
        obj = _loads_leniently(text)
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


def _loads_leniently(text: str) -> Any:
    """What ``json`` reads in a line orjson refused, made writable by orjson; ``None`` if
    it is not JSON either. Linear: the C scanner, ints kept short, no recursion of ours."""
    try:
        obj = json.loads(text, parse_constant=str, parse_float=_float, parse_int=_int)
    except (ValueError, RecursionError):
        return None
    return storable(obj)


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text  # 1e400: as written, not "inf" or null


def _int(text: str) -> int | str:
    # Long digit strings stay text: no quadratic int(), and orjson writes only 64 bits.
    if len(text) <= 20 and (value := int(text)) in _INT_RANGE:
        return value
    return text


def plain_key(path: FieldPath) -> str:
    """The field's key if it is one plain top-level key, else ``""``."""
    return path[0] if len(path) == 1 and _PLAIN_KEY.fullmatch(path[0]) else ""


@lru_cache(maxsize=16)
def _string_scan(key: str) -> re.Pattern[bytes]:
    # The same shape the skimmer looks for, with fewer characters in the value (no
    # control character, as in a JSON string), so a skim finds whatever this reads.
    return re.compile(b'"' + key.encode() + rb'"[ \t\r]*:[ \t\r]*"([^"\\\x00-\x1f]*)"')


def read_string(data: bytes, key: str) -> str | None:
    """The first ``"key": "<text without escapes>"`` in a line that is not JSON, if valid
    UTF-8: a linear scan, as JSON cannot say which occurrence is the field."""
    found = _string_scan(key).search(data) if key else None
    if found is None:
        return None
    try:
        return found.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


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
    action_key = plain_key(fields.action)
    action = read_string(data, action_key)
    if action is None:
        return reason
    severity_key = plain_key(fields.severity)
    severity_text = read_string(data, severity_key)
    severity = parse_severity(severity_text)
    prefix = data[:MALFORMED_PREFIX_BYTES].decode("utf-8", "replace")
    raw: dict[str, Any] = {action_key: action}
    if severity_text is not None:
        raw[severity_key] = severity_text
    raw[MALFORMED_KEY] = {
        "reason": detail or REJECT_TEXT[reason],
        "line_start": prefix + ("…" if cut or len(data) > MALFORMED_PREFIX_BYTES else ""),
    }
    return Event(
        line=line,
        raw=raw,
        action=action,
        severity=default_severity if severity is None else severity,
        severity_known=severity is not None,
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


def storable(value: Any, max_depth: int | None = None) -> Any:
    """A copy of a JSON value that orjson can write: containers nested deeper than
    ``max_depth`` (the value itself is level 1) become ``DEEP_MARKER``; lone surrogates
    become ``<U+D800>``; numbers orjson cannot write (NaN, infinities, past 64 bits)
    become text. Iterative, linear in the value's size."""
    root: list[Any] = [None]
    # Containers still to copy: (container, where to put its copy, key or index, level).
    # Scalars are copied in place: the fewer objects made, the less the collector walks.
    todo: list[tuple[Any, Any, Any, int]] = []
    _copy_into(root, 0, value, 1, max_depth, todo)
    while todo:
        item, target, slot, depth = todo.pop()
        if type(item) is dict or isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            target[slot] = copy
            for key, child in item.items():
                _copy_into(copy, _scalar(key), child, depth + 1, max_depth, todo)
        else:
            items = [None] * len(item)
            target[slot] = items
            for i, child in enumerate(item):
                _copy_into(items, i, child, depth + 1, max_depth, todo)
    return root[0]


def _copy_into(
    target: Any,
    slot: Any,
    value: Any,
    depth: int,
    max_depth: int | None,
    todo: list[tuple[Any, Any, Any, int]],
) -> None:
    if type(value) is dict or type(value) is list or isinstance(value, Mapping | list | tuple):
        if max_depth is not None and depth > max_depth:
            target[slot] = DEEP_MARKER
        else:
            target[slot] = None  # holds the key's place, in order
            todo.append((value, target, slot, depth))
    else:
        target[slot] = _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            return _SURROGATE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and value not in _INT_RANGE:
        try:
            return str(value)
        except ValueError:  # past Python's digit limit for int -> str
            return f"<integer of {value.bit_length()} bits>"
    return value


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

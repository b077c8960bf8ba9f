"""Parsing a line into an Event, and an Event into what a message shows."""

from __future__ import annotations

import orjson
import pytest

from shipper.config.model import Fields
from shipper.config.severity import Severity
from shipper.routing.event import Event, Rejected, parse_line, to_alert

FIELDS = Fields()


def parse(data: bytes, fields: Fields = FIELDS) -> Event | Rejected | None:
    return parse_line(data, 7, fields, Severity.INFO, 1000)


def test_parses_action_and_severity() -> None:
    event = parse(b'{"action":"login.complete","severity":"warning","user":"a@x"}')
    assert isinstance(event, Event)
    assert (event.line, event.action, event.severity) == (7, "login.complete", Severity.MEDIUM)
    assert event.severity_known


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"action":', Rejected.INVALID_JSON),
        (b"\xff\xfe{}", Rejected.INVALID_UTF8),
        (b'{"action":"\xc3\x28"}', Rejected.INVALID_UTF8),
        (b"[1,2]", Rejected.NOT_AN_OBJECT),
        (b'"just a string"', Rejected.NOT_AN_OBJECT),
        (b"42", Rejected.NOT_AN_OBJECT),
        (b"{" + b'"a":"' + b"x" * 1000 + b'"}', Rejected.TOO_LONG),
    ],
)
def test_rejections(data: bytes, reason: Rejected) -> None:
    assert parse(data) is reason


def test_blank_line_is_no_event() -> None:
    assert parse(b"   ") is None
    assert parse(b"") is None


def test_unknown_or_missing_severity_takes_the_default() -> None:
    unknown = parse(b'{"action":"a","severity":"urgent"}')
    missing = parse(b'{"action":"a"}')
    assert isinstance(unknown, Event) and isinstance(missing, Event)
    assert unknown.severity is missing.severity is Severity.INFO
    assert not unknown.severity_known and not missing.severity_known


def test_non_string_action_is_empty() -> None:
    event = parse(b'{"action":{"name":"x"}}')
    assert isinstance(event, Event) and event.action == ""


def test_dotted_paths_and_literal_dotted_keys() -> None:
    fields = Fields(action=("event", "type"), actor=(("actor", "email"), ("token",)))
    nested = parse(b'{"event":{"type":"user.lock"},"actor":{"email":"e@x"}}', fields)
    literal = parse(b'{"event.type":"user.lock","token":"t1"}', fields)
    assert isinstance(nested, Event) and isinstance(literal, Event)
    assert nested.action == literal.action == "user.lock"
    assert to_alert(nested, fields).actor == "e@x"
    assert to_alert(literal, fields).actor == "t1"


def test_alert_flattens_context_into_facts() -> None:
    raw = {
        "action": "release.promote",
        "severity": "high",
        "status": 200,
        "timestamp": "2026-11-01T00:00:00Z",
        "api_token": "tok_1",
        "context": {
            "app": "billing",
            "release": {"id": "R1", "n": 3},
            "tags": ["a", "b"],
            "none": None,
            "empty": {},
        },
    }
    event = parse(orjson.dumps(raw))
    assert isinstance(event, Event)
    alert = to_alert(event, FIELDS)
    assert alert.actor == "tok_1"
    assert alert.status == "200"
    assert alert.timestamp == "2026-11-01T00:00:00Z"
    assert alert.facts == (
        ("app", "billing"),
        ("release.id", "R1"),
        ("release.n", "3"),
        ("tags", '["a","b"]'),
        ("none", ""),
        ("empty", "{}"),
    )
    assert alert.raw == raw

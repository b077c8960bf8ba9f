"""Hostile lines in the pure parts: depth, odd JSON values, broken lines, long actions.

Regression tests for issue 10, findings 1 to 3, below the CLI: what a line can
do to ``parse_line``, ``to_alert``, ``encode_record``, the intake, the router
and the skimmer.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import orjson
import pytest

from shipper.config.model import ChannelConfig, Fields
from shipper.config.severity import Severity
from shipper.routing.event import (
    Event,
    Rejected,
    bound_event,
    flatten,
    parse_line,
    to_alert,
)
from shipper.routing.intake import Intake
from shipper.routing.route import Router
from shipper.routing.skim import Skimmer, glob_to_bytes_pattern
from shipper.routing.storable import DEEP_MARKER, MAX_DEPTH, storable
from shipper.sinks import render
from shipper.sources.lines import Block, LineSplitter
from shipper.spool.records import decode_record, encode_record
from tests.support.config import load_config

FIELDS = Fields()
EXAMPLE = load_config(Path(__file__).resolve().parents[3] / "config.example.toml", {}, posts=False)


def parse(data: bytes, fields: Fields = FIELDS) -> Event | Rejected | None:
    return parse_line(data, 3, fields, Severity.INFO, 10**7)


def event(data: bytes) -> Event:
    parsed = parse(data)
    assert isinstance(parsed, Event)
    return parsed


def depth(value: object) -> int:
    """How deep ``value`` nests (a scalar is 0), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, level + 1) for child in children)
    return deepest


DEEP_ARRAYS = b'{"action":"login.password_failed","severity":"high","x":' + b"[" * 254
DEEP_ARRAYS += b"]" * 254 + b"}"
DEEP_CONTEXT = b'{"action":"login.password_failed","context":' + b'{"a":' * 1000 + b"1"
DEEP_CONTEXT += b"}" * 1001


# Finding 1: deep lines.


def test_a_line_orjson_reads_but_cannot_write_is_cut_to_a_marker() -> None:
    bounded = bound_event(event(DEEP_ARRAYS), DEEP_ARRAYS)
    assert depth(bounded.raw) == MAX_DEPTH
    assert DEEP_MARKER in orjson.dumps(bounded.raw).decode()
    alert = to_alert(bounded, FIELDS)
    assert decode_record(encode_record(alert)) == alert
    for channel in EXAMPLE.channels:  # slack and teams, and the webhook renders raw
        orjson.dumps(render(channel, [alert]).payload)
    webhook = dataclasses.replace(EXAMPLE.channels[0], kind="webhook")
    orjson.dumps({"channel": "x", "payload": render(webhook, [alert, alert]).payload})


def test_shallow_lines_are_not_walked() -> None:
    shallow = event(b'{"action":"a","context":{"b":[1,{"c":2}]}}')
    assert bound_event(shallow, b'{"action":"a","context":{"b":[1,{"c":2}]}}') is shallow


def test_exactly_max_depth_is_kept_whole() -> None:
    data = b'{"action":"a","x":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    parsed = event(data)
    assert bound_event(parsed, data).raw == parsed.raw
    deeper = data.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1)
    assert DEEP_MARKER in orjson.dumps(bound_event(event(deeper), deeper).raw).decode()


def test_a_deep_context_flattens_without_recursion() -> None:
    deep = event(DEEP_CONTEXT)
    facts = to_alert(deep, FIELDS).facts  # not bounded: flatten alone must cope
    assert len(facts) == 1 and facts[0][1] == "1"
    ((name, value),) = to_alert(bound_event(deep, DEEP_CONTEXT), FIELDS).facts
    assert value == DEEP_MARKER and len(name) < 300  # long fact names are cut


def test_flatten_goes_deeper_than_python_recursion() -> None:
    nested: dict[str, object] = {"leaf": 1}
    for _ in range(5000):
        nested = {"k": nested, "z": 0}
    facts = flatten(nested)
    assert len(facts) == 5001 and facts[-1] == ("z", "0")


def test_encode_record_stores_any_alert() -> None:
    deep = event(DEEP_ARRAYS)  # as a replay or another caller might hand it over
    alert = dataclasses.replace(to_alert(deep, FIELDS), actor="\ud800", facts=(("n", "\udfff"),))
    stored = decode_record(encode_record(alert))
    assert depth(stored.raw) <= MAX_DEPTH + 1
    assert (stored.actor, stored.facts) == ("<U+D800>", (("n", "<U+DFFF>"),))


def test_storable_keeps_order_and_types() -> None:
    value = {"b": [1, 2.5, True, None, "x"], "a": {"c": 2**70, "d": float("nan")}}
    assert storable(value) == {
        "b": [1, 2.5, True, None, "x"],
        "a": {"c": str(2**70), "d": "NaN"},
    }
    assert list(storable(value)) == ["b", "a"]


# Finding 3: odd values and broken lines.


def test_lone_surrogates_are_shown_not_refused() -> None:
    parsed = event(b'{"action":"login.password_failed","user":"m\\ud800x","\\udc00k":["\\udfff"]}')
    assert parsed.raw == {
        "action": "login.password_failed",
        "user": "m<U+D800>x",
        "<U+DC00>k": ["<U+DFFF>"],
    }
    assert to_alert(parsed, FIELDS).actor == "m<U+D800>x"


def test_nan_and_infinities_are_text_never_null() -> None:
    parsed = event(
        b'{"action":"a","context":{"n":NaN,"i":Infinity,"m":-Infinity,"big":1e400,"f":1.5}}'
    )
    context = {"n": "NaN", "i": "Infinity", "m": "-Infinity", "big": "1e400", "f": 1.5}
    assert parsed.raw["context"] == context
    stored = decode_record(encode_record(to_alert(parsed, FIELDS)))
    assert stored.raw["context"] == context


def test_long_integers_from_the_lenient_parse_stay_text() -> None:
    digits = b"9" * 5000  # json refuses past 4,300 digits; int() is quadratic
    parsed = event(b'{"action":"a","n":NaN,"big":' + digits + b',"ok":12}')
    assert parsed.raw["big"] == digits.decode() and parsed.raw["ok"] == 12


@pytest.mark.parametrize(
    ("data", "reason", "severity"),
    [
        (
            b'{"action":"login.password_failed","severity":"high","x":}',
            Rejected.INVALID_JSON,
            "high",
        ),
        (b'{"action" : "login.password_failed", "user": "\xff"}', Rejected.INVALID_UTF8, None),
        (
            b'garbage "action":"login.password_failed" "severity": " Error "',
            Rejected.INVALID_JSON,
            " Error ",
        ),
        (b'{"action":"login.password_failed","x":' + b"[" * 5000, Rejected.INVALID_JSON, None),
    ],
)
def test_a_broken_line_with_a_readable_action_is_a_malformed_event(
    data: bytes, reason: Rejected, severity: str | None
) -> None:
    parsed = event(data)
    assert (parsed.action, parsed.malformed) == ("login.password_failed", reason)
    assert parsed.severity is (Severity.HIGH if severity else Severity.INFO)
    assert parsed.raw.get("severity") == severity
    shown = data[:1000].decode("utf-8", "replace") + ("…" if len(data) > 1000 else "")
    assert parsed.raw["malformed"]["line_start"] == shown
    facts = dict(to_alert(parsed, FIELDS).facts)
    assert facts["malformed.reason"].startswith(
        "not valid UTF-8" if reason is Rejected.INVALID_UTF8 else "not valid JSON"
    )
    encode_record(to_alert(parsed, FIELDS))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"action":', Rejected.INVALID_JSON),
        (b'{"action":"with \\"escape\\"", x}', Rejected.INVALID_JSON),  # not plainly readable
        (b'{"action":"\xc3\x28"}', Rejected.INVALID_UTF8),  # the action itself is not UTF-8
        (b'{"act":"login.password_failed",}', Rejected.INVALID_JSON),
    ],
)
def test_a_broken_line_without_a_readable_action_is_rejected(data: bytes, reason: Rejected) -> None:
    assert parse(data) is reason


def test_the_scan_uses_the_configured_action_key_only_when_plain() -> None:
    data = b'{"event_type":"login.password_failed","x":}'
    found = parse(data, Fields(action=("event_type",)))
    assert isinstance(found, Event) and found.raw["event_type"] == "login.password_failed"
    assert parse(data, Fields(action=("event", "type"))) is Rejected.INVALID_JSON


def test_the_start_of_a_long_broken_line_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    data = b'{"action":"login.password_failed","pad":"' + b"x" * 5000
    intake = Intake(EXAMPLE)
    with caplog.at_level(logging.WARNING):
        (routed,) = intake.process([(9, data)])
    assert routed.channels == ("security",)
    assert len(routed.alert.raw["malformed"]["line_start"]) == 1001
    assert intake.stats.rejected == {"invalid_json": 1}
    assert "line 9 is not valid JSON" in caplog.text


# Finding 2: long actions.


def test_the_router_caches_only_short_actions() -> None:
    router = Router(EXAMPLE.channels)
    long = "login." + "a" * 10_000 + "_failed"
    assert router.route(long, Severity.HIGH) == ("security",)
    assert router.route("login.x_failed", Severity.HIGH) == ("security",)
    assert [action for action, _ in router._cache] == ["login.x_failed"]


@pytest.mark.parametrize(
    ("glob", "widened"),
    [
        ("*.*.*_failed", rb'[^"\\\n]*_failed'),
        ("login.*_failed", rb'login\.[^"\\\n]*_failed'),
        ("a*[*]*b", rb'a[^"\\\n]*b'),  # a star in a set is no star
        ("[!x]p?", rb'[^"\\\n]p[^"\\\n]'),
        ("*", rb'[^"\\\n]*'),
    ],
)
def test_skim_globs_are_widened_to_prefix_run_suffix(glob: str, widened: bytes) -> None:
    assert glob_to_bytes_pattern(glob) == widened


def test_many_matches_in_one_line_are_one_wanted_line() -> None:
    line = b'{"x":1,' + b'"action":"login.a_failed",' * 50_000 + b'"y":2}\n'
    other = b'{"action":"app.get"}\n'
    block = Block(1, other + line + other + line, 4)
    skimmer = Skimmer(FIELDS, ["login.*_failed"])
    assert skimmer.wanted(block) == [(2, line[:-1]), (4, line[:-1])]


def test_a_skim_and_a_full_parse_agree_on_broken_and_odd_lines() -> None:
    lines = [
        b'{"action":"app.get","x":NaN}',
        b'{"action":"login.password_failed","x":NaN}',
        b'{"action":"login.password_failed","x":}',
        b'{"action":"app.get","x":}',
        b'{"action":"login.password_failed","severity":"high","x":'
        + b"[" * 300
        + b"]" * 300
        + b"}",
    ]
    data = b"\n".join(lines) + b"\n"
    config = EXAMPLE
    skimmed = [
        (r.event.line, r.channels) for r in Intake(config).process(LineSplitter(10**6).feed(data))
    ]
    full = [(r.event.line, r.channels) for r in Intake(config).process(list(enumerate(lines, 1)))]
    assert skimmed == full == [(2, ("security",)), (3, ("security",)), (5, ("security",))]


def test_every_channel_kind_renders_a_malformed_event() -> None:
    alert = to_alert(event(b'{"action":"login.password_failed","<b>":"\xff'), FIELDS)
    for kind in ("slack", "teams", "webhook"):
        channel: ChannelConfig = dataclasses.replace(EXAMPLE.channels[0], kind=kind)
        payload = orjson.dumps(render(channel, [alert]).payload).decode()
        assert re.search("malformed|not valid UTF-8", payload)

"""``route --explain``'s reasons, and the one-time hint for a log of another schema
(issue 15, finding 5)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, Fields
from shipper.config.severity import Severity
from shipper.routing.event import Event, make_event
from shipper.routing.explain import TAKEN, Explainer
from shipper.routing.intake import Intake
from shipper.routing.route import Router
from shipper.routing.schema import SAMPLE_LINES, SchemaCheck
from shipper.sources.lines import LineSplitter
from tests.support.config import load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"


def channel(
    name: str,
    actions: tuple[str, ...] = ("*",),
    exclude: tuple[str, ...] = (),
    min_severity: Severity = Severity.DEBUG,
) -> ChannelConfig:
    return ChannelConfig(
        name, "webhook", "https://x.example.com", None, min_severity, actions, exclude
    )


CHANNELS = (
    channel("sec", ("login.*", "mfa.?"), ("login.complete",), Severity.MEDIUM),
    channel("all"),
    channel("deploys", ("deploy.[ab]*",)),
)


def event(raw: dict[str, object]) -> Event:
    return make_event(raw, 1, Fields(), Severity.INFO)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"action": "login.failed", "severity": "high"}, TAKEN),
        (
            {"action": "login.failed", "severity": "low"},
            "severity low is below its min_severity medium",
        ),
        ({"action": "app.get", "severity": "high"}, "no actions glob matches"),
        ({"action": "login.complete", "severity": "high"}, 'excluded by "login.complete"'),
        (
            {"event": {"type": "login.failed"}, "severity": "high"},
            'no "action" field (fields.action), and no actions glob matches ""',
        ),
    ],
)
def test_each_reason(raw: dict[str, object], why: str) -> None:
    explained = Explainer(CHANNELS, Fields()).explain(event(raw))
    assert explained["sec"] == why
    assert explained["all"] == TAKEN


def test_missing_fields_are_named() -> None:
    explainer = Explainer(CHANNELS, Fields())
    assert explainer.missing(event({"event": {"type": "x"}})) == [
        "fields.action (action)",
        "fields.severity (severity)",
    ]
    assert explainer.missing(event({"action": "x", "severity": "high"})) == []


@settings(max_examples=300, deadline=None)
@given(
    action=st.text(alphabet="login.cmpetfa_xyz*?[]!", max_size=16),
    severity=st.sampled_from(list(Severity)),
)
def test_explain_agrees_with_the_router(action: str, severity: Severity) -> None:
    channels = (*CHANNELS, *load_config(EXAMPLE, {}, posts=False).channels)
    explained = Explainer(channels, Fields()).explain(
        Event(1, {"action": action}, action, severity, True)
    )
    taken = tuple(name for name, why in explained.items() if why == TAKEN)
    assert taken == Router(channels).route(action, severity)


def lines(*objects: Mapping[str, object]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objects)


def test_a_log_of_another_schema_gets_one_hint_naming_the_fields() -> None:
    check = SchemaCheck(Fields())
    ecs = {"@timestamp": "t", "event": {"type": "login.failed"}, "log": {"level": "warn"}}
    splitter = LineSplitter(10_000)
    hints = [check.see_lines(splitter.feed(lines(ecs) * 40).as_list()) for _ in range(5)]
    found = [h for h in hints if h is not None]
    assert len(found) == 1, "said once"
    (hint,) = found
    assert '100 of the first 100 events have no "action" field (fields.action)' in hint
    assert 'set [fields] action = "event.type"' in hint
    assert 'set [fields] severity = "log.level"' in hint
    assert 'Their top-level fields: "@timestamp", "event", "log"' in hint


def test_no_hint_when_the_fields_are_there_or_few_lack_them() -> None:
    check = SchemaCheck(Fields())
    good = {"action": "a", "severity": "info"}
    data = lines(*([good] * 85 + [{"other": 1}] * 15))
    assert check.see_lines(LineSplitter(10_000).feed(data).as_list()) is None
    assert check.done and check.seen == SAMPLE_LINES


def test_field_names_from_the_log_are_escaped_and_cut() -> None:
    check = SchemaCheck(Fields())
    hostile = {"\u202e\n" + "k" * 500: 1}
    hint = check.see_lines(LineSplitter(10_000).feed(lines(hostile) * 100).as_list())
    assert hint is not None
    assert "\n" not in hint and "\u202e" not in hint
    assert "k" * 41 not in hint


def test_intake_hints_even_when_skimming_skips_the_lines(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(EXAMPLE, {}, posts=False)
    intake = Intake(config)
    other = {"timestamp": "t", "event": {"type": "login.complete"}, "level": "info"}
    data = lines(*[other] * 150)
    with caplog.at_level(logging.WARNING, logger="shipper.routing.intake"):
        assert list(intake.process(LineSplitter(1 << 20).feed(data))) == []
    assert intake.stats.lines_skimmed == 150, "routing skims as before"
    (record,) = [r for r in caplog.records if "fields.action" in r.getMessage()]
    assert 'set [fields] action = "event.type"' in record.getMessage()


def test_a_log_without_severities_is_no_mistake_unless_it_has_a_level() -> None:
    plain = {"action": "login.failed"}
    data = lines(*[plain] * SAMPLE_LINES)
    assert SchemaCheck(Fields()).see_lines(LineSplitter(10_000).feed(data).as_list()) is None
    leveled = {"action": "login.failed", "level": "error"}
    data = lines(*[leveled] * SAMPLE_LINES)
    hint = SchemaCheck(Fields()).see_lines(LineSplitter(10_000).feed(data).as_list())
    assert hint is not None and 'set [fields] severity = "level"' in hint
    assert "fields.action" not in hint

"""The splunk sink, pure: envelopes and their time, request sizes, HEC's answers, its keys."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.values import Problems
from shipper.sinks.answers import Answer, Delivered, GiveUp, Partial, Retry
from shipper.sinks.splunk import (
    REQUEST_BYTES,
    SPLUNK,
    event_time,
    render_splunk,
    with_host,
)
from shipper.sinks.splunk_answers import ack_id, read_ack_answer, read_hec_answer
from shipper.sinks.splunk_settings import SplunkSettings, parse_splunk
from tests.support.alerts import make_alert

TOKEN = "0f6c5a1e-7b2d-4e8f-9a3c-5d1e2f3a4b5c"


def channel(**settings: Any) -> ChannelConfig:
    return ChannelConfig(
        "siem",
        "splunk",
        "https://splunk.example:8088/",
        delivery=DeliveryConfig(batch_max=500),
        settings=SplunkSettings(token=TOKEN, **settings),
    )


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        ("2026-11-30T12:00:00.25Z", 1796040000.25),
        ("2026-11-30T13:00:00.25+01:00", 1796040000.25),
        ("2026-11-30T12:00:00.25", 1796040000.25),  # no zone: UTC
        ("2026-11-30 12:00:00.250000", 1796040000.25),
        ("1796040000", 1796040000.0),
        ("1796040000.25", 1796040000.25),
        ("1796040000250", 1796040000.25),  # milliseconds
        ("1796040000250000", 1796040000.25),  # microseconds
        ("1796040000250000000", 1796040000.25),  # nanoseconds
    ],
)
def test_an_events_own_timestamp_becomes_epoch_seconds(stamp: str, seconds: float) -> None:
    assert event_time(stamp) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "stamp",
    [
        None,
        "",
        "yesterday",
        "2026-13-45T99:00:00Z",
        "-5",
        "0",
        "1e9",
        "nan",
        "9" * 30,
        "2" * 10_000,
    ],
)
def test_an_unreadable_timestamp_leaves_time_to_splunk(stamp: str | None) -> None:
    assert event_time(stamp) is None
    (item,) = render_splunk(channel(), [make_alert(timestamp=stamp)]).payload
    assert "time" not in item and item["event"] == {"action": "user.lock", "n": 1}


def test_an_envelope_holds_the_event_as_received_and_the_channels_metadata() -> None:
    alert = make_alert(raw={"action": "a", "nested": {"k": [1, "é"]}}, timestamp="1796040000.5")
    rendered = render_splunk(channel(index="audit", host="gw-1"), [alert])
    assert rendered.payload == [
        {
            "time": 1796040000.5,
            "host": "gw-1",
            "source": "shipper",
            "sourcetype": "shipper:audit",
            "index": "audit",
            "event": {"action": "a", "nested": {"k": [1, "é"]}},
        }
    ]
    assert rendered.url == "https://splunk.example:8088/services/collector/event"
    assert rendered.headers == (("Authorization", f"Splunk {TOKEN}"),)
    assert (rendered.framing, rendered.gzip, rendered.count) == ("concatenated", True, 1)


def test_the_machine_name_goes_in_right_after_time() -> None:
    rendered = render_splunk(channel(), [make_alert(timestamp="1796040000"), make_alert(2)])
    filled = with_host(rendered, "gw-2")
    assert [list(i) for i in filled.payload] == [
        ["time", "host", "source", "sourcetype", "event"],
        ["host", "source", "sourcetype", "event"],
    ]
    assert all(i["host"] == "gw-2" for i in filled.payload)
    assert filled.count == 2 and filled.headers == rendered.headers


def test_a_batch_past_the_request_limit_is_split_never_cut() -> None:
    blob = "x" * 100_000
    alerts = [make_alert(n, blob=blob) for n in range(1, 31)]
    rendered = render_splunk(channel(), alerts)
    size = sum(len(orjson.dumps(i)) + 300 for i in rendered.payload)
    assert 1 < rendered.count < 30 and size <= REQUEST_BYTES
    assert all(i["event"]["blob"] == blob for i in rendered.payload)
    rest = render_splunk(channel(), alerts[rendered.count :])
    assert rest.payload[0]["event"]["n"] == rendered.count + 1


def test_an_event_alone_past_the_limit_is_refused_whole() -> None:
    rendered = render_splunk(channel(), [make_alert(blob="x" * REQUEST_BYTES), make_alert(2)])
    assert rendered.count == 1 and rendered.refused is not None
    assert "over the 1,000,000-byte request limit" in rendered.refused


def answer(status: int, body: object, **headers: str) -> Answer:
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return Answer(status, text, headers)


def read(status: int, body: object, **headers: str) -> object:
    return read_hec_answer(answer(status, body, **headers), now=0.0, retry_after_max=3600.0)


def test_success_and_its_ack_id() -> None:
    ok = answer(200, {"text": "Success", "code": 0, "ackId": 7})
    assert read_hec_answer(ok, now=0, retry_after_max=1) == Delivered(
        200, "Splunk answered 200 Success (code 0)"
    )
    assert ack_id(ok) == 7
    assert ack_id(answer(200, {"text": "Success", "code": 0})) is None


@pytest.mark.parametrize(
    ("status", "code", "text", "fix"),
    [
        (403, 1, "Token disabled", "enable it in Settings > Data inputs"),
        (401, 2, "Token is required", "set the channel's token"),
        (401, 3, "Invalid authorization", 'shipper adds "Splunk "'),
        (403, 4, "Invalid token", "copy its value again"),
        (400, 7, "Incorrect index", "add it to the token's allowed indexes"),
        (400, 10, "Data channel is missing", "set acknowledgements = true"),
        (400, 14, "ACK is disabled", "or set acknowledgements = false"),
    ],
)
def test_token_index_and_channel_errors_are_permanent_with_the_fix(
    status: int, code: int, text: str, fix: str
) -> None:
    outcome = read(status, {"text": text, "code": code, "invalid-event-number": 0})
    assert isinstance(outcome, GiveUp)
    assert outcome.reason.startswith(f"Splunk answered {status} {text} (code {code}): ")
    assert fix in outcome.reason and TOKEN not in outcome.reason


def test_a_bad_event_is_refused_alone_and_the_ones_before_it_count_as_taken() -> None:
    outcome = read(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 3})
    assert isinstance(outcome, Partial)
    assert (outcome.accepted, outcome.refused, outcome.status) == (3, True, 400)
    assert "event 3 of the request" in outcome.reason
    whole = read(400, {"text": "Invalid data format", "code": 6})
    assert isinstance(whole, GiveUp), "without its number, the batch cannot be told apart"


def test_busy_and_5xx_are_retried_and_a_busy_hec_that_took_some_keeps_them() -> None:
    busy = read(503, {"text": "Server is busy", "code": 9}, **{"Retry-After": "7"})
    assert isinstance(busy, Retry) and busy.after == 7.0
    assert isinstance(read(500, {"text": "Internal server error", "code": 8}), Retry)
    assert isinstance(read(502, "<html>bad gateway</html>"), Retry)
    part = read(503, {"text": "Server is busy", "code": 9, "invalid-event-number": 10})
    assert isinstance(part, Partial) and (part.accepted, part.refused) == (10, False)
    assert isinstance(part.rest(), Retry)


def test_a_404_is_retried_since_splunk_cloud_answers_it_during_maintenance() -> None:
    outcome = read(404, "Not Found")
    assert isinstance(outcome, Retry) and "check that url is the HEC base" in outcome.reason


def test_a_200_that_is_not_hecs_success_is_not_delivered() -> None:
    assert isinstance(read(200, "<html>login</html>"), GiveUp)


def test_ack_answers() -> None:
    def ack(status: int, body: object) -> object:
        return read_ack_answer(answer(status, body), 4, now=0, retry_after_max=60)

    assert ack(200, {"acks": {"4": True}}) is True
    assert ack(200, {"acks": {"4": False}}) is False
    assert ack(200, {"acks": {"5": True}}) is False
    disabled = ack(400, {"text": "ACK is disabled", "code": 14})
    assert isinstance(disabled, Delivered) and "cannot confirm" in disabled.reason
    assert isinstance(ack(503, {"text": "Server is busy", "code": 9}), Retry)
    assert isinstance(ack(403, {"text": "Invalid token", "code": 4}), GiveUp)


def parse(body: dict[str, Any], *, posts: bool = True) -> tuple[SplunkSettings, Problems]:
    problems = Problems()
    environ = {"HEC_TOKEN": TOKEN}
    return parse_splunk(body, "channels.s.", environ, problems, posts=posts), problems


def test_settings_and_their_defaults() -> None:
    settings, problems = parse({"url": "https://s:8088", "token": "${HEC_TOKEN}"})
    assert settings == SplunkSettings(token=TOKEN)
    assert (settings.source, settings.sourcetype, settings.ack_timeout) == (
        "shipper",
        "shipper:audit",
        300.0,
    )
    assert problems.errors == []
    assert SPLUNK.limits.batch_max == 500 and SPLUNK.limits.max_rate is None


def test_an_unset_token_is_a_warning_where_nothing_is_posted() -> None:
    settings, problems = parse({"token": "${UNSET}"}, posts=False)
    assert settings.token is None and problems.errors == []
    assert problems.warnings == ["channels.s.token: environment variable UNSET is not set"]
    _, problems = parse({"token": "${UNSET}"})
    assert problems.errors == ["channels.s.token: environment variable UNSET is not set"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"token": f"Splunk {TOKEN}"}, "token"),
        ({"token": f"{TOKEN}\r\nX: y"}, "token"),
        ({"url": "https://s:8088/services/collector"}, "url"),
        ({"index": "a b"}, "index"),
        ({"source": ""}, "source"),
        ({"host": "a\nb"}, "host"),
        ({"acknowledgements": "yes"}, "acknowledgements"),
        ({"ack_timeout": "soon"}, "ack_timeout"),
    ],
)
def test_bad_values_are_named_by_key_and_never_show_the_token(
    body: dict[str, Any], key: str
) -> None:
    _, problems = parse(body)
    (problem,) = problems.errors
    assert problem.startswith(f"channels.s.{key}: ")
    assert TOKEN not in problem

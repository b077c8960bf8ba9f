"""The health rule and the metrics collector, from hand-made ``Status`` values."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipper import __version__
from shipper.delivery.stats import FAILURE_CLASSES, ChannelStatus, WorkerStats
from shipper.ops.metrics import make_registry, render_metrics
from shipper.ops.status import SourceState, Status, health
from shipper.routing.intake import IntakeStats

NOW = 1_700_000_000.0


def channel(name: str = "security", **stats: object) -> ChannelStatus:
    return ChannelStatus(name, WorkerStats(**stats), 3, 300, started=NOW - 100)  # type: ignore[arg-type]


def status(*channels: ChannelStatus, state: SourceState = SourceState.READING) -> Status:
    intake = IntakeStats(
        lines_read=10,
        rejected=Counter({"invalid_json": 2}),
        unknown_severity=1,
        matched=Counter({"security": 4, "gone": 9}),
    )
    return Status("/var/log/audit.jsonl", state, intake, channels, NOW)


def test_healthy_while_reading_and_no_channel_fails() -> None:
    is_healthy, body = health(status(channel(last_success=NOW - 5)), unhealthy_after=60)
    assert is_healthy
    assert body["status"] == "ok"
    assert body["source"] == {
        "input": "/var/log/audit.jsonl",
        "state": "reading",
        "lines_read": 10,
        "lines_rejected": 2,
    }
    assert body["channels"]["security"] == {
        "status": "ok",
        "failing_since": None,
        "failing_seconds": 0.0,
        "reason": None,
        "last_success": "2023-11-14T22:13:15+00:00",
        "backlog": 3,
    }


def test_a_channel_failing_briefly_is_degraded_but_healthy() -> None:
    failing = channel(failing_since=NOW - 59.9, last_error="Slack answered 500")
    is_healthy, body = health(status(failing), unhealthy_after=60)
    assert is_healthy
    assert body["channels"]["security"]["status"] == "degraded"
    assert body["channels"]["security"]["reason"] == "Slack answered 500"


def test_a_channel_failing_too_long_makes_it_unhealthy() -> None:
    failing = channel("noc", failing_since=NOW - 60, last_error="could not reach hooks.slack.com")
    is_healthy, body = health(status(channel(), failing), unhealthy_after=60)
    assert not is_healthy
    assert body["status"] == "failing"
    assert body["channels"]["security"]["status"] == "ok"
    noc = body["channels"]["noc"]
    assert noc["status"] == "failing"
    assert noc["failing_seconds"] == 60
    assert noc["failing_since"] == "2023-11-14T22:12:20+00:00"
    assert noc["reason"] == "could not reach hooks.slack.com"
    orjson.dumps(body)


@pytest.mark.parametrize("state", [SourceState.STARTING, SourceState.STOPPING, SourceState.FAILED])
def test_unhealthy_unless_the_source_is_being_read(state: SourceState) -> None:
    is_healthy, body = health(status(channel(), state=state), unhealthy_after=60)
    assert not is_healthy
    assert body["source"]["state"] == state.value


def scrape(s: Status) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render_metrics(make_registry(lambda: s)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_collector_reads_every_counter_at_scrape_time() -> None:
    stats = WorkerStats(
        delivered_events=7,
        delivered_messages=2,
        retries=5,
        dead_lettered=1,
        failures=Counter({"http_429": 3, "timeout": 2, "refused": 1}),
        last_success=NOW - 30,
        failing_since=NOW - 12,
    )
    live = status(ChannelStatus("security", stats, 3, 300, started=NOW - 100))
    got = scrape(live)
    sec = (("channel", "security"),)
    assert got[("shipper_build_info", (("version", __version__),))] == 1
    assert got[("shipper_lines_read_total", ())] == 10
    assert got[("shipper_lines_rejected_total", (("reason", "invalid_json"),))] == 2
    assert got[("shipper_lines_rejected_total", (("reason", "too_long"),))] == 0
    assert got[("shipper_events_unknown_severity_total", ())] == 1
    assert got[("shipper_events_matched_total", sec)] == 4
    assert ("shipper_events_matched_total", (("channel", "gone"),)) not in got, (
        "only configured channels"
    )
    assert got[("shipper_source_reading", ())] == 1
    assert got[("shipper_messages_delivered_total", sec)] == 2
    assert got[("shipper_events_delivered_total", sec)] == 7
    assert got[("shipper_delivery_retries_total", sec)] == 5
    assert got[("shipper_events_dead_lettered_total", sec)] == 1
    for reason in FAILURE_CLASSES:
        key = ("shipper_delivery_failures_total", (("channel", "security"), ("reason", reason)))
        assert got[key] == {"http_429": 3, "timeout": 2, "refused": 1}.get(reason, 0)
    assert got[("shipper_backlog_events", sec)] == 3
    assert got[("shipper_backlog_bytes", sec)] == 300
    assert got[("shipper_seconds_since_last_success", sec)] == 30
    assert got[("shipper_channel_failing_seconds", sec)] == 12

    stats.delivered_events += 1
    assert scrape(live)[("shipper_events_delivered_total", sec)] == 8, "read live, not copied"


def test_seconds_since_last_success_counts_from_the_start_before_any() -> None:
    got = scrape(status(channel()))
    assert got[("shipper_seconds_since_last_success", (("channel", "security"),))] == 100
    assert got[("shipper_channel_failing_seconds", (("channel", "security"),))] == 0


def test_metric_families_follow_prometheus_conventions() -> None:
    text = render_metrics(make_registry(lambda: status(channel()))).decode()
    families = list(text_string_to_metric_families(text))
    for family in families:
        assert family.name.startswith("shipper_")
        assert family.documentation
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples)

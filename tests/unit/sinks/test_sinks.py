"""The destinations as objects: the table of sinks, what each declares, and that delivery
reaches a destination only through the ``Sink`` interface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.delivery.retries import Outage
from shipper.delivery.stats import failure_class
from shipper.sinks import SINKS, channel_secrets, sink_for
from shipper.sinks.answers import Retry, TimedOut, Unreachable

PACKAGE = Path(__file__).resolve().parents[3] / "shipper"
# What reaches destinations: it may know the Sink interface and the table, nothing of a kind.
SINK_USERS = [
    *sorted((PACKAGE / "delivery").glob("*.py")),
    PACKAGE / "cli" / "probe.py",
    PACKAGE / "run" / "dry_run.py",
]
KIND_MODULES = {
    "shipper.sinks.slack",
    "shipper.sinks.slack_blocks",
    "shipper.sinks.teams",
    "shipper.sinks.teams_cards",
    "shipper.sinks.teams_schema",
    "shipper.sinks.webhook",
}


def test_each_sink_is_listed_under_its_own_kind() -> None:
    assert {"slack", "teams", "webhook"} <= set(SINKS)
    assert all(sink.kind == kind for kind, sink in SINKS.items())


@pytest.mark.parametrize("kind", sorted(SINKS))
def test_every_kind_requires_only_keys_it_takes(kind: str) -> None:
    sink = SINKS[kind]
    assert sink.required_keys <= sink.config_keys
    assert sink.secret_keys <= sink.config_keys


@pytest.mark.parametrize(
    ("kind", "limit", "items", "size"),
    [("slack", 10, 24, None), ("teams", 10, 10, 20_000), ("webhook", 0, None, None)],
)
def test_limits_and_flood_control_defaults(
    kind: str, limit: int, items: int | None, size: int | None
) -> None:
    limits = SINKS[kind].limits
    assert (limits.flood_control.limit, limits.flood_control.window) == (limit, 60.0)
    assert limits.flood_control.by == ("action",)
    assert (limits.request_items, limits.request_bytes) == (items, size)


def test_each_kind_declares_its_url_secret() -> None:
    channels = [
        ChannelConfig("a", "slack", "https://hooks.slack.com/services/T/B/s1"),
        ChannelConfig("b", "teams", "https://acme.webhook.office.com/webhookb2/s2"),
        ChannelConfig("c", "webhook", "https://siem.example/in?sig=s3"),
        ChannelConfig("d", "webhook", None),  # unset in a no-post run: nothing to hide
    ]
    for channel in channels:
        assert sink_for(channel).secret_keys == {"url"}
    secrets = channel_secrets(channels)
    assert secrets.urls == tuple(c.url for c in channels[:3])
    assert secrets.values == ()


@pytest.mark.parametrize("path", SINK_USERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_delivery_knows_no_kind_of_destination(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            named = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            assert not named & KIND_MODULES, f"{path.name} imports {named & KIND_MODULES}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value not in SINKS, f"{path.name} names the kind {node.value!r}"


def test_failure_classes_come_from_the_type_not_the_words() -> None:
    assert failure_class(TimedOut(None, "the toy is sulking")) == "timeout"
    assert failure_class(Unreachable(None, "x did not answer within 1s")) == "connection"
    assert failure_class(Retry(None, "x did not answer within 1s")) == "connection"


def test_an_outage_caps_retry_after_and_counts_down_to_give_up() -> None:
    limits = DeliveryConfig(retry_initial=1.0, retry_after_max=60.0, give_up_after=100.0)
    outage = Outage()
    first = outage.next_try(Retry(60.0, "slow", 429, asked=999.0), limits, 10.0, lambda: 0.5)
    assert (first.delay, first.asked, first.remaining) == (60.0, 999.0, 100.0)
    second = outage.next_try(Retry(0.0, "now", 429), limits, 70.0, lambda: 0.5)
    assert (second.delay, second.asked, second.remaining) == (1.0, 0.0, 40.0)
    third = outage.next_try(Retry(None, "down", 500), limits, 110.0, lambda: 0.5)
    assert third.delay == 2.0 and third.asked is None and third.remaining == 0.0
    outage.recovered()
    assert (outage.attempts, outage.failures, outage.since) == (0, 0, None)

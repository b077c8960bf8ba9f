"""Slack payloads: golden files, Block Kit validity and limits, batching, escaping."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks import SINKS, render
from shipper.sinks.slack import SLACK
from shipper.sinks.slack_blocks import SEVERITY_EMOJI, render_slack
from tests.unit.sinks.format_samples import (
    assert_golden,
    batch_alerts,
    critical_alert,
    hostile_alert,
    login_alert,
    strings,
)

CHANNEL = ChannelConfig(name="security", kind="slack", url=None, label="#security")


def check_slack(payload: dict[str, Any]) -> None:
    """Everything Slack's limits and its SDK's models demand of one message."""
    assert set(payload) == {"text", "blocks", "unfurl_links", "unfurl_media"}
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert 0 < len(payload["text"]) <= 4000
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
        assert parsed.to_dict() == block, "a key the SDK does not know would be dropped"
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(field["text"]) <= 2000 for field in block.get("fields", []))
        for obj in _text_objects(block):
            if obj["type"] == "mrkdwn":
                assert obj["verbatim"] is True
    total = sum(len(obj["text"]) for block in blocks for obj in _text_objects(block))
    assert total <= 12_000


def _text_objects(block: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [block["text"]] if "text" in block else []
    return [*found, *block.get("fields", []), *block.get("elements", [])]


def actions_shown(payload: dict[str, Any]) -> list[str]:
    """The alert actions a payload shows, in order (from titles like ":fire: act.12")."""
    texts = [
        b["text"]["text"]
        for b in payload["blocks"]
        if b["type"] in ("header", "section") and "text" in b
    ]
    return re.findall(r"(?m)^:[a-z_]+: (act\.\d+)", "\n".join(texts))


# -- golden files -------------------------------------------------------------------------


def test_single_info_login_matches_golden() -> None:
    assert_golden("slack_login", render_slack(CHANNEL, [login_alert()]))


def test_single_critical_with_nested_context_matches_golden() -> None:
    assert_golden("slack_critical", render_slack(CHANNEL, [critical_alert()]))


def test_batch_of_three_matches_golden() -> None:
    assert_golden("slack_batch", render_slack(CHANNEL, batch_alerts()))


@pytest.mark.parametrize("alerts", [[login_alert()], [critical_alert()], batch_alerts()])
def test_fixtures_are_valid_block_kit(alerts: list[Alert]) -> None:
    rendered = render_slack(CHANNEL, alerts)
    assert rendered.count == len(alerts)
    check_slack(rendered.payload)


def test_check_slack_rejects_over_limit_payloads() -> None:
    good = render_slack(CHANNEL, [critical_alert()]).payload
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151, "emoji": True}}
    long_section = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "s" * 3001, "verbatim": True},
    }
    field = {"type": "mrkdwn", "text": "f", "verbatim": True}
    with pytest.raises(SlackObjectFormationError):
        check_slack({**good, "blocks": [header]})
    with pytest.raises(SlackObjectFormationError):
        check_slack({**good, "blocks": [long_section]})
    with pytest.raises(SlackObjectFormationError):
        check_slack({**good, "blocks": [{"type": "section", "fields": [field] * 11}]})
    with pytest.raises(AssertionError):
        check_slack({**good, "blocks": [{"type": "divider"}] * 51})
    wide = {**field, "text": "f" * 2001}
    with pytest.raises(AssertionError):
        check_slack({**good, "blocks": [{"type": "section", "fields": [wide]}]})


def test_single_alert_shows_every_item() -> None:
    payload = render_slack(CHANNEL, [critical_alert()]).payload
    header, fields = payload["blocks"][0], payload["blocks"][1]
    assert header["text"]["text"] == ":fire: user.update_roles"
    assert [f["text"] for f in fields["fields"]] == [
        "*Severity*\ncritical",
        "*Actor*\ntok_42",
        "*Status*\napplied",
        "*Time*\n2024-05-01T09:31:02Z",
    ]
    facts = payload["blocks"][2]["text"]["text"]
    assert facts == 'target.user: bob\ntarget.roles: ["admin"]\nreason: break-glass'
    assert payload["blocks"][-1]["elements"][0]["text"] == "shipper · #security · line 12"
    assert "user.update_roles" in payload["text"]


def test_missing_items_are_left_out_not_blank() -> None:
    alert = batch_alerts()[2]
    fields = render_slack(CHANNEL, [alert]).payload["blocks"][1]["fields"]
    assert [f["text"].split("\n")[0] for f in fields] == ["*Severity*", "*Actor*"]


def test_emoji_table_covers_every_severity() -> None:
    assert set(SEVERITY_EMOJI) == set(Severity)


def test_registry_dispatches_slack() -> None:
    assert SINKS["slack"] is SLACK
    assert render(CHANNEL, [login_alert()]) == render_slack(CHANNEL, [login_alert()])


def test_no_alerts_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_slack(CHANNEL, [])


# -- limits and batching ------------------------------------------------------------------


def numbered(count: int, *, value_size: int, facts: int) -> list[Alert]:
    return [
        Alert(
            line=i + 1,
            raw={"n": i},
            action=f"act.{i}",
            severity=Severity(i % 6),
            actor="a" * value_size,
            status="s" * value_size,
            timestamp="2024-05-01T00:00:00Z",
            facts=tuple((f"key{j}", f"{j}" * value_size) for j in range(facts)),
        )
        for i in range(count)
    ]


def deliver_all(alerts: Sequence[Alert]) -> list[int]:
    """Render until every alert is covered, like delivery does; the message sizes."""
    remaining = list(alerts)
    covered: list[Alert] = []
    sizes = []
    while remaining:
        rendered = render_slack(CHANNEL, remaining)
        assert 1 <= rendered.count <= len(remaining)
        check_slack(rendered.payload)
        part = remaining[: rendered.count]
        expected = [a.action for a in part]
        assert actions_shown(rendered.payload) == expected
        covered += part
        remaining = remaining[rendered.count :]
        sizes.append(rendered.count)
    assert covered == list(alerts)
    return sizes


def test_big_batch_is_split_without_loss_or_repeat() -> None:
    alerts = numbered(200, value_size=400, facts=12)
    first = render_slack(CHANNEL, alerts)
    assert first.count < 200
    sizes = deliver_all(alerts)
    assert sum(sizes) == 200 and len(sizes) > 1


def test_a_usual_batch_fits_one_message() -> None:
    alerts = numbered(20, value_size=12, facts=4)
    assert render_slack(CHANNEL, alerts).count == 20
    assert deliver_all(alerts) == [20]


def test_many_tiny_alerts_stay_under_fifty_blocks() -> None:
    alerts = numbered(60, value_size=1, facts=0)
    rendered = render_slack(CHANNEL, alerts)
    assert len(rendered.payload["blocks"]) <= 50
    assert rendered.count == 24  # header + context + 24 sections + 23 dividers
    deliver_all(alerts)


def test_huge_value_is_cut_with_a_marker() -> None:
    alert = Alert(
        line=1,
        raw={},
        action="blob.upload",
        severity=Severity.HIGH,
        actor="x" * 100_000,
        status=None,
        timestamp=None,
        facts=(("payload", "y" * 100_000), ("after", "kept")),
    )
    payload = render_slack(CHANNEL, [alert]).payload
    check_slack(payload)
    texts = "\n".join(strings(payload["blocks"]))
    assert re.search(r"payload: y+… \(\d+ more chars\)", texts)
    # Too long a run for a field (a table column): a line of text, which wraps.
    assert re.search(r"\*Actor:\* x+… \(\d+ more chars\)", texts)
    assert "after: kept" in texts


def test_facts_past_the_budget_are_counted_not_dropped() -> None:
    facts = tuple((f"k{i}", "v" * 900) for i in range(300))
    alert = Alert(
        line=1,
        raw={},
        action="bulk",
        severity=Severity.LOW,
        actor=None,
        status=None,
        timestamp=None,
        facts=facts,
    )
    payload = render_slack(CHANNEL, [alert]).payload
    check_slack(payload)
    texts = "\n".join(strings(payload["blocks"]))
    shown = len(re.findall(r"(?m)^k\d+: ", texts))
    hidden = re.search(r"… \((\d+) more facts\)", texts)
    assert hidden is not None and 0 < shown < 300
    assert shown + int(hidden.group(1)) == 300


def test_cut_never_splits_an_entity() -> None:
    alert = Alert(
        line=1,
        raw={},
        action="&" * 400,
        severity=Severity.INFO,
        actor="<" * 5000,
        status=None,
        timestamp=None,
        facts=(("k", ">" * 5000),),
    )
    payload = render_slack(CHANNEL, [alert]).payload
    check_slack(payload)
    for text in strings(payload):
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0


# -- escaping -----------------------------------------------------------------------------

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C123>",
    "<!subteam^S1>",
    "<https://evil|click>",
    "<!date^1^{date}|x>",
    "&lt;!channel&gt;",
    "@channel",
    "@Here please",
    "x@everyone",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_cannot_mention_or_link(text: str) -> None:
    for alerts in ([hostile_alert(text)], [hostile_alert(text)] * 3):
        payload = render_slack(CHANNEL, alerts).payload
        check_slack(payload)
        assert_inert(payload)


def test_entities_in_events_are_shown_not_decoded() -> None:
    payload = render_slack(CHANNEL, [hostile_alert("&lt;!channel&gt;")]).payload
    assert payload["blocks"][0]["text"]["text"].endswith("&amp;lt;!channel&amp;gt;")
    assert "&amp;lt;!channel&amp;gt;" in payload["text"]


def test_bare_mentions_get_a_word_joiner() -> None:
    payload = render_slack(CHANNEL, [hostile_alert("ping @channel now")]).payload
    assert "ping @\u2060channel now" in payload["text"]


def test_newlines_cannot_forge_facts() -> None:
    alert = Alert(
        line=1,
        raw={},
        action="a",
        severity=Severity.INFO,
        actor=None,
        status=None,
        timestamp=None,
        facts=(("note", "hi\nadmin: true"),),
    )
    facts = render_slack(CHANNEL, [alert]).payload["blocks"][2]["text"]["text"]
    assert facts == "note: hi ↵ admin: true"


def assert_inert(payload: dict[str, Any]) -> None:
    for text in strings(payload):
        assert "<" not in text and ">" not in text
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0
        assert not re.search(r"@(channel|here|everyone)\b", text, re.IGNORECASE)


@settings(max_examples=150, deadline=None)
@given(
    action=st.text(),
    actor=st.none() | st.text(),
    status=st.none() | st.text(),
    facts=st.lists(st.tuples(st.text(max_size=30), st.text()), max_size=8),
    batch=st.integers(min_value=1, max_value=3),
)
def test_no_event_text_becomes_markup(
    action: str, actor: str | None, status: str | None, facts: list[tuple[str, str]], batch: int
) -> None:
    alert = Alert(
        line=3,
        raw={},
        action=action,
        severity=Severity.MEDIUM,
        actor=actor,
        status=status,
        timestamp=status,
        facts=tuple(facts),
    )
    rendered = render_slack(CHANNEL, [alert] * batch)
    assert rendered.count == batch
    check_slack(rendered.payload)
    assert_inert(rendered.payload)

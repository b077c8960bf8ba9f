"""Flood summaries as each sink renders them: the plain line's exact format, and hostile
group and actor text that can neither mention, link nor mark up."""

from __future__ import annotations

from typing import Any

import orjson

from shipper.config.model import ChannelConfig
from shipper.sinks import SINKS
from shipper.sinks.datadog_keys import DatadogSettings
from shipper.sinks.sentinel import SentinelSettings
from shipper.sinks.splunk_settings import SplunkSettings
from shipper.sinks.summary import FloodSummary, format_window, render_summary, summary_line
from shipper.sinks.webhook import WebhookSettings

HOSTILE = "<!channel> [x](https://evil.test) *bold* @here"
SUMMARY = FloodSummary(
    group="login.password_failed",
    count=19990,
    window=60.0,
    first=1767225600.0,
    last=1767225659.0,
    severities=(("medium", 19000), ("high", 990)),
    actors=tuple((f"user{i}", 100 - i) for i in range(8)),
    other_actors=3,
)
HOSTILE_SUMMARY = FloodSummary(HOSTILE, 5, 60.0, 0.0, 1.0, (("high", 5),), ((HOSTILE, 5),))


def channel(kind: str, **extra: Any) -> ChannelConfig:
    return ChannelConfig("security", kind, "https://hooks.example.test/x", **extra)


def test_the_plain_line() -> None:
    assert summary_line(SUMMARY) == "login.password_failed: 19990 more in 60s"
    assert format_window(3600.0) == "3600s"
    assert format_window(0.5) == "0.5s"


def test_slack_summary() -> None:
    payload = SINKS["slack"].render_summary(channel("slack"), SUMMARY).payload  # type: ignore[attr-defined]
    assert payload["text"] == "login.password_failed: 19990 more in 60s"
    shown = orjson.dumps(payload["blocks"]).decode()
    for part in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:59Z", "medium (19000)", "high (990)"):
        assert part in shown
    assert "user0 (100)" in shown and "user4 (96)" in shown and "user5" not in shown
    assert "others (" in shown
    assert all(b.get("text", {}).get("verbatim", True) for b in payload["blocks"])


def test_teams_summaries() -> None:
    card = SINKS["teams"].render_summary(channel("teams"), SUMMARY).payload  # type: ignore[attr-defined]
    assert card["summary"] == "login.password_failed: 19990 more in 60s"
    assert card["title"] == "login.password\\_failed: 19990 more in 60s"
    flow = channel("teams", teams_format="adaptivecard")
    message = SINKS["teams"].render_summary(flow, SUMMARY).payload  # type: ignore[attr-defined]
    content = message["attachments"][0]["content"]
    assert content["fallbackText"] == message["summary"] == summary_line(SUMMARY)
    assert all(block["wrap"] for block in content["body"])


def test_hostile_text_is_shown_as_typed_in_every_chat_summary() -> None:
    slack = SINKS["slack"].render_summary(channel("slack"), HOSTILE_SUMMARY).payload  # type: ignore[attr-defined]
    assert "<!channel>" not in orjson.dumps(slack).decode()
    assert slack["text"].startswith("&lt;!channel&gt;")
    card = SINKS["teams"].render_summary(channel("teams"), HOSTILE_SUMMARY).payload  # type: ignore[attr-defined]
    facts = orjson.dumps(card["sections"]).decode()
    assert "[x](" not in facts and "<!channel>" not in facts
    assert "[x](" not in card["title"] and "<!channel>" not in card["title"]
    # The plain-text fields are not markup: shown as typed, on one line.
    assert card["summary"] == f"{HOSTILE}: 5 more in 60s"


def test_a_webhook_gets_the_summary_as_json_with_its_headers() -> None:
    hooked = channel("webhook", settings=WebhookSettings((("Authorization", "Bearer t0k"),)))
    rendered = render_summary(SINKS["webhook"], hooked, SUMMARY)
    body = rendered.payload["shipper_flood_summary"]
    assert body["text"] == summary_line(SUMMARY) and body["count"] == 19990
    assert rendered.count == 1
    assert ("Authorization", "Bearer t0k") in rendered.headers


def test_a_siem_kind_sends_a_summary_as_one_of_its_own_events() -> None:
    # Flood control is off for them by default, but [delivery] may switch it on for all.
    settings = {
        "splunk": SplunkSettings(token="t"),
        "datadog": DatadogSettings(api_key="k"),
        "sentinel": SentinelSettings("dcr-1", "Custom-X_CL", "t", "c", "s"),
    }
    for kind, own in settings.items():
        rendered = render_summary(SINKS[kind], channel(kind, settings=own), SUMMARY)
        assert rendered.count == 1 and rendered.refused is None, kind
        assert rendered.gzip, f"{kind}: its own request, compressed as its events are"
        assert "shipper_flood_summary" in orjson.dumps(rendered.payload).decode(), kind


def test_every_chat_kind_renders_its_own_summary() -> None:
    # A chat kind without its own summary would post the summary's JSON object as a message.
    chat = [kind for kind, sink in SINKS.items() if sink.limits.flood_control.limit]
    assert {"slack", "slack_app", "teams"} <= set(chat)
    for kind in chat:
        rendered = render_summary(SINKS[kind], channel(kind), SUMMARY)
        assert "shipper_flood_summary" not in rendered.payload, f"{kind} fell back to JSON"


def test_a_slack_app_summary_is_valid_block_kit_outside_any_thread() -> None:
    from slack_sdk.models.blocks import Block

    rendered = render_summary(SINKS["slack_app"], channel("slack_app"), HOSTILE_SUMMARY)
    assert rendered.key is None, "a summary speaks for many conversations: no thread"
    text = rendered.payload["text"]
    assert text.startswith("&lt;!channel&gt;") and text.endswith(": 5 more in 60s")
    for block in rendered.payload["blocks"]:
        assert Block.parse(block) is not None

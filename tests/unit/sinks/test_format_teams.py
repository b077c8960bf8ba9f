"""Teams payloads: both card formats, golden files, the size budget, batching, escaping."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, TeamsFormat
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks import SINKS, render
from shipper.sinks.teams import TEAMS
from shipper.sinks.teams_cards import (
    SEVERITY_EMOJI,
    TEXT_COLOR,
    THEME_COLOR,
    render_adaptivecard,
    render_messagecard,
    render_teams,
)
from tests.unit.sinks.format_samples import (
    assert_golden,
    batch_alerts,
    critical_alert,
    hostile_alert,
    login_alert,
    strings,
)

FORMATS: tuple[TeamsFormat, ...] = ("messagecard", "adaptivecard")


def channel(teams_format: TeamsFormat) -> ChannelConfig:
    return ChannelConfig(
        name="infra", kind="teams", url=None, label="Infra alerts", teams_format=teams_format
    )


def check_shape(payload: dict[str, Any], teams_format: TeamsFormat) -> None:
    """The envelope each format must have, and the size budget."""
    assert len(orjson.dumps(payload)) <= 20_000
    if teams_format == "messagecard":
        assert set(payload) == {"@type", "@context", "summary", "themeColor", "title", "sections"}
        assert payload["@type"] == "MessageCard"
        assert payload["@context"] == "https://schema.org/extensions"
        assert payload["summary"] and re.fullmatch(r"[0-9A-F]{6}", payload["themeColor"])
        assert 1 <= len(payload["sections"]) <= 10
        for section in payload["sections"]:
            assert section["markdown"] is True and section["facts"]
            assert all(set(fact) == {"name", "value"} for fact in section["facts"])
        return
    assert set(payload) == {"type", "attachments"} and payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    content = attachment["content"]
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    assert content["msteams"] == {"width": "Full"}
    assert {block["type"] for block in content["body"]} <= {"TextBlock", "FactSet"}
    assert sum(block["type"] == "FactSet" for block in content["body"]) <= 10


def alert_titles(payload: dict[str, Any]) -> list[str]:
    """Each covered alert's title, in order."""
    if "sections" in payload:
        return [section["activityTitle"] for section in payload["sections"]]
    body = payload["attachments"][0]["content"]["body"]
    return [block["text"] for block in body if block.get("separator")]


def all_facts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    # Facts too long for a table are "**name:** value" paragraphs (a MessageCard
    # section's text) or TextBlocks; the escaped name holds no ":** " of its own.
    item = re.compile(r"\*\*(.*?):\*\* (.*)", re.DOTALL)
    if "sections" in payload:
        out = []
        for section in payload["sections"]:
            out += [(f["name"], f["value"]) for f in section["facts"]]
            paragraphs = section["text"].split("\n\n") if "text" in section else []
            out += [(m[1], m[2]) for m in map(item.fullmatch, paragraphs) if m]
        return out
    body = payload["attachments"][0]["content"]["body"]
    return [(m[1], m[2]) for m in (item.fullmatch(b["text"]) for b in body) if m]


# -- format choice, envelopes, golden files -----------------------------------------------


@pytest.mark.parametrize("teams_format", FORMATS)
@pytest.mark.parametrize(
    ("name", "alerts"),
    [("login", [login_alert()]), ("critical", [critical_alert()]), ("batch", batch_alerts())],
)
def test_matches_golden(teams_format: TeamsFormat, name: str, alerts: list[Alert]) -> None:
    rendered = render_teams(channel(teams_format), alerts)
    assert rendered.count == len(alerts)
    check_shape(rendered.payload, teams_format)
    assert_golden(f"teams_{teams_format}_{name}", rendered)


def test_format_follows_the_channel_setting() -> None:
    alerts = [critical_alert()]
    assert render_teams(channel("messagecard"), alerts) == render_messagecard(
        channel("messagecard"), alerts
    )
    assert render_teams(channel("adaptivecard"), alerts) == render_adaptivecard(
        channel("adaptivecard"), alerts
    )
    assert render(channel("adaptivecard"), alerts).payload["type"] == "message"
    assert render(channel("messagecard"), alerts).payload["@type"] == "MessageCard"
    assert SINKS["teams"] is TEAMS


def test_single_card_shows_every_item() -> None:
    payload = render_messagecard(channel("messagecard"), [critical_alert()]).payload
    assert payload["title"] == "🔥 critical · Infra alerts"
    assert alert_titles(payload) == ["🔥 user.update\\_roles"]
    assert payload["sections"][0]["activitySubtitle"] == "line 12"
    assert payload["themeColor"] == THEME_COLOR[Severity.CRITICAL]
    assert all_facts(payload) == [
        ("Severity", "critical"),
        ("Actor", "tok\\_42"),
        ("Status", "applied"),
        ("Time", "2024-05-01T09:31:02Z"),
        ("target.user", "bob"),
        ("target.roles", '\\["admin"\\]'),
        ("reason", "break-glass"),
    ]


def test_batch_lists_alerts_in_order_with_worst_colour() -> None:
    for teams_format in FORMATS:
        payload = render_teams(channel(teams_format), batch_alerts()).payload
        assert alert_titles(payload) == [
            "ℹ️ login.complete",
            "🔥 user.update\\_roles",
            "⚠️ login.password\\_failed",
        ]
    card = render_messagecard(channel("messagecard"), batch_alerts()).payload
    assert card["themeColor"] == THEME_COLOR[Severity.CRITICAL]


def test_tables_cover_every_severity() -> None:
    for table in (SEVERITY_EMOJI, THEME_COLOR, TEXT_COLOR):
        assert set(table) == set(Severity)


def test_no_alerts_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_teams(channel("messagecard"), [])


# -- size budget and batching -------------------------------------------------------------


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
            facts=tuple((f"key{j}", "é" * value_size) for j in range(facts)),
        )
        for i in range(count)
    ]


def deliver_all(teams_format: TeamsFormat, alerts: Sequence[Alert]) -> list[int]:
    """Render until every alert is covered, like delivery does; the message sizes."""
    remaining = list(alerts)
    covered: list[Alert] = []
    sizes = []
    while remaining:
        rendered = render_teams(channel(teams_format), remaining)
        assert 1 <= rendered.count <= min(10, len(remaining))
        check_shape(rendered.payload, teams_format)
        part = remaining[: rendered.count]
        titles = alert_titles(rendered.payload)
        assert [t.split(" ", 1)[1] for t in titles] == [a.action for a in part]
        covered += part
        remaining = remaining[rendered.count :]
        sizes.append(rendered.count)
    assert covered == list(alerts)
    return sizes


@pytest.mark.parametrize("teams_format", FORMATS)
def test_big_batch_is_split_within_budget(teams_format: TeamsFormat) -> None:
    alerts = numbered(200, value_size=600, facts=8)
    assert render_teams(channel(teams_format), alerts).count < 200
    sizes = deliver_all(teams_format, alerts)
    assert sum(sizes) == 200


@settings(max_examples=40, deadline=None)
@given(
    teams_format=st.sampled_from(FORMATS),
    value_sizes=st.lists(st.sampled_from([5, 300, 900, 3000]), min_size=1, max_size=14),
)
def test_a_card_covers_the_most_alerts_that_fit(
    teams_format: TeamsFormat, value_sizes: list[int]
) -> None:
    alerts = [numbered(1, value_size=size, facts=6)[0] for size in value_sizes]
    alerts = [
        Alert(i + 1, a.raw, f"act.{i}", a.severity, a.actor, a.status, a.timestamp, a.facts)
        for i, a in enumerate(alerts)
    ]
    rendered = render_teams(channel(teams_format), alerts)
    check_shape(rendered.payload, teams_format)
    if rendered.count < min(len(alerts), 10):
        # One alert more would not have fit: the card is as full as it can be.
        one_more = render_teams(channel(teams_format), alerts[: rendered.count + 1])
        assert one_more.count == rendered.count


@pytest.mark.parametrize("teams_format", FORMATS)
def test_small_alerts_fill_ten_sections(teams_format: TeamsFormat) -> None:
    assert deliver_all(teams_format, numbered(25, value_size=5, facts=3)) == [10, 10, 5]


@pytest.mark.parametrize("teams_format", FORMATS)
def test_huge_value_is_cut_with_a_marker(teams_format: TeamsFormat) -> None:
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
    rendered = render_teams(channel(teams_format), [alert])
    check_shape(rendered.payload, teams_format)
    facts = dict(all_facts(rendered.payload))
    assert re.fullmatch(r"y+… \(\d+ more chars\)", facts["payload"])
    assert re.fullmatch(r"x+… \(\d+ more chars\)", facts["Actor"])
    assert facts["after"] == "kept"


@pytest.mark.parametrize("teams_format", FORMATS)
def test_facts_past_the_budget_are_counted(teams_format: TeamsFormat) -> None:
    facts = tuple((f"k{i}", "ü" * 900) for i in range(300))
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
    rendered = render_teams(channel(teams_format), [alert])
    check_shape(rendered.payload, teams_format)
    shown = all_facts(rendered.payload)
    name, value = shown[-1]
    hidden = re.fullmatch(r"(\d+) more facts", value)
    assert name == "…" and hidden is not None
    assert len(shown) - 2 + int(hidden.group(1)) == 300  # minus Severity and the marker


def test_cut_never_leaves_a_dangling_backslash() -> None:
    alert = Alert(
        line=1,
        raw={},
        action="a",
        severity=Severity.INFO,
        actor="[" * 5000,
        status="&" * 5000,
        timestamp=None,
        facts=(),
    )
    payload = render_messagecard(channel("messagecard"), [alert]).payload
    assert_inert(payload)


# -- escaping -----------------------------------------------------------------------------

HOSTILE = [
    "[click](https://evil)",
    "![i](http://t)",
    "<img src=x>",
    "<a href='https://e'>x</a>",
    "&lt;b&gt;",
    "**bold** _it_ ~~s~~ `code`",
    "# heading",
    "- item",
    "1. item",
    "\\[x](https://evil)",
    "[x]\n(https://evil)",
    "<at>everyone</at>",
]


def assert_inert(payload: dict[str, Any]) -> None:
    """No HTML, and no Markdown link, image, emphasis or code that event text could start.

    A MessageCard's ``summary`` and ``title`` are plain text (no escapes there:
    they would show); the ``**name:**`` of a fact shown as a paragraph (every
    Adaptive Card fact, a long MessageCard one) is set aside.
    """
    markdown = {key: value for key, value in payload.items() if key not in ("summary", "title")}
    # Event text is on one line, so only a fact paragraph of ours holds a blank line.
    paragraphs = (part for shown in strings(markdown) for part in shown.split("\n\n"))
    for part in paragraphs:
        text = re.sub(r"^\*\*(.*?):\*\* ", r"\1 ", part, flags=re.DOTALL)
        assert "<" not in text and ">" not in text
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0
        bare = re.sub(r"\\.", "", text)  # drop every backslash-escaped character
        assert not set(bare) & set("[]*_`~\\"), text
        assert not re.search(r"^\s*(#|[-+]\s|\d+\.\s)", text), text


@pytest.mark.parametrize("teams_format", FORMATS)
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_inert(teams_format: TeamsFormat, text: str) -> None:
    for alerts in ([hostile_alert(text)], [hostile_alert(text)] * 3):
        rendered = render_teams(channel(teams_format), alerts)
        check_shape(rendered.payload, teams_format)
        assert_inert(rendered.payload)


def test_concrete_escapes() -> None:
    facts = dict(
        all_facts(
            render_messagecard(
                channel("messagecard"),
                [
                    Alert(
                        line=1,
                        raw={},
                        action="a",
                        severity=Severity.INFO,
                        actor=None,
                        status=None,
                        timestamp=None,
                        facts=(
                            ("link", "[x](https://evil)"),
                            ("img", "![i](http://t)"),
                            ("html", "<img src=x>"),
                            ("ent", "&lt;!channel&gt;"),
                            ("ip", "10.0.0.1"),
                            ("list", "1. one"),
                        ),
                    )
                ],
            ).payload
        )
    )
    assert facts["link"] == "\\[x\\]\\(https://evil\\)"
    assert facts["img"] == "!\\[i\\]\\(http://t\\)"
    assert facts["html"] == "&lt;img src=x&gt;"
    assert facts["ent"] == "&amp;lt;!channel&amp;gt;"
    assert facts["ip"] == "10.0.0.1"
    assert facts["list"] == "1\\. one"


@settings(max_examples=100, deadline=None)
@given(
    action=st.text(),
    actor=st.none() | st.text(),
    status=st.none() | st.text(),
    facts=st.lists(st.tuples(st.text(max_size=30), st.text()), max_size=8),
    batch=st.integers(min_value=1, max_value=3),
    teams_format=st.sampled_from(FORMATS),
)
def test_no_event_text_becomes_markup(
    action: str,
    actor: str | None,
    status: str | None,
    facts: list[tuple[str, str]],
    batch: int,
    teams_format: TeamsFormat,
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
    rendered = render_teams(channel(teams_format), [alert] * batch)
    assert rendered.count == batch
    check_shape(rendered.payload, teams_format)
    assert_inert(rendered.payload)

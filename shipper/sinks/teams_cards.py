"""Microsoft Teams payloads: a MessageCard for classic connectors, an Adaptive Card for Workflows.

Pure; the Teams sink (``teams``) renders with it. ``render_teams`` picks the
card by ``channel.teams_format`` (already resolved from the URL by config) and
builds one message for the first alerts of a batch: one section (or a title
TextBlock and one wrapping TextBlock a fact) per alert, at most 10 alerts
(Microsoft's advice for MessageCard sections), and at most 20,000 bytes of
serialized JSON. Teams documents 28 KB but drops messages from ~20 KB
(reference 2.4), so long values are cut with a marker, facts past the budget
are summed up in a last "N more facts" fact, and a batch that does not fit
covers fewer alerts (``Rendered.count``). All event text goes through
``escape_teams`` (reference 2.7: Teams renders Markdown and some HTML, so raw
text could carry links, tracking images or headings), except in the
MessageCard's plain-text ``summary`` and ``title``, which get ``one_line``
only (invisible characters shown, no escapes that would show).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from shipper.config.model import ChannelConfig, TeamsFormat
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered
from shipper.sinks.escape import ELLIPSIS, escape_teams, fits_table, one_line, truncate
from shipper.sinks.teams_schema import (
    AdaptiveCard,
    MessageCard,
    Section,
    TextBlock,
    WorkflowsMessage,
)

MAX_BYTES = 20_000
MAX_ALERTS = 10
VALUE_MAX = 1000
NAME_MAX = 200
TITLE_MAX = 256
# Room left for everything around an alert's facts: envelope, titles, summary.
# Each of the three titles is at most TITLE_MAX units, 3 UTF-8 bytes a unit.
FRAME_BYTES = 4 * 3 * TITLE_MAX

SEVERITY_EMOJI: dict[Severity, str] = {
    Severity.DEBUG: "🔍",
    Severity.INFO: "ℹ️",
    Severity.LOW: "🔵",
    Severity.MEDIUM: "⚠️",
    Severity.HIGH: "🚨",
    Severity.CRITICAL: "🔥",
}
# MessageCard themeColor (the stripe along the card's edge). Each has a WCAG
# contrast of at least 3:1 against Teams' light (#ffffff) and dark (#292929,
# #1f1f1f) backgrounds, so the stripe shows in both themes; the emoji in the
# titles carries the severity too, so colour is never the only signal.
THEME_COLOR: dict[Severity, str] = {
    Severity.DEBUG: "7A7A7A",
    Severity.INFO: "2B7BD6",
    Severity.LOW: "2F8F46",
    Severity.MEDIUM: "A8730A",
    Severity.HIGH: "DD5B00",
    Severity.CRITICAL: "E03131",
}
# Adaptive Cards only offer named colours for text.
TEXT_COLOR: dict[Severity, str] = {
    Severity.DEBUG: "Default",
    Severity.INFO: "Accent",
    Severity.LOW: "Good",
    Severity.MEDIUM: "Warning",
    Severity.HIGH: "Attention",
    Severity.CRITICAL: "Attention",
}


def render_teams(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """One Teams message for the first alerts of ``alerts``, in the channel's card format."""
    return TEAMS_RENDERERS[channel.teams_format](channel, alerts)


def render_messagecard(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """A classic connector MessageCard, one section per alert."""

    def card(covered: Sequence[Alert], facts: list[list[tuple[str, str]]]) -> MessageCard:
        sections = [
            _section(alert, alert_facts) for alert, alert_facts in zip(covered, facts, strict=True)
        ]
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": _summary(covered),
            "themeColor": THEME_COLOR[max(alert.severity for alert in covered)],
            "title": _heading(covered, channel, one_line),
            "sections": sections,
        }

    return _fit(alerts, card)


def render_adaptivecard(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The Workflows envelope around an Adaptive Card: a title and wrapping facts per alert."""

    def card(covered: Sequence[Alert], facts: list[list[tuple[str, str]]]) -> WorkflowsMessage:
        body: list[TextBlock] = [
            {
                "type": "TextBlock",
                "text": _heading(covered, channel, escape_teams),
                "wrap": True,
                "weight": "Bolder",
                "size": "Large",
            },
        ]
        for alert, alert_facts in zip(covered, facts, strict=True):
            body.append(
                {
                    "type": "TextBlock",
                    "text": _title(alert),
                    "wrap": True,
                    "weight": "Bolder",
                    "color": TEXT_COLOR[alert.severity],
                    "separator": True,
                }
            )
            body.extend(_fact_block(name, value) for name, value in alert_facts)
        body.append(
            {
                "type": "TextBlock",
                "text": _lines(covered, channel),
                "wrap": True,
                "isSubtle": True,
                "size": "Small",
            }
        )
        content: AdaptiveCard = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "msteams": {"width": "Full"},
        }
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": content,
                }
            ],
        }

    return _fit(alerts, card)


TEAMS_RENDERERS: dict[TeamsFormat, Callable[[ChannelConfig, Sequence[Alert]], Rendered]] = {
    "messagecard": render_messagecard,
    "adaptivecard": render_adaptivecard,
}

Build = Callable[[Sequence[Alert], list[list[tuple[str, str]]]], Any]


def _fit(alerts: Sequence[Alert], build: Build) -> Rendered:
    """The card for as many leading alerts as fit MAX_ALERTS and MAX_BYTES (at least one)."""
    if not alerts:
        raise ValueError("render_teams needs at least one alert")
    budget = MAX_BYTES - FRAME_BYTES
    facts = [_facts(alerts[0], budget)]
    payload = build(alerts[:1], facts)
    # FRAME_BYTES is generous, but halve the facts' share until the card fits
    # rather than trust the estimate.
    while _size(payload) > MAX_BYTES and budget > 0:
        budget //= 2
        facts = [_facts(alerts[0], budget)]
        payload = build(alerts[:1], facts)
    most = min(len(alerts), MAX_ALERTS)
    rest = [_facts(alert, MAX_BYTES - FRAME_BYTES) for alert in alerts[1:most]]
    if rest:
        # A card only grows with each alert added, so when all of them fit, so does
        # every shorter card: the common case costs one build, not one per alert.
        candidate = build(alerts[:most], [*facts, *rest])
        if _size(candidate) <= MAX_BYTES:
            return Rendered(payload=candidate, count=most)
    for count in range(2, most + 1):
        more = [*facts, rest[count - 2]]
        candidate = build(alerts[:count], more)
        if _size(candidate) > MAX_BYTES:
            break
        facts, payload = more, candidate
    return Rendered(payload=payload, count=len(facts))


def _facts(alert: Alert, budget: int) -> list[tuple[str, str]]:
    """Every shown item as an escaped (name, value) pair, within ``budget`` JSON bytes."""
    items = [("Severity", alert.severity.label)]
    items += [
        (label, value)
        for label, value in (
            ("Actor", alert.actor),
            ("Status", alert.status),
            ("Time", alert.timestamp),
        )
        if value is not None
    ]
    items += list(alert.facts)
    marker_cost = _cost(ELLIPSIS, f"{len(items)} more facts")
    out: list[tuple[str, str]] = []
    used = 0
    for name, value in items:
        pair = (truncate(escape_teams(name), NAME_MAX), truncate(escape_teams(value), VALUE_MAX))
        cost = _cost(*pair)
        if used + cost > budget - marker_cost:
            out.append((ELLIPSIS, f"{len(items) - len(out)} more facts"))
            break
        out.append(pair)
        used += cost
    return out


def _cost(name: str, value: str) -> int:
    # Sized as a MessageCard fact; an Adaptive Card fact's key is one byte shorter.
    return len(orjson.dumps({"name": name, "value": value})) + 1


def _size(payload: Any) -> int:
    return len(orjson.dumps(payload))


def _title(alert: Alert) -> str:
    action = escape_teams(alert.action) or "(no action)"
    return truncate(f"{SEVERITY_EMOJI[alert.severity]} {action}", TITLE_MAX)


def _section(alert: Alert, facts: list[tuple[str, str]]) -> Section:
    """One alert's MessageCard section: short facts in the table, long ones below it.

    ``facts`` are a name/value table, and a table column grows to its longest
    unbreakable run: tests/render measures that for the Adaptive Card FactSet;
    MessageCards have no public renderer, so here it is inferred. From the first
    item with a longer run on, the items go into the section's ``text`` as
    "**name:** value" paragraphs instead, which wrap; the order stays as it is.
    """
    cut = next((i for i, (name, value) in enumerate(facts) if not fits_table(name, value)), None)
    section: Section = {
        "activityTitle": _title(alert),
        "activitySubtitle": f"line {alert.line}",
        "facts": [{"name": name, "value": value} for name, value in facts[:cut]],
        "markdown": True,
    }
    if cut is not None:
        # Connector cards start a new line only at a blank line (reference 2.7).
        section["text"] = "\n\n".join(f"**{name}:** {value}" for name, value in facts[cut:])
    return section


def _fact_block(name: str, value: str) -> TextBlock:
    """One fact as a wrapping TextBlock, not a FactSet row: a FactSet's value column
    grew to the longest token (a hash, a blob) and pushed every value of the card
    past its edge; a wrapping TextBlock breaks it (tests/render measures both).
    ``name`` is escaped, so it holds no "*" of its own that could pair with ours."""
    return {"type": "TextBlock", "text": f"**{name}:** {value}", "wrap": True, "spacing": "Small"}


def _heading(alerts: Sequence[Alert], channel: ChannelConfig, shown: Callable[[str], str]) -> str:
    """The card's title: how bad and where; the alerts' own titles follow below it.

    ``shown`` is ``escape_teams`` where the title is Markdown (an Adaptive Card
    TextBlock) and ``one_line`` where it is plain text (a MessageCard ``title``),
    where an escape would show as typed: ``Ops &amp; Sec``.
    """
    worst = max(alert.severity for alert in alerts)
    what = worst.label if len(alerts) == 1 else f"{len(alerts)} events"
    where = truncate(shown(channel.title), TITLE_MAX // 2)
    return f"{SEVERITY_EMOJI[worst]} {what} · {where}"


def _summary(alerts: Sequence[Alert]) -> str:
    """The notification line: plain words, no emoji.

    Teams shows a MessageCard ``summary`` as plain text (in the activity feed
    and notifications), so it gets no Markdown or HTML escapes, which would show
    as typed (``user.update\\_roles`` with its backslash); invisible characters are still shown as
    ``<U+XXXX>`` and line breaks folded, and a plain field cannot link or mention.
    """
    first = alerts[0]
    text = f"{first.severity.label}: {one_line(first.action) or '(no action)'}"
    if len(alerts) > 1:
        text = f"{len(alerts)} events, first {text}"
    return truncate(text, TITLE_MAX)


def _lines(alerts: Sequence[Alert], channel: ChannelConfig) -> str:
    where = truncate(escape_teams(channel.title), TITLE_MAX // 2)
    if len(alerts) == 1:
        return f"shipper · {where} · line {alerts[0].line}"
    return f"shipper · {where} · lines {alerts[0].line}–{alerts[-1].line}"

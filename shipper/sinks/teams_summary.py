"""A flood-control summary as a Teams card: a MessageCard or the Workflows Adaptive Card.

Pure; the Teams sink's ``render_summary``, in the channel's card format. The
plain-text fallback (MessageCard ``summary``, the Adaptive Card's
``fallbackText`` and the message's ``summary``) is exactly ``{group}: {count}
more in {window}``, folded onto one line and never marked up; the facts (first
and last time, severities, most frequent actors) go through ``escape_teams``
like any event text, and Adaptive Card text blocks wrap, so a long group or
actor cannot widen the card.
"""

from __future__ import annotations

from typing import Any

from shipper.config.model import ChannelConfig
from shipper.sinks.base import Rendered
from shipper.sinks.escape import escape_teams, one_line, truncate
from shipper.sinks.summary import FloodSummary, format_counts, format_time, summary_line

TITLE_MAX = 256
VALUE_MAX = 1000
THEME_COLOR = "8E44AD"  # a summary is neither an event nor a severity


def render_teams_summary(channel: ChannelConfig, summary: FloodSummary) -> Rendered:
    """One Teams message for ``summary``, in ``channel``'s card format."""
    plain = truncate(one_line(summary_line(summary)), TITLE_MAX)
    marked = truncate(summary_line(summary, escape_teams(summary.group)), TITLE_MAX)
    facts = [
        ("First", format_time(summary.first)),
        ("Last", format_time(summary.last)),
        ("Severities", ", ".join(format_counts(summary.severities))),
        (
            "Top actors",
            ", ".join(escape_teams(a) for a in format_counts(summary.actors, summary.other_actors))
            or "(none)",
        ),
    ]
    facts = [(name, truncate(value, VALUE_MAX)) for name, value in facts]
    where = truncate(escape_teams(channel.title), TITLE_MAX // 2)
    footer = f"shipper · {where} · flood control: events past the burst limit"
    if channel.teams_format == "adaptivecard":
        return Rendered(_adaptive(plain, marked, facts, footer), 1)
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": plain,
        "themeColor": THEME_COLOR,
        # Teams may read any MessageCard text field as Markdown and limited HTML, and the
        # group is event text: escaped here, unlike the card title of one event, which
        # holds only the severity and the channel's label.
        "title": marked,
        "sections": [
            {
                "activityTitle": f"📈 {marked}",
                "activitySubtitle": footer,
                "facts": [{"name": name, "value": value} for name, value in facts],
                "markdown": True,
            }
        ],
    }
    return Rendered(card, 1)


def _adaptive(plain: str, marked: str, facts: list[tuple[str, str]], footer: str) -> dict[str, Any]:
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": plain,
        "body": [
            {"type": "TextBlock", "text": f"📈 {marked}", "wrap": True, "weight": "Bolder"},
            *(
                {"type": "TextBlock", "text": f"**{name}**: {value}", "wrap": True}
                for name, value in facts
            ),
            {"type": "TextBlock", "text": footer, "wrap": True, "isSubtle": True, "size": "Small"},
        ],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "summary": plain,
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }

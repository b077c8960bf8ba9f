"""A flood-control summary as a Slack message: Block Kit blocks and the plain ``text`` line.

Pure; the Slack sink's ``render_summary``. The ``text`` fallback is exactly
``{group}: {count} more in {window}``; the blocks add the first and last time,
the severities with their counts and the most frequent actors. The group and
the actors come from events, so they go through ``escape_slack`` like any
event text, and every mrkdwn object is ``verbatim``: a summary can neither
mention nor link.
"""

from __future__ import annotations

from typing import Any

from shipper.config.model import ChannelConfig
from shipper.sinks.base import Rendered
from shipper.sinks.escape import escape_slack, truncate
from shipper.sinks.summary import FloodSummary, format_counts, format_time, summary_line

HEADER_MAX = 150
FIELD_MAX = 2000
FALLBACK_MAX = 4000
TITLE_MAX = 200


def render_slack_summary(channel: ChannelConfig, summary: FloodSummary) -> Rendered:
    """One Slack message for ``summary``."""
    line = summary_line(summary, escape_slack(summary.group))
    severities = format_counts(summary.severities)
    actors = format_counts(summary.actors, summary.other_actors)
    fields = [
        ("First", format_time(summary.first)),
        ("Last", format_time(summary.last)),
        ("Severities", ", ".join(severities)),
        ("Top actors", ", ".join(escape_slack(a) for a in actors) or "(none)"),
    ]
    where = truncate(escape_slack(channel.title), TITLE_MAX)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"📈 {line}", HEADER_MAX)},
        },
        {
            "type": "section",
            "fields": [_mrkdwn(truncate(f"*{k}*\n{v}", FIELD_MAX)) for k, v in fields],
        },
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"shipper · {where} · flood control: events past the burst limit")
            ],
        },
    ]
    message = {
        "text": truncate(line, FALLBACK_MAX),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
    return Rendered(payload=message, count=1)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}

"""Microsoft Teams: cards for the classic connector or Workflows, and what each answers.

Pure. Rendering is ``teams_cards``; reading answers is here. The classic
connector answers ``200`` with body ``1`` on success and wraps many failures
in a ``200`` whose text quotes the real status (reference 2.2); Workflows
answer ``202`` with an empty body, so they are read as a service of their
own (a channel is Workflows when its URL is on a Workflows host or its
format is ``adaptivecard``, which only they need).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from shipper.config.channels import is_workflows_url
from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.answers import (
    Action,
    Answer,
    GiveUp,
    Outcome,
    delivered,
    echo,
    header,
    read_failure,
    retry,
    status_meaning,
)
from shipper.sinks.base import CHAT_FLOOD_CONTROL, Limits, Rendered, Secrets, UrlKeys, url_secrets
from shipper.sinks.retry_after import parse_retry_after
from shipper.sinks.summary import FloodSummary
from shipper.sinks.teams_cards import MAX_ALERTS, MAX_BYTES, render_teams
from shipper.sinks.teams_summary import render_teams_summary

__all__ = ["TEAMS", "TeamsSink", "is_workflows", "render_teams"]

# The classic Teams connector wraps failures in a 200 (reference 2.2); the real
# status is inside the text. Meanings that differ from the shared table for Teams:
_TEAMS_ERROR = re.compile(r"HTTP error (\d{3})")
_TEAMS_MEANINGS: dict[int, str] = {
    400: "the message was refused (malformed, or the channel was removed)",
}
_TEAMS_TEXTS: dict[str, str] = {
    "Summary or Text is required.": "the card has neither a summary nor a text",
}


class TeamsSink(UrlKeys):
    """Teams incoming webhooks and Workflows; see the module docstring."""

    kind = "teams"
    limits = Limits(
        request_bytes=MAX_BYTES,
        request_items=MAX_ALERTS,
        max_rate=4.0,
        batch_max=20,
        flood_control=CHAT_FLOOD_CONTROL,
    )
    secret_keys = frozenset({"url"})
    config_keys = frozenset({"url", "format"})
    url_hosts = (
        (".webhook.office.com", "a Microsoft Teams connector webhook"),
        (".logic.azure.com", "a Microsoft Teams Workflows webhook"),
        (".api.powerplatform.com", "a Microsoft Teams Workflows webhook"),
    )

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_teams(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        workflows = is_workflows(channel)
        name = "Teams Workflows" if workflows else "Teams"
        cap = channel.delivery.retry_after_max
        status, text = answer.status, answer.body.strip()
        wrapped = _TEAMS_ERROR.search(text)
        if status == 200 and wrapped is not None:
            return _connector_error(int(wrapped.group(1)), text, answer.headers, now, cap)
        # Classic Teams also takes 202: the connector never sends it, but a
        # Workflows URL on an unknown host does.
        success = status in (200, 202) if workflows else (status == 200 and text == "1")
        if success or status == 202:
            return delivered(name, status, text)
        if not workflows and status == 200:
            return _connector_error(None, text, answer.headers, now, cap)
        return read_failure(
            name, answer, text, now=now, retry_after_max=cap, meaning=_TEAMS_TEXTS.get(text)
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return url_secrets(channel)

    def render_summary(self, channel: ChannelConfig, summary: FloodSummary) -> Rendered:
        return render_teams_summary(channel, summary)


TEAMS = TeamsSink()


def is_workflows(channel: ChannelConfig) -> bool:
    """Whether ``channel`` posts to Teams Workflows rather than a classic connector."""
    # An explicit adaptivecard format marks Workflows too: only they need it.
    return channel.teams_format == "adaptivecard" or (
        channel.url is not None and is_workflows_url(channel.url)
    )


def _connector_error(
    inner: int | None, text: str, headers: Mapping[str, str], now: float, retry_after_max: float
) -> Outcome:
    """A classic connector's 200 that is not ``1``; ``inner`` is the status quoted in the text."""
    if inner is None:
        action = Action.GIVE_UP
        meaning = _TEAMS_TEXTS.get(text, "the connector answers 1 on success")
    else:
        action, meaning = status_meaning(inner)
        meaning = _TEAMS_MEANINGS.get(inner, meaning)
    head = f"Teams answered 200 with an error: {echo(text)}" if text else "Teams answered 200"
    if action is Action.GIVE_UP:
        return GiveUp(f"{head}: {meaning}", 200)
    # The connector does not send Retry-After with these; honour one if it ever does.
    after = parse_retry_after(header(headers, "retry-after"), now)
    asked = after if action is Action.RETRY_AFTER else None
    return retry(head, meaning, asked, 200, retry_after_max)

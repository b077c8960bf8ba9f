"""The Slack incoming webhook: Block Kit messages, ``200 ok`` is success, errors by name.

Pure. Rendering is ``slack_blocks``; reading answers is here: Slack names its
errors (``no_service``, ``channel_is_archived``...), in plain text or, for a
429, in JSON with a ``retry_after``; the status decides retry or give up, and
the error string says why, which is what an operator needs to fix it. Slack
takes about one message a second per channel.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome, delivered, read_failure
from shipper.sinks.base import CHAT_FLOOD_CONTROL, Limits, Rendered, Secrets, UrlKeys, url_secrets
from shipper.sinks.slack_blocks import MAX_BLOCKS, render_slack
from shipper.sinks.slack_summary import render_slack_summary
from shipper.sinks.summary import FloodSummary

__all__ = ["SLACK", "SLACK_ERRORS", "SlackSink", "render_slack"]

NAME = "Slack"

# Slack's error strings (reference 1.4). The status decides retry or give up;
# the string says why, which is what an operator needs to fix it.
SLACK_ERRORS: dict[str, str] = {
    "invalid_payload": "the message is malformed",
    "user_not_found": "a user the message refers to does not exist",
    "action_prohibited": "an admin restricts posting to this channel",
    "channel_not_found": "the channel does not exist",
    "channel_is_archived": "the channel is archived",
    "rollup_error": "Slack had an internal error",
    "posting_to_general_channel_denied": (
        "posting to #general is restricted and the webhook's creator may not"
    ),
    "too_many_attachments": "the message has more than 100 attachments",
    "no_text": "the message has no text",
    "no_service": "the webhook was revoked or the URL is wrong",
    "no_service_id": "the webhook's service id is wrong or missing",
    "no_team": "the workspace is wrong or missing",
    "team_disabled": "the workspace is no longer active",
    "invalid_token": "the webhook's token is invalid or expired",
    "no_active_hooks": "the webhook is disabled",
    "rate_limited": "rate limited",
    "invalid_blocks": "the message's blocks are malformed",
    "invalid_blocks_format": "the message's blocks are malformed",
    "msg_blocks_too_long": "the message's blocks are too long",
}
_SLACK_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class SlackSink(UrlKeys):
    """Slack incoming webhooks; see the module docstring."""

    kind = "slack"
    limits = Limits(
        request_bytes=None,  # Slack counts characters; slack_blocks keeps its budgets
        # A batch is a header, a context line and per alert a section and a divider.
        request_items=(MAX_BLOCKS - 1) // 2,
        max_rate=1.0,
        batch_max=20,
        flood_control=CHAT_FLOOD_CONTROL,
    )
    secret_keys = frozenset({"url"})
    url_hosts = (("hooks.slack.com", "a Slack incoming webhook"),)

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_slack(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        text = answer.body.strip()
        if answer.status == 200 and text == "ok":
            return delivered(NAME, answer.status, text)
        code, body_after = _slack_error(text)
        return read_failure(
            NAME,
            answer,
            text,
            now=now,
            retry_after_max=channel.delivery.retry_after_max,
            detail=code,
            meaning=SLACK_ERRORS.get(code) if code is not None else None,
            body_after=body_after,
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return url_secrets(channel)

    def render_summary(self, channel: ChannelConfig, summary: FloodSummary) -> Rendered:
        return render_slack_summary(channel, summary)


SLACK = SlackSink()


def _slack_error(text: str) -> tuple[str | None, float | None]:
    """Slack's error string and ``retry_after``; 429s come as JSON, other errors as plain text."""
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None, None
        if not isinstance(data, dict):
            return None, None
        error, after = data.get("error"), data.get("retry_after")
        code = error if isinstance(error, str) and _SLACK_CODE.fullmatch(error) else None
        if isinstance(after, int | float) and not isinstance(after, bool) and after >= 0:
            return code, float(after)
        return code, None
    return (text if _SLACK_CODE.fullmatch(text) else None), None

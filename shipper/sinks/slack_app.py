"""The Slack app (bot token): its config keys, its messages, and its threads' status line.

Pure. A ``slack_app`` channel posts the webhook kind's Block Kit message
(``slack_blocks``, same escaping) with ``chat.postMessage`` under a bot token,
to a channel named ``#name`` (resolved to its ID by the exchange,
``delivery.slack_app``) or by ID. With ``thread_by``, events that share that
field's value are one conversation: a message covers only leading alerts of
one conversation (``Rendered.key``, a hash of the value: values are hostile,
of any length), and says in ``Rendered.status`` what the conversation's first
message should show as its latest outcome. Reading Slack's answers is
``slack_app_answers``; what needs I/O (names, pacing, threads) is the exchange's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shipper.config.model import ChannelConfig, FieldPath
from shipper.config.values import Problems, parse_url, read_secret, read_string, written
from shipper.routing.event import Alert, lookup
from shipper.sinks.answers import Answer, Outcome
from shipper.sinks.base import CHAT_FLOOD_CONTROL, Limits, Rendered, Secrets
from shipper.sinks.escape import escape_slack, truncate
from shipper.sinks.slack_app_answers import read_slack_answer
from shipper.sinks.slack_blocks import FALLBACK_MAX, MAX_BLOCKS, render_slack
from shipper.sinks.slack_summary import render_slack_summary
from shipper.sinks.summary import FloodSummary

__all__ = ["SLACK_APP", "SlackAppSettings", "SlackAppSink", "thread_key", "with_status"]

DEFAULT_API_URL = "https://slack.com/api"
# Bot tokens: "xoxb-" then digits, letters and dashes; anything else in a header is an attack.
_BOT_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]{1,250}")
# Conversation IDs: C (public or private channel), G (older private channels).
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,20}")
# Slack names are lowercase, at most 80 characters, without spaces or punctuation that
# would make them mentions or links; letters of other scripts are allowed.
_CHANNEL_NAME = re.compile(r"#[^\sA-Z#,<>@!&|*]{1,80}")
STATUS_BLOCK_ID = "shipper-status"
STATUS_MAX = 300


@dataclass(frozen=True, slots=True)
class SlackAppSettings:
    """A ``slack_app`` channel's own keys; ``token`` is ``None`` when its variable was unset
    in a run that posts nothing."""

    token: str | None
    channel: str  # "#name" or an ID
    api_url: str = DEFAULT_API_URL
    thread_by: FieldPath | None = None

    @property
    def channel_name(self) -> str | None:
        """The name without its ``#``, when the channel is given by name."""
        return self.channel[1:] if self.channel.startswith("#") else None


class SlackAppSink:
    """Slack through a bot token; see the module docstring."""

    kind = "slack_app"
    limits = Limits(
        request_bytes=None,  # Slack counts characters; slack_blocks keeps its budgets
        request_items=(MAX_BLOCKS - 1) // 2,
        max_rate=1.0,
        batch_max=20,
        flood_control=CHAT_FLOOD_CONTROL,
    )
    secret_keys = frozenset({"token"})
    config_keys = frozenset({"token", "channel", "api_url", "thread_by"})
    url_hosts: tuple[tuple[str, str], ...] = ()
    required_keys = frozenset({"token", "channel"})

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> SlackAppSettings | None:
        token = _token(body, prefix, environ, problems, posts=posts)
        channel = _channel(body, prefix, environ, problems)
        api_url = DEFAULT_API_URL
        if "api_url" in body:
            api_url = read_string(body, "api_url", prefix, environ, problems) or DEFAULT_API_URL
            api_url = (parse_url(api_url, f"{prefix}api_url", problems) or "").rstrip("/")
        thread_by = _thread_by(body, prefix, problems)
        if channel is None or not api_url:
            return None
        return SlackAppSettings(token, channel, api_url, thread_by)

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        settings: SlackAppSettings | None = channel.settings
        path = settings.thread_by if settings is not None else None
        if path is None:
            return render_slack(channel, alerts)
        key = thread_key(alerts[0], path)
        # One message never mixes conversations: it covers the leading alerts of one.
        same = 1
        while same < len(alerts) and thread_key(alerts[same], path) == key:
            same += 1
        rendered = render_slack(channel, alerts[:same])
        if key is None:
            return rendered
        latest = alerts[rendered.count - 1]
        return Rendered(rendered.payload, rendered.count, key=key, status=status_line(latest))

    def render_summary(self, channel: ChannelConfig, summary: FloodSummary) -> Rendered:
        # A summary is its own message, in no thread: it speaks for many conversations.
        return render_slack_summary(channel, summary)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        return read_slack_answer(
            answer,
            "chat.postMessage",
            where=settings_of(channel).channel if channel.settings else channel.name,
            now=now,
            retry_after_max=channel.delivery.retry_after_max,
        ).outcome

    def secrets(self, channel: ChannelConfig) -> Secrets:
        settings: SlackAppSettings | None = channel.settings
        token = settings.token if settings is not None else None
        return Secrets(values=(token,) if token else ())


SLACK_APP = SlackAppSink()


def settings_of(channel: ChannelConfig) -> SlackAppSettings:
    """``channel``'s ``slack_app`` settings (the config refuses a channel without them)."""
    settings = channel.settings
    if not isinstance(settings, SlackAppSettings):
        raise TypeError(f"channel {channel.name} is not a slack_app channel")
    return settings


def thread_key(alert: Alert, path: FieldPath) -> str | None:
    """The conversation ``alert`` belongs to: a hash of its ``thread_by`` value, or ``None``
    when it has none (then it is a message of its own)."""
    value = lookup(alert.raw, path)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            # An integer past 64 bits (read by the lenient parse); anything else unwritable
            # was made writable by routing, so it has no conversation.
            if not isinstance(value, int):
                return None
            text = str(value)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:40]


def status_line(alert: Alert) -> str:
    """What a conversation's first message shows of its latest event:
    ``*Latest:* approved by alice@… at 2026-12-01 14:02 UTC (deploy_approval_request.approved)``."""
    text = f"*Latest:* {escape_slack(alert.status or alert.action) or '(no action)'}"
    if alert.actor is not None:
        text += f" by {escape_slack(alert.actor)}"
    if alert.timestamp is not None:
        text += f" at {_when(alert.timestamp)}"
    if alert.status is not None and alert.action:
        text += f" ({escape_slack(alert.action)})"
    return truncate(text, STATUS_MAX)


def with_status(parent: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The first message of a thread (``parent``, as posted) with ``status`` as its status
    line: a context block under its header, or, when the message has no room for another
    block, a second element of its closing context block."""
    blocks = [dict(b) for b in parent.get("blocks", ())]
    element = {"type": "mrkdwn", "text": status, "verbatim": True}
    if len(blocks) < MAX_BLOCKS:
        at = 1 if blocks and blocks[0].get("type") == "header" else 0
        blocks.insert(at, {"type": "context", "block_id": STATUS_BLOCK_ID, "elements": [element]})
    elif blocks and blocks[-1].get("type") == "context":
        blocks[-1] = {**blocks[-1], "elements": [*blocks[-1]["elements"], element]}
    text = truncate(f"{status}\n{parent.get('text', '')}", FALLBACK_MAX)
    return {**parent, "text": text, "blocks": blocks}


def _when(timestamp: str) -> str:
    """An ISO 8601 time as ``2026-12-01 14:02 UTC``; anything else as written."""
    try:
        moment = datetime.fromisoformat(timestamp.strip())
        if moment.tzinfo is None:
            return f"{moment:%Y-%m-%d %H:%M}"
        # Year 9999 at -01:00 is past datetime's range in UTC: OverflowError.
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except (ValueError, OverflowError):
        return truncate(escape_slack(timestamp), 64)


def _token(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    token = read_secret(
        body, "token", prefix, environ, problems, posts=posts, variable="SLACK_BOT_TOKEN"
    )
    if token is None:
        return None
    token = token.strip()
    if not _BOT_TOKEN.fullmatch(token):
        # Never echo it: a user token (xoxp-) or a webhook URL pasted here is a secret too.
        problems.error(
            f"{prefix}token: is not a Slack bot token (xoxb-…); copy the Bot User OAuth "
            "Token from the app's OAuth & Permissions page"
        )
        return None
    return token


def _channel(
    body: Mapping[str, Any], prefix: str, environ: Mapping[str, str], problems: Problems
) -> str | None:
    if "channel" not in body:
        return None
    value = read_string(body, "channel", prefix, environ, problems)
    if value is None:
        return None
    value = value.strip()
    if _CHANNEL_ID.fullmatch(value) or _CHANNEL_NAME.fullmatch(value):
        return value
    if value.startswith("#") and value.lower() != value:
        problems.error(f"{prefix}channel: Slack channel names are lowercase: write {value.lower()}")
    else:
        problems.error(
            f"{prefix}channel: {written(body['channel'])} is neither a channel name such as "
            '"#security" nor a channel ID such as "C0123456789" (in Slack: the channel\'s '
            "details, at the bottom)"
        )
    return None


def _thread_by(body: Mapping[str, Any], prefix: str, problems: Problems) -> FieldPath | None:
    if "thread_by" not in body:
        return None
    value = body["thread_by"]
    parts = tuple(value.split(".")) if isinstance(value, str) else ()
    if not parts or not all(parts):
        problems.error(
            f"{prefix}thread_by: must be a dotted field such as "
            f'"context.request_id", got {written(value)}'
        )
        return None
    return parts

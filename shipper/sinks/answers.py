"""What an HTTP answer from a webhook means: delivered, retry (maybe after a delay) or give up.

Pure: ``classify`` reads a status, a body and headers and returns an
``Outcome`` with a reason in plain words that names the service, the status and
what the service said, never the URL. Decisions come from tables (success by
service, action and meaning by status, meaning by Slack error string) so that a
new rule is a new row. The delay of a retry without ``Retry-After`` is not
decided here: that is ``backoff``'s job; a ``Retry-After`` longer than the
channel's ``retry_after_max`` is cut to it here, the reason saying so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import orjson

from shipper.config.channels import is_workflows_url
from shipper.config.model import ChannelConfig, Kind
from shipper.sinks.retry_after import parse_retry_after

# How an answer is read. Teams Workflows answer differently from the classic
# connector (202 and an empty body), so they are a service of their own here.
Service = Literal["slack", "teams", "workflows", "webhook"]

BODY_ECHO_CHARS = 200


@dataclass(frozen=True, slots=True)
class Delivered:
    """The endpoint accepted the message."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Not delivered, worth trying again: after ``after`` seconds, or ``None`` for backoff.

    ``status`` is ``None`` when there was no HTTP answer (timeout, connection error).
    """

    after: float | None
    reason: str
    status: int | None = None
    asked: float | None = None  # the longer wait the server asked for, when ``after`` caps it


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Refused for good: trying the same message again cannot help."""

    reason: str
    status: int | None = None


Outcome = Delivered | Retry | GiveUp


class Action(Enum):
    """What to do about a failed answer."""

    RETRY_AFTER = "retry, honouring Retry-After"
    BACKOFF = "retry with backoff"
    GIVE_UP = "give up"


_SERVICE_NAMES: dict[Service, str] = {
    "slack": "Slack",
    "teams": "Teams",
    "workflows": "Teams Workflows",
    "webhook": "The webhook",
}

# Success per service (reference 1.2, 2.2, 2.6). Classic Teams also takes 202:
# the connector never sends it, but a Workflows URL on an unknown host does.
_SUCCESS: dict[Service, Callable[[int, str], bool]] = {
    "slack": lambda status, body: status == 200 and body == "ok",
    "teams": lambda status, body: (status == 200 and body == "1") or status == 202,
    "workflows": lambda status, body: status in (200, 202),
    "webhook": lambda status, body: 200 <= status < 300,
}

# Status -> action and meaning (reference 3.6). Statuses missing here fall back
# to their class in _STATUS_CLASS.
_STATUS: dict[int, tuple[Action, str]] = {
    400: (Action.GIVE_UP, "the message was refused as malformed"),
    401: (Action.GIVE_UP, "the endpoint wants credentials: the URL is wrong or was revoked"),
    403: (Action.GIVE_UP, "posting there is forbidden"),
    404: (Action.GIVE_UP, "the webhook was not found: it was removed or the URL is wrong"),
    408: (Action.BACKOFF, "the endpoint timed out waiting for the message"),
    410: (Action.GIVE_UP, "the webhook is gone: it was removed or its channel archived"),
    413: (Action.GIVE_UP, "the message is too large"),
    429: (Action.RETRY_AFTER, "rate limited"),
    500: (Action.BACKOFF, "the service had an internal error"),
    501: (Action.GIVE_UP, "the endpoint does not take POST requests"),
    502: (Action.BACKOFF, "a gateway in front of the service failed"),
    503: (Action.RETRY_AFTER, "the service is unavailable"),
    504: (Action.BACKOFF, "a gateway in front of the service timed out"),
}
_STATUS_CLASS: dict[int, tuple[Action, str]] = {
    1: (Action.GIVE_UP, "an interim answer was the last one"),
    2: (Action.GIVE_UP, "that is not the service's success answer"),
    3: (Action.GIVE_UP, "a redirect, which shipper does not follow: check the URL"),
    4: (Action.GIVE_UP, "the message was refused"),
    5: (Action.BACKOFF, "the service failed"),
}
_INVALID_STATUS = (Action.GIVE_UP, "that is not a valid HTTP status")

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

# The classic Teams connector wraps failures in a 200 (reference 2.2); the real
# status is inside the text. Meanings that differ from _STATUS for Teams:
_TEAMS_ERROR = re.compile(r"HTTP error (\d{3})")
_TEAMS_MEANINGS: dict[int, str] = {
    400: "the message was refused (malformed, or the channel was removed)",
}
_TEAMS_TEXTS: dict[str, str] = {
    "Summary or Text is required.": "the card has neither a summary nor a text",
}
_SLACK_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def service_of(channel: ChannelConfig) -> Service:
    """How answers from ``channel`` are read."""
    return service_for(channel.kind, workflows=_is_workflows(channel))


def service_for(kind: Kind, *, workflows: bool = False) -> Service:
    """The ``Service`` of a channel kind; ``workflows`` marks a Teams Workflows endpoint."""
    if kind == "teams" and workflows:
        return "workflows"
    return kind


def classify(
    service: Service,
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    now: float,
    retry_after_max: float = math.inf,
) -> Outcome:
    """The outcome of one answer. ``now`` (unix time) resolves an HTTP-date ``Retry-After``;
    a wait asked for beyond ``retry_after_max`` is cut to it (``Retry.asked`` keeps it)."""
    name = _SERVICE_NAMES[service]
    text = body.strip()
    wrapped = _TEAMS_ERROR.search(text) if service in ("teams", "workflows") else None
    if status == 200 and wrapped is not None:
        return _teams_error(int(wrapped.group(1)), text, headers, now, retry_after_max)
    if _SUCCESS[service](status, text):
        return Delivered(status, _join(f"{name} answered {status}", echo(text)))
    if service == "teams" and status == 200:
        return _teams_error(None, text, headers, now, retry_after_max)
    action, meaning = _STATUS.get(status) or _STATUS_CLASS.get(status // 100, _INVALID_STATUS)
    detail = echo(text)
    after = None
    if service == "slack":
        code, body_after = _slack_error(text)
        if code is not None:
            detail, meaning = code, SLACK_ERRORS.get(code, meaning)
        after = body_after
    elif service in ("teams", "workflows") and text in _TEAMS_TEXTS:
        meaning = _TEAMS_TEXTS[text]
    head = _join(f"{name} answered {status}", detail)
    if action is Action.RETRY_AFTER:
        header_after = parse_retry_after(_header(headers, "retry-after"), now)
        asked = header_after if header_after is not None else after
        return _retry(head, meaning, asked, status, retry_after_max)
    if action is Action.BACKOFF:
        return _retry(head, meaning, None, status, retry_after_max)
    return GiveUp(f"{head}: {meaning}", status)


def echo(body: str) -> str:
    """A body as it may appear in a reason: one line, at most ``BODY_ECHO_CHARS`` characters."""
    line = " ".join(body.split())
    if len(line) > BODY_ECHO_CHARS:
        return line[: BODY_ECHO_CHARS - 1] + "…"
    return line


def format_delay(seconds: float) -> str:
    """``30`` -> ``30s``, ``1.5`` -> ``1.5s``: how reasons and logs show a delay."""
    return f"{seconds:.1f}".removesuffix(".0") + "s"


def _teams_error(
    inner: int | None, text: str, headers: Mapping[str, str], now: float, retry_after_max: float
) -> Outcome:
    """A classic connector's 200 that is not ``1``; ``inner`` is the status quoted in the text."""
    if inner is None:
        action = Action.GIVE_UP
        meaning = _TEAMS_TEXTS.get(text, "the connector answers 1 on success")
    else:
        action, meaning = _STATUS.get(inner) or _STATUS_CLASS.get(inner // 100, _INVALID_STATUS)
        meaning = _TEAMS_MEANINGS.get(inner, meaning)
    head = f"Teams answered 200 with an error: {echo(text)}" if text else "Teams answered 200"
    if action is Action.GIVE_UP:
        return GiveUp(f"{head}: {meaning}", 200)
    # The connector does not send Retry-After with these; honour one if it ever does.
    after = parse_retry_after(_header(headers, "retry-after"), now)
    asked = after if action is Action.RETRY_AFTER else None
    return _retry(head, meaning, asked, 200, retry_after_max)


def _retry(
    head: str, meaning: str, asked: float | None, status: int, retry_after_max: float
) -> Retry:
    if asked is None:
        return Retry(None, f"{head}: {meaning}, retrying with backoff", status)
    if asked > retry_after_max:
        # A server must not park a channel for days: its alerts would wait as long.
        when = (
            f"retrying after {format_delay(retry_after_max)} (retry_after_max), "
            f"not the {format_delay(asked)} asked for"
        )
        return Retry(retry_after_max, f"{head}: {meaning}, {when}", status, asked)
    return Retry(asked, f"{head}: {meaning}, retrying after {format_delay(asked)}", status)


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


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    # aiohttp's headers are case-insensitive already; plain dicts (tests, fakes) are not.
    value = headers.get(lower_name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == lower_name), None)


def _join(head: str, detail: str) -> str:
    return f"{head} {detail}" if detail else head


def _is_workflows(channel: ChannelConfig) -> bool:
    # An explicit adaptivecard format marks Workflows too: only they need it.
    return channel.teams_format == "adaptivecard" or (
        channel.url is not None and is_workflows_url(channel.url)
    )

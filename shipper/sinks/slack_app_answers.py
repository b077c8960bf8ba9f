"""Reading the Slack Web API's answers: ``"ok": false`` error strings -> outcomes with the fix.

Pure. Slack answers most failures with ``200`` and ``{"ok": false, "error":
"..."}`` (reference 1.1, 1.7); the string decides: fix the setup (give up with
the fix in plain words: invite the app, reinstall it, add a scope), wait
(``ratelimited``, ``429``: ``Retry-After``), or try again (Slack's own
failures, and any string not known here, as Slack warns that others occur).
A rate limit says whose it is (``Scope``): a ``429`` or ``ratelimited`` is the
method's limit for the whole token (every channel of that token waits),
``rate_limited`` from ``chat.postMessage`` the posting pace of one channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from shipper.sinks.answers import (
    Action,
    Answer,
    Delivered,
    GiveUp,
    Outcome,
    echo,
    header,
    read_failure,
    retry,
)
from shipper.sinks.retry_after import parse_retry_after

NAME = "Slack"
_CODE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_SCOPES = re.compile(r"[a-z][a-z0-9:._-]{0,40}(?:,[a-z][a-z0-9:._-]{0,40}){0,20}")

INVITE = "the app is not a member of {where}: type /invite @your-app in that channel"
REINSTALL = (
    "reinstall the app to the workspace (api.slack.com/apps > your app > Install App) "
    "and set the new Bot User OAuth Token"
)
MALFORMED = "Slack refused the message as malformed: a shipper bug, please report it"
POLICY = "the workspace's settings do not let the app post to {where}: ask a workspace admin"


class Scope(Enum):
    """Whose rate limit an answer reports."""

    TOKEN = "token"  # noqa: S105 (a scope's name, not a secret): the method's limit for the app's token: every channel waits
    CHANNEL = "channel"  # one Slack channel's posting pace


# error string -> (what to do, meaning with the fix, whose limit for a wait).
ERRORS: dict[str, tuple[Action, str, Scope | None]] = {
    "not_in_channel": (Action.GIVE_UP, INVITE, None),
    "channel_not_found": (
        Action.GIVE_UP,
        "Slack knows no channel {where} the app can see: check the ID; for a private "
        "channel, type /invite @your-app in it",
        None,
    ),
    "is_archived": (
        Action.GIVE_UP,
        "{where} is archived: unarchive it, or point the channel at another one",
        None,
    ),
    "invalid_auth": (
        Action.GIVE_UP,
        "the token is not valid: copy the Bot User OAuth Token (xoxb-…) again from "
        "the app's OAuth & Permissions page",
        None,
    ),
    "not_authed": (Action.GIVE_UP, "no token was sent: set the channel's token", None),
    "token_revoked": (Action.GIVE_UP, "the token was revoked: " + REINSTALL, None),
    "token_expired": (
        Action.GIVE_UP,
        "the token expired (token rotation is on: shipper needs a token that does not "
        "expire, so turn rotation off): " + REINSTALL,
        None,
    ),
    "account_inactive": (
        Action.GIVE_UP,
        "the app was removed from the workspace or its bot deactivated: " + REINSTALL,
        None,
    ),
    "missing_scope": (
        Action.GIVE_UP,
        "the token lacks a scope: add it under OAuth & Permissions > Bot Token Scopes, "
        "then reinstall the app",
        None,
    ),
    "no_permission": (Action.GIVE_UP, POLICY, None),
    "access_denied": (Action.GIVE_UP, POLICY, None),
    "ekm_access_denied": (Action.GIVE_UP, POLICY, None),
    "restricted_action": (Action.GIVE_UP, POLICY, None),
    "restricted_action_read_only_channel": (
        Action.GIVE_UP,
        "{where} is read-only for the app: ask a workspace admin to let it post",
        None,
    ),
    "restricted_action_thread_only_channel": (Action.GIVE_UP, POLICY, None),
    "restricted_action_non_threadable_channel": (Action.GIVE_UP, POLICY, None),
    "restricted_action_thread_locked": (Action.GIVE_UP, POLICY, None),
    "team_access_not_granted": (Action.GIVE_UP, POLICY, None),
    "invalid_types": (
        Action.GIVE_UP,
        "the token may not list these channels: add the channels:read scope and reinstall the app",
        None,
    ),
    "msg_too_long": (Action.GIVE_UP, MALFORMED, None),
    "no_text": (Action.GIVE_UP, MALFORMED, None),
    "invalid_blocks": (Action.GIVE_UP, MALFORMED, None),
    "invalid_blocks_format": (Action.GIVE_UP, MALFORMED, None),
    "msg_blocks_too_long": (Action.GIVE_UP, MALFORMED, None),
    "too_many_attachments": (Action.GIVE_UP, MALFORMED, None),
    "markdown_text_conflict": (Action.GIVE_UP, MALFORMED, None),
    "invalid_arg_name": (Action.GIVE_UP, MALFORMED, None),
    "invalid_arguments": (Action.GIVE_UP, MALFORMED, None),
    "invalid_form_data": (Action.GIVE_UP, MALFORMED, None),
    "invalid_post_type": (Action.GIVE_UP, MALFORMED, None),
    "invalid_charset": (Action.GIVE_UP, MALFORMED, None),
    "missing_post_type": (Action.GIVE_UP, MALFORMED, None),
    "invalid_json": (Action.GIVE_UP, MALFORMED, None),
    "json_not_object": (Action.GIVE_UP, MALFORMED, None),
    # chat.update (reference 1.3): the thread's first message cannot be redrawn.
    "message_not_found": (Action.GIVE_UP, "the message was deleted", None),
    "cant_update_message": (Action.GIVE_UP, "the message can no longer be edited by the app", None),
    "edit_window_closed": (
        Action.GIVE_UP,
        "the message can no longer be edited (the workspace limits how long edits are allowed)",
        None,
    ),
    "block_mismatch": (Action.GIVE_UP, MALFORMED, None),
    "update_failed": (Action.BACKOFF, "Slack could not update the message", None),
    "ratelimited": (
        Action.RETRY_AFTER,
        "rate limited (this app's token, every channel)",
        Scope.TOKEN,
    ),
    "rate_limited": (
        Action.RETRY_AFTER,
        "rate limited: the app posts to {where} faster than Slack allows",
        Scope.CHANNEL,
    ),
    "message_limit_exceeded": (
        Action.BACKOFF,
        "the workspace reached its plan's message limit",
        Scope.TOKEN,
    ),
    "service_unavailable": (Action.BACKOFF, "Slack is unavailable", None),
    "internal_error": (Action.BACKOFF, "Slack had an internal error", None),
    "request_timeout": (Action.BACKOFF, "the request reached Slack incompletely", None),
    "fatal_error": (
        Action.BACKOFF,
        "Slack failed; the message may have been posted all the same (a duplicate may follow)",
        None,
    ),
    "team_added_to_org": (Action.BACKOFF, "the workspace is being migrated", None),
    "org_login_required": (Action.BACKOFF, "the workspace is being migrated", None),
}
# A reply whose parent Slack no longer has: post it as a new message instead.
THREAD_GONE = frozenset({"thread_not_found", "message_not_found", "invalid_thread_ts"})


@dataclass(frozen=True, slots=True)
class SlackRead:
    """An answer read: its outcome, its JSON object, its error string, whose limit it hit."""

    outcome: Outcome
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    scope: Scope | None = None


def read_slack_answer(
    answer: Answer, method: str, *, where: str, now: float, retry_after_max: float
) -> SlackRead:
    """What Slack's ``answer`` to ``method`` means; ``where`` names the Slack channel."""
    data = _json_object(answer.body)
    if answer.status == 200 and data.get("ok") is True:
        return SlackRead(Delivered(200, f"{NAME} answered 200 ok to {method}"), data)
    code = data.get("error")
    code = code if isinstance(code, str) and _CODE.fullmatch(code) else None
    if answer.status == 429:
        code = code or "ratelimited"
    if answer.status != 200 and code not in ("ratelimited", "rate_limited"):
        # Not Slack's own error: a gateway's 5xx, a proxy's 403; the status decides.
        outcome = read_failure(
            NAME, answer, answer.body.strip(), now=now, retry_after_max=retry_after_max
        )
        return SlackRead(outcome, data, code)
    head = (
        f"{NAME} answered {answer.status} {code or echo(answer.body) or '(no error)'} to {method}"
    )
    action, meaning, scope = ERRORS.get(
        code or "", (Action.BACKOFF, "an error shipper does not know; retrying", None)
    )
    meaning = meaning.format(where=where) + _details(code, data)
    if action is Action.GIVE_UP:
        return SlackRead(GiveUp(f"{head}: {meaning}", answer.status), data, code)
    status = 429 if scope is not None else answer.status
    asked = None
    if action is Action.RETRY_AFTER:
        asked = parse_retry_after(header(answer.headers, "retry-after"), now)
        if asked is None:
            asked = 1.0  # Slack's own client waits a second when the header is missing
    return SlackRead(retry(head, meaning, asked, status, retry_after_max), data, code, scope)


def posted_at(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The ``(channel, ts)`` of a message ``chat.postMessage`` reports posted."""
    channel, ts = data.get("channel"), data.get("ts")
    if isinstance(channel, str) and isinstance(ts, str) and ts and channel:
        return channel, ts
    return None


def next_cursor(data: Mapping[str, Any]) -> str | None:
    """The cursor of ``conversations.list``'s next page; ``None`` on the last one."""
    meta = data.get("response_metadata")
    cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def channels_listed(data: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """The ``(name, id, is_member)`` of each channel on a ``conversations.list`` page."""
    found = []
    for item in data.get("channels") or ():
        if isinstance(item, dict):
            name, ident = item.get("name"), item.get("id")
            if isinstance(name, str) and isinstance(ident, str):
                found.append((name, ident, item.get("is_member") is True))
    return found


def _details(code: str | None, data: Mapping[str, Any]) -> str:
    """What Slack adds to some errors: the scope wanted and the ones given."""
    if code != "missing_scope":
        return ""
    needed, provided = data.get("needed"), data.get("provided")
    text = ""
    if isinstance(needed, str) and _SCOPES.fullmatch(needed):
        text += f" (needed: {needed}"
        if isinstance(provided, str) and _SCOPES.fullmatch(provided):
            text += f"; the token has: {provided}"
        text += ")"
    return text


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}

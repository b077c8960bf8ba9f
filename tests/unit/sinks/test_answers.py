"""Reading answers: (service, status, body, headers) -> an outcome and its reason, by each sink."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pytest

from shipper.config.model import ChannelConfig
from shipper.sinks import sink_for
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Retry
from shipper.sinks.slack import SLACK_ERRORS
from shipper.sinks.teams import is_workflows

# How an answer is read: Teams Workflows answer unlike the classic connector.
Service = Literal["slack", "teams", "workflows", "webhook"]
CHANNELS: dict[Service, ChannelConfig] = {
    "slack": ChannelConfig("c", "slack", "https://hooks.slack.com/services/T/B/X"),
    "teams": ChannelConfig("c", "teams", "https://acme.webhook.office.com/webhookb2/x"),
    "workflows": ChannelConfig(
        "c",
        "teams",
        "https://prod-1.westus.logic.azure.com/workflows/x",
        teams_format="adaptivecard",
    ),
    "webhook": ChannelConfig("c", "webhook", "https://siem.example/in"),
}  # fmt: skip


def classify(
    service: Service, status: int, body: str, headers: Mapping[str, str], *, now: float
) -> Outcome:
    """What the sink of a channel of ``service`` makes of one answer."""
    channel = CHANNELS[service]
    return sink_for(channel).read_answer(channel, Answer(status, body, headers), now=now)


NOW = 1_700_000_000.0
NO_HEADERS: Mapping[str, str] = {}
TEAMS_413 = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
    "HTTP error 413 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,"
    "cv=deadbeef.0"
)
TEAMS_429 = "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=1"
TEAMS_502 = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 502"
)
TEAMS_400 = "Microsoft Teams endpoint returned HTTP error 400 with ContextId tcid=3"

# (service, status, body, headers, outcome type, retry-after, exact reason)
CASES: list[tuple[Service, int, str, Mapping[str, str], type, float | None, str]] = [
    # Success, per service.
    ("slack", 200, "ok", NO_HEADERS, Delivered, None, "Slack answered 200 ok"),
    ("teams", 200, "1", NO_HEADERS, Delivered, None, "Teams answered 200 1"),
    ("teams", 200, " 1\n", NO_HEADERS, Delivered, None, "Teams answered 200 1"),
    ("workflows", 202, "", NO_HEADERS, Delivered, None, "Teams Workflows answered 202"),
    ("workflows", 200, "", NO_HEADERS, Delivered, None, "Teams Workflows answered 200"),
    ("webhook", 204, "", NO_HEADERS, Delivered, None, "The webhook answered 204"),
    ("webhook", 201, "created", NO_HEADERS, Delivered, None, "The webhook answered 201 created"),
    # Slack: 200 that is not "ok" is not success.
    (
        "slack",
        200,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 200: that is not the service's success answer",
    ),
    # Slack permanent refusals, with the meaning of their error string.
    (
        "slack",
        400,
        "invalid_payload",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 invalid_payload: the message is malformed",
    ),
    (
        "slack",
        400,
        "user_not_found",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 user_not_found: a user the message refers to does not exist",
    ),
    (
        "slack",
        400,
        "no_text",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 no_text: the message has no text",
    ),
    (
        "slack",
        400,
        "too_many_attachments",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 too_many_attachments: the message has more than 100 attachments",
    ),
    (
        "slack",
        400,
        "invalid_blocks",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 invalid_blocks: the message's blocks are malformed",
    ),
    (
        "slack",
        400,
        "invalid_blocks_format",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 invalid_blocks_format: the message's blocks are malformed",
    ),
    (
        "slack",
        403,
        "action_prohibited",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 403 action_prohibited: an admin restricts posting to this channel",
    ),
    (
        "slack",
        403,
        "posting_to_general_channel_denied",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 403 posting_to_general_channel_denied: posting to #general is restricted "
        "and the webhook's creator may not",
    ),
    (
        "slack",
        403,
        "invalid_token",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 403 invalid_token: the webhook's token is invalid or expired",
    ),
    (
        "slack",
        404,
        "no_service",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 no_service: the webhook was revoked or the URL is wrong",
    ),
    (
        "slack",
        404,
        "channel_not_found",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 channel_not_found: the channel does not exist",
    ),
    (
        "slack",
        404,
        "no_service_id",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 no_service_id: the webhook's service id is wrong or missing",
    ),
    (
        "slack",
        404,
        "no_team",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 no_team: the workspace is wrong or missing",
    ),
    (
        "slack",
        404,
        "team_disabled",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 team_disabled: the workspace is no longer active",
    ),
    (
        "slack",
        404,
        "no_active_hooks",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 404 no_active_hooks: the webhook is disabled",
    ),
    (
        "slack",
        410,
        "channel_is_archived",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 410 channel_is_archived: the channel is archived",
    ),
    (
        "slack",
        400,
        "msg_blocks_too_long",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 msg_blocks_too_long: the message's blocks are too long",
    ),
    # An unknown Slack string falls back to the status's meaning.
    (
        "slack",
        400,
        "brand_new_error",
        NO_HEADERS,
        GiveUp,
        None,
        "Slack answered 400 brand_new_error: the message was refused as malformed",
    ),
    # Slack transient answers.
    (
        "slack",
        500,
        "rollup_error",
        NO_HEADERS,
        Retry,
        None,
        "Slack answered 500 rollup_error: Slack had an internal error, retrying with backoff",
    ),
    (
        "slack",
        429,
        '{"retry_after":1,"ok":false,"error":"rate_limited"}',
        {"Retry-After": "30"},
        Retry,
        30.0,
        "Slack answered 429 rate_limited: rate limited, retrying after 30s",
    ),
    (
        "slack",
        429,
        "rate_limited",
        {"retry-after": "2"},
        Retry,
        2.0,
        "Slack answered 429 rate_limited: rate limited, retrying after 2s",
    ),
    # Without a header, Slack's JSON retry_after is the next best hint.
    (
        "slack",
        429,
        '{"retry_after":7,"ok":false,"error":"rate_limited"}',
        NO_HEADERS,
        Retry,
        7.0,
        "Slack answered 429 rate_limited: rate limited, retrying after 7s",
    ),
    (
        "slack",
        429,
        "{not json",
        NO_HEADERS,
        Retry,
        None,
        "Slack answered 429 {not json: rate limited, retrying with backoff",
    ),
    (
        "slack",
        429,
        "",
        {"Retry-After": "Tue, 14 Nov 2023 22:14:30 GMT"},
        Retry,
        70.0,
        "Slack answered 429: rate limited, retrying after 70s",
    ),
    # Classic Teams: 200 with an error text is a failure.
    (
        "teams",
        200,
        TEAMS_429,
        NO_HEADERS,
        Retry,
        None,
        f"Teams answered 200 with an error: {TEAMS_429}: rate limited, retrying with backoff",
    ),
    (
        "teams",
        200,
        TEAMS_502,
        NO_HEADERS,
        Retry,
        None,
        f"Teams answered 200 with an error: {TEAMS_502}: a gateway in front of the service "
        "failed, retrying with backoff",
    ),
    (
        "teams",
        200,
        TEAMS_413,
        NO_HEADERS,
        GiveUp,
        None,
        f"Teams answered 200 with an error: {TEAMS_413}: the message is too large",
    ),
    (
        "teams",
        200,
        TEAMS_400,
        NO_HEADERS,
        GiveUp,
        None,
        f"Teams answered 200 with an error: {TEAMS_400}: the message was refused (malformed, "
        "or the channel was removed)",
    ),
    (
        "teams",
        200,
        "Summary or Text is required.",
        NO_HEADERS,
        GiveUp,
        None,
        "Teams answered 200 with an error: Summary or Text is required.: the card has neither a "
        "summary nor a text",
    ),
    (
        "teams",
        200,
        '{"statusCode": 500}',
        NO_HEADERS,
        GiveUp,
        None,
        'Teams answered 200 with an error: {"statusCode": 500}: the connector answers 1 on success',
    ),
    (
        "teams",
        400,
        "Summary or Text is required.",
        NO_HEADERS,
        GiveUp,
        None,
        "Teams answered 400 Summary or Text is required.: "
        "the card has neither a summary nor a text",
    ),
    (
        "teams",
        200,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "Teams answered 200: the connector answers 1 on success",
    ),
    # Workflows: 200 with a wrapped error is still a failure.
    (
        "workflows",
        200,
        TEAMS_413,
        NO_HEADERS,
        GiveUp,
        None,
        f"Teams answered 200 with an error: {TEAMS_413}: the message is too large",
    ),
    (
        "workflows",
        429,
        "",
        {"Retry-After": "5"},
        Retry,
        5.0,
        "Teams Workflows answered 429: rate limited, retrying after 5s",
    ),
    # Generic statuses.
    (
        "webhook",
        429,
        "",
        NO_HEADERS,
        Retry,
        None,
        "The webhook answered 429: rate limited, retrying with backoff",
    ),
    (
        "webhook",
        503,
        "down",
        {"Retry-After": "12"},
        Retry,
        12.0,
        "The webhook answered 503 down: the service is unavailable, retrying after 12s",
    ),
    (
        "webhook",
        503,
        "",
        NO_HEADERS,
        Retry,
        None,
        "The webhook answered 503: the service is unavailable, retrying with backoff",
    ),
    (
        "webhook",
        500,
        "boom",
        {"Retry-After": "99"},
        Retry,
        None,
        "The webhook answered 500 boom: the service had an internal error, retrying with backoff",
    ),
    (
        "webhook",
        502,
        "",
        NO_HEADERS,
        Retry,
        None,
        "The webhook answered 502: a gateway in front of the service failed, retrying with backoff",
    ),
    (
        "webhook",
        507,
        "",
        NO_HEADERS,
        Retry,
        None,
        "The webhook answered 507: the service failed, retrying with backoff",
    ),
    (
        "webhook",
        408,
        "",
        NO_HEADERS,
        Retry,
        None,
        "The webhook answered 408: the endpoint timed out waiting for the message, "
        "retrying with backoff",
    ),
    (
        "webhook",
        400,
        "bad",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 400 bad: the message was refused as malformed",
    ),
    (
        "webhook",
        401,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 401: the endpoint wants credentials: the URL is wrong or was revoked",
    ),
    (
        "webhook",
        403,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 403: posting there is forbidden",
    ),
    (
        "webhook",
        404,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 404: the webhook was not found: it was removed or the URL is wrong",
    ),
    (
        "webhook",
        410,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 410: the webhook is gone: it was removed or its channel archived",
    ),
    (
        "webhook",
        413,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 413: the message is too large",
    ),
    (
        "webhook",
        422,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 422: the message was refused",
    ),
    (
        "webhook",
        301,
        "",
        {"Location": "https://elsewhere.example/x"},
        GiveUp,
        None,
        "The webhook answered 301: a redirect, which shipper does not follow: check the URL",
    ),
    (
        "webhook",
        999,
        "",
        NO_HEADERS,
        GiveUp,
        None,
        "The webhook answered 999: that is not a valid HTTP status",
    ),
]


@pytest.mark.parametrize(
    ("service", "status", "body", "headers", "kind", "after", "reason"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2][:24]}" for c in CASES],
)
def test_classify(
    service: Service,
    status: int,
    body: str,
    headers: Mapping[str, str],
    kind: type,
    after: float | None,
    reason: str,
) -> None:
    outcome = classify(service, status, body, headers, now=NOW)
    assert type(outcome) is kind
    assert outcome.reason == reason
    if isinstance(outcome, Retry):
        assert outcome.after == after
    assert outcome.status == status


def test_every_slack_error_string_has_a_case() -> None:
    covered = {body for service, _, body, *_ in CASES if service == "slack"}
    covered |= {"rate_limited"}  # covered as JSON above
    assert set(SLACK_ERRORS) <= covered


def test_long_bodies_are_cut_to_one_short_line() -> None:
    outcome = classify("webhook", 500, "x" * 5000 + "\n\nmore", NO_HEADERS, now=NOW)
    assert isinstance(outcome, Retry)
    assert "\n" not in outcome.reason
    assert len(outcome.reason) < 300
    assert "…" in outcome.reason


@pytest.mark.parametrize(
    ("kind", "url", "fmt", "expected"),
    [
        ("slack", "https://hooks.slack.com/services/T/B/X", "messagecard", "slack"),
        ("teams", "https://acme.webhook.office.com/webhookb2/x", "messagecard", "teams"),
        ("teams", "https://prod-1.westus.logic.azure.com/workflows/x", "messagecard", "workflows"),
        ("teams", "https://acme.webhook.office.com/webhookb2/x", "adaptivecard", "workflows"),
        ("webhook", "https://siem.example/in", "messagecard", "webhook"),
    ],
)
def test_service_of_channel(kind: str, url: str, fmt: str, expected: Service) -> None:
    channel = ChannelConfig(name="c", kind=kind, url=url, teams_format=fmt)  # type: ignore[arg-type]
    # Workflows answer 202 with an empty body; a classic connector's 200 "1" is theirs only.
    classic = sink_for(channel).read_answer(channel, Answer(200, "1", {}), now=NOW)
    workflows = sink_for(channel).read_answer(channel, Answer(202, "", {}), now=NOW)
    assert isinstance(classic, Delivered) is (expected in ("teams", "workflows", "webhook"))
    assert isinstance(workflows, Delivered) is (expected != "slack")
    if channel.kind == "teams":
        assert is_workflows(channel) is (expected == "workflows")
        assert workflows.reason.startswith(
            "Teams Workflows answered" if expected == "workflows" else "Teams answered"
        )


def test_workflows_flag_only_matters_for_teams() -> None:
    channel = ChannelConfig(
        "c", "slack", "https://x.logic.azure.com/w", teams_format="adaptivecard"
    )
    assert not isinstance(
        sink_for(channel).read_answer(channel, Answer(202, "", {}), now=NOW), Delivered
    )

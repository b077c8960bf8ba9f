"""The ``slack_app`` sink: its keys (offline shape checks), its threads' messages, its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.config.model import ChannelConfig, Config, DeliveryConfig
from shipper.errors import ConfigError
from shipper.sinks.answers import Answer, Delivered, GiveUp, Retry
from shipper.sinks.slack_app import (
    SLACK_APP,
    STATUS_BLOCK_ID,
    SlackAppSettings,
    thread_key,
    with_status,
)
from shipper.sinks.slack_app_answers import Scope, SlackRead, read_slack_answer
from shipper.sinks.slack_blocks import MAX_BLOCKS
from tests.support.alerts import make_alert
from tests.support.config import load_config
from tests.unit.sinks.test_format_slack import check_slack

TOKEN = "xoxb-1234-5678-SecretBotToken"


def load(
    tmp_path: Path, body: str, environ: dict[str, str] | None = None, *, posts: bool = True
) -> Config:
    path = tmp_path / "shipper.toml"
    path.write_text(
        f'[source]\nstate_dir = "{tmp_path}"\n[channels.ops]\nkind = "slack_app"\n{body}'
    )
    return load_config(path, {"TOKEN": TOKEN, **(environ or {})}, posts=posts)


def problems(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body, environ)
    return str(caught.value)


def test_keys_parse_into_settings(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'token = "${TOKEN}"\nchannel = "#sécurité-ops"\napi_url = "http://127.0.0.1:9/api/"\n'
        'thread_by = "context.request_id"\n',
    )
    (channel,) = config.channels
    assert channel.settings == SlackAppSettings(
        TOKEN, "#sécurité-ops", "http://127.0.0.1:9/api", ("context", "request_id")
    )
    assert channel.delivery.max_rate == 1.0
    assert SLACK_APP.secrets(channel).values == (TOKEN,)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('channel = "#ops"\n', "channels.ops.token: missing"),
        ('token = "${TOKEN}"\n', "channels.ops.channel: missing"),
        ('token = "${USER}"\nchannel = "#ops"\n', "channels.ops.token: is not a Slack bot token"),
        ('token = "${TOKEN}"\nchannel = "ops"\n', 'channels.ops.channel: "ops" is neither'),
        ('token = "${TOKEN}"\nchannel = "#Ops"\n', "Slack channel names are lowercase: write #ops"),
        ('token = "${TOKEN}"\nchannel = "D0123456789"\n', "channels.ops.channel:"),
        (
            'token = "${TOKEN}"\nchannel = "#ops"\napi_url = "http://slack.example/api"\n',
            "channels.ops.api_url: must use https://",
        ),
        ('token = "${TOKEN}"\nchannel = "#ops"\nthread_by = "a..b"\n', "channels.ops.thread_by:"),
        ('token = "${NOPE}"\nchannel = "#ops"\n', "environment variable NOPE is not set"),
        ('token = "${TOKEN}"\nchannel = "#ops"\nurl = "https://x"\n', "channels.ops.url:"),
    ],
)
def test_bad_keys_are_named_and_the_token_never_shown(
    tmp_path: Path, body: str, expected: str
) -> None:
    found = problems(tmp_path, body, {"USER": "xoxp-99-UserSecretToken\r\nX-Injected: 1"})
    assert expected in found
    assert "SecretBotToken" not in found and "UserSecretToken" not in found


def test_an_unset_token_is_a_warning_when_nothing_is_posted(tmp_path: Path) -> None:
    config = load(tmp_path, 'token = "${NOPE}"\nchannel = "C0123ABCD"\n', posts=False)
    assert config.channels[0].settings.token is None
    assert any("NOPE is not set" in w for w in config.warnings)


def test_a_token_written_in_the_file_is_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, f'token = "{TOKEN}"\nchannel = "C0123ABCD"\n')
    (warning,) = [w for w in config.warnings if "token" in w]
    assert "environment variable" in warning and TOKEN not in warning


def channel(thread_by: tuple[str, ...] | None = ("context", "request_id")) -> ChannelConfig:
    settings = SlackAppSettings(TOKEN, "#ops", "https://slack.com/api", thread_by)
    return ChannelConfig("ops", "slack_app", None, delivery=DeliveryConfig(), settings=settings)


def event(n: int, request_id: object, **more: Any) -> Any:
    return make_alert(n, raw={"action": "a", "context": {"request_id": request_id}}, **more)


def test_a_message_covers_only_leading_alerts_of_one_conversation() -> None:
    alerts = [event(1, "r1"), event(2, "r1"), event(3, "r2"), event(4, "r1")]
    first = SLACK_APP.render(channel(), alerts)
    assert first.count == 2 and first.key == thread_key(alerts[0], ("context", "request_id"))
    second = SLACK_APP.render(channel(), alerts[2:])
    assert second.count == 1 and second.key != first.key
    check_slack(first.payload)
    unkeyed = [make_alert(1), make_alert(2), event(3, "r1")]
    rendered = SLACK_APP.render(channel(), unkeyed)
    assert rendered.count == 2 and rendered.key is None and rendered.status is None
    plain = SLACK_APP.render(channel(None), alerts)
    assert plain.count == 4 and plain.key is None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.integers(), st.lists(st.text(), max_size=3)))
def test_any_thread_value_becomes_a_short_fixed_key(value: object) -> None:
    key = thread_key(event(1, value), ("context", "request_id"))
    if value in ("", None):
        assert key is None
    else:
        assert key is not None and len(key) == 40 and key.isalnum()
        assert key == thread_key(event(2, value), ("context", "request_id"))


def test_a_huge_hostile_value_is_hashed() -> None:
    value = "\u202e" * 100_000 + "<!channel>"
    key = thread_key(event(1, value), ("context", "request_id"))
    assert key is not None and len(key) == 40


def test_the_status_line_shows_the_latest_outcome_and_stays_valid() -> None:
    approval = event(
        2,
        "r1",
        actor="alice@example.com <!channel>",
        status="approved",
        timestamp="2026-12-01T15:02:00+01:00",
    )
    rendered = SLACK_APP.render(channel(), [approval])
    assert rendered.status is not None
    assert rendered.status.startswith("*Latest:* approved by alice@example.com &lt;!channel&gt;")
    assert "at 2026-12-01 14:02 UTC (user.lock)" in rendered.status
    parent = SLACK_APP.render(channel(), [event(1, "r1", status="pending")]).payload
    drawn = with_status(parent, rendered.status)
    check_slack(drawn)
    assert drawn["blocks"][1]["block_id"] == STATUS_BLOCK_ID
    assert drawn["text"].startswith("*Latest:* approved")
    assert parent["blocks"][1].get("block_id") is None, "the stored parent is not changed"


def test_the_largest_parent_still_has_room_and_a_full_one_uses_its_context() -> None:
    batch = [event(n, "r1", facts=(("k", "v" * 50),)) for n in range(1, 40)]
    parent = SLACK_APP.render(channel(), batch).payload
    assert len(parent["blocks"]) == MAX_BLOCKS - 1
    check_slack(with_status(parent, "*Latest:* approved"))
    full = {**parent, "blocks": [*parent["blocks"][:-1], {"type": "divider"}, parent["blocks"][-1]]}
    drawn = with_status(full, "*Latest:* approved")
    check_slack(drawn)
    assert len(drawn["blocks"]) == MAX_BLOCKS
    assert drawn["blocks"][-1]["elements"][-1]["text"] == "*Latest:* approved"


def answer(body: object, status: int = 200, **headers: str) -> Answer:
    return Answer(status, orjson.dumps(body).decode(), headers)


def read(body: object, status: int = 200, **headers: str) -> SlackRead:
    return read_slack_answer(
        answer(body, status, **headers),
        "chat.postMessage",
        where="#ops",
        now=0.0,
        retry_after_max=3600.0,
    )


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        ("not_in_channel", "/invite @your-app"),
        ("channel_not_found", "/invite @your-app"),
        ("is_archived", "#ops is archived"),
        ("invalid_auth", "Bot User OAuth Token"),
        ("token_revoked", "reinstall the app"),
        ("token_expired", "reinstall the app"),
        ("account_inactive", "reinstall the app"),
        ("restricted_action", "workspace admin"),
        ("no_permission", "workspace admin"),
        ("invalid_blocks", "shipper bug"),
    ],
)
def test_setup_errors_give_up_with_the_fix(error: str, fix: str) -> None:
    outcome = read({"ok": False, "error": error}).outcome
    assert isinstance(outcome, GiveUp)
    assert outcome.reason.startswith(f"Slack answered 200 {error} to chat.postMessage: ")
    assert fix in outcome.reason


def test_missing_scope_names_the_scopes() -> None:
    outcome = read(
        {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "channels:read"}
    ).outcome
    assert isinstance(outcome, GiveUp)
    assert "(needed: chat:write; the token has: channels:read)" in outcome.reason
    hostile = read({"ok": False, "error": "missing_scope", "needed": "<!here> x"}).outcome
    assert "<!here>" not in hostile.reason


@pytest.mark.parametrize(
    "error", ["fatal_error", "internal_error", "service_unavailable", "request_timeout", "new_one"]
)
def test_slack_failures_and_unknown_errors_are_retried(error: str) -> None:
    outcome = read({"ok": False, "error": error}).outcome
    assert isinstance(outcome, Retry) and outcome.after is None


def test_a_429_pauses_the_token_and_rate_limited_the_channel() -> None:
    limited = read({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "30"})
    assert isinstance(limited.outcome, Retry) and limited.outcome.after == 30.0
    assert limited.scope is Scope.TOKEN and limited.outcome.status == 429
    bare = read({}, 429)
    assert isinstance(bare.outcome, Retry) and bare.scope is Scope.TOKEN
    channel_only = read({"ok": False, "error": "rate_limited"}, 200, **{"Retry-After": "2"})
    assert isinstance(channel_only.outcome, Retry) and channel_only.scope is Scope.CHANNEL
    assert channel_only.outcome.after == 2.0


def test_statuses_other_than_200_decide_by_the_status() -> None:
    assert isinstance(read("bad gateway", 502).outcome, Retry)
    assert isinstance(read("forbidden", 403).outcome, GiveUp)
    assert isinstance(read({"ok": True, "ts": "1.2"}).outcome, Delivered)
    assert isinstance(read("<html>", 200).outcome, Retry), "200 without JSON: not Slack's answer"

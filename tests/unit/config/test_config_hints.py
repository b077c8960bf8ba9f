"""Quiet config mistakes made loud: a URL of the other chat service, an empty variable,
a typo'd key (issue 15, finding 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.config.hints import check_url_kind, service_of
from shipper.config.values import Problems, suggest_key
from shipper.errors import ConfigError
from shipper.sinks import SINKS
from tests.support.config import load_config

SLACK = "https://hooks.slack.com/services/T1/B1/s3cretSLACK"
CONNECTOR = "https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/s3cretTEAMS"
WORKFLOWS = "https://prod-07.westus.logic.azure.com:443/workflows/abc/x?sig=s3cretFLOW"


def problems_of(tmp_path: Path, text: str, env: dict[str, str]) -> list[str]:
    path = tmp_path / "shipper.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    return info.value.problems


def channel(kind: str, extra: str = "") -> str:
    return f'[channels.a]\nkind = "{kind}"\nurl = "${{URL}}"\n{extra}'


@pytest.mark.parametrize(
    ("kind", "url", "looks_like"),
    [
        ("teams", SLACK, "a Slack incoming webhook"),
        ("slack", CONNECTOR, "a Microsoft Teams connector webhook"),
        ("slack", WORKFLOWS, "a Microsoft Teams Workflows webhook"),
    ],
)
def test_a_url_of_the_other_service_is_an_error_naming_the_key(
    tmp_path: Path, kind: str, url: str, looks_like: str
) -> None:
    (problem,) = problems_of(tmp_path, channel(kind), {"URL": url})
    said = f'channels.a.url: looks like {looks_like}, but the channel has kind = "{kind}"'
    assert problem.startswith(said)
    assert "s3cret" not in problem


@pytest.mark.parametrize(
    ("kind", "url"),
    [("slack", SLACK), ("teams", CONNECTOR), ("teams", WORKFLOWS), ("webhook", SLACK)],
)
def test_a_url_of_the_right_service_or_a_webhook_passes(kind: str, url: str) -> None:
    problems = Problems()
    check_url_kind(SINKS[kind], SINKS, url, "channels.a.url", problems)
    assert problems.errors == [] and problems.warnings == []


def test_a_relay_or_a_lookalike_host_is_not_recognised() -> None:
    assert service_of("https://relay.example.com/teams", SINKS) is None
    assert service_of("https://hooks.slack.com.evil.example/x", SINKS) is None
    assert service_of("https://nothooks.slack.com/x", SINKS) is None


def test_an_empty_variable_says_set_but_empty(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, channel("slack"), {"URL": ""})
    assert problem == (
        "channels.a.url: environment variable URL is set but empty; give it the webhook URL"
    )


def test_an_empty_variable_with_a_default_takes_the_default(tmp_path: Path) -> None:
    path = tmp_path / "shipper.toml"
    path.write_text('[channels.a]\nkind = "webhook"\nurl = "${URL:-https://siem.example.com/in}"\n')
    (only,) = load_config(path, {"URL": ""}).channels
    assert only.url == "https://siem.example.com/in"


def test_a_typo_suggests_the_closest_key(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, channel("slack", 'min_severty = "high"\n'), {"URL": SLACK})
    assert problems == ['channels.a.min_severty: unknown key; did you mean "min_severity"?']
    problems = problems_of(tmp_path, '[sorce]\npath = "x"\n' + channel("slack"), {"URL": SLACK})
    assert problems == ['sorce: unknown key; did you mean "source"?']


def test_a_key_like_none_lists_them_all() -> None:
    assert suggest_key("zzzz", {"path", "start_at"}) == "expected one of path, start_at"


def test_source_missing_after_is_a_duration(tmp_path: Path) -> None:
    path = tmp_path / "shipper.toml"
    path.write_text('[source]\nmissing_after = "10m"\n' + channel("webhook"))
    assert load_config(path, {"URL": SLACK}).source.missing_after == 600.0
    path.write_text('[source]\nmissing_after = "soon"\n' + channel("webhook"))
    with pytest.raises(ConfigError) as info:
        load_config(path, {"URL": SLACK})
    assert info.value.problems[0].startswith('source.missing_after: "soon" is not a duration')

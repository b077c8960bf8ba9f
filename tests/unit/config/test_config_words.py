"""Config errors in the user's words: each value quoted as written in TOML, never expanded.

A value read through ``${VAR}`` is quoted as ``"${VAR}"``: the variable may hold a
webhook URL put under the wrong key, and the error must not show it. Also the
``retry_after_max`` key that caps ``Retry-After``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.config.values import written
from shipper.errors import ConfigError
from tests.support.config import load_config

SECRET_URL = "https://hooks.slack.com/services/T0ABC123/B0DEF456/xoxSecretToken99"
ENV = {"SLACK_URL": SECRET_URL, "HOME": "/home/u"}


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "shipper.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, ENV)
    return info.value.problems


def channel(extra: str) -> str:
    return f'[channels.a]\nkind = "slack"\nurl = "${{SLACK_URL}}"\n{extra}\n'


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("true", "true"),
        ("false", "false"),
        ("0", "0"),
        ("-5", "-5"),
        ('"10 parsecs"', '"10 parsecs"'),
        ("[1, 2]", "[1, 2]"),
        ('["10s"]', '["10s"]'),
        ("{ s = 10 }", "{ s = 10 }"),
        ("1979-05-27", "1979-05-27"),
        ("nan", "nan"),
        ("inf", "inf"),
    ],
)
def test_a_bad_duration_is_quoted_as_written(tmp_path: Path, value: str, shown: str) -> None:
    (problem,) = problems_of(tmp_path, f"[delivery]\ntimeout = {value}\n" + channel(""))
    assert problem.startswith("delivery.timeout: ")
    assert f" {shown}" in problem, problem
    assert "True" not in problem and "'" not in problem


def test_true_is_not_a_duration_says_true(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "[delivery]\ntimeout = true\n" + channel(""))
    assert problem.startswith("delivery.timeout: true is not a duration; write e.g.")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('min_severity = "${SLACK_URL}"', "channels.a.min_severity"),
        ('format = "${SLACK_URL}"', "channels.a.format"),
    ],
)
def test_a_url_under_a_wrong_channel_key_shows_the_variable(
    tmp_path: Path, toml: str, key: str
) -> None:
    problems = problems_of(tmp_path, channel(toml))
    assert any(p.startswith(f"{key}: ") and '"${SLACK_URL}"' in p for p in problems), problems
    assert not any("xoxSecretToken99" in p or "T0ABC123" in p for p in problems), problems


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[source]\nstart_at = "${SLACK_URL}"', "source.start_at"),
        ('[metrics]\nlisten = "${SLACK_URL}"', "metrics.listen"),
        ('[fields]\naction = "${SLACK_URL}."', "fields.action"),
        ('[severity]\ndefault = "${SLACK_URL}"', "severity.default"),
    ],
)
def test_a_url_under_a_wrong_key_shows_the_variable(tmp_path: Path, toml: str, key: str) -> None:
    problems = problems_of(tmp_path, f"{toml}\n" + channel(""))
    assert any(p.startswith(f"{key}: ") and "${SLACK_URL}" in p for p in problems), problems
    assert not any("xoxSecretToken99" in p or "hooks.slack.com" in p for p in problems)


def test_a_kind_from_a_variable_shows_the_variable(tmp_path: Path) -> None:
    text = '[channels.a]\nkind = "${SLACK_URL}"\nurl = "${SLACK_URL}"\n'
    (problem,) = problems_of(tmp_path, text)
    assert problem == (
        'channels.a.kind: unknown kind "${SLACK_URL}"; expected one of slack, teams, webhook'
    )


def test_a_url_written_out_under_a_wrong_key_shows_its_host_only(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, channel(f'give_up_after = "{SECRET_URL}"'))
    assert problem.startswith('channels.a.give_up_after: "https://hooks.slack.com/…" is not')
    assert "xoxSecretToken99" not in problem


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("batch_max = true", "channels.a.batch_max: must be a positive whole number, got true"),
        ('batch_max = "10"', 'channels.a.batch_max: must be a positive whole number, got "10"'),
        ("max_rate = false", "got false"),
        (
            'actions = "login.*"',
            'channels.a.actions: must be a list of glob strings, got "login.*"',
        ),
        ('spool_max_bytes = "lots"', 'channels.a.spool_max_bytes: "lots" is not a size'),
        ('timeout = "-1s"', 'channels.a.timeout: "-1s" is not a duration'),
        ("timeout = -1", "channels.a.timeout: must be longer than zero and finite, got -1"),
    ],
)
def test_other_values_are_quoted_as_written(tmp_path: Path, toml: str, expected: str) -> None:
    problems = problems_of(tmp_path, channel(toml))
    assert any(expected in p for p in problems), problems


def test_written_cuts_a_long_value() -> None:
    shown = written(list(range(1000)))
    assert shown.startswith("[0, 1, 2") and shown.endswith("…") and len(shown) == 80


def test_retry_after_max_defaults_to_an_hour_and_is_set_per_channel(tmp_path: Path) -> None:
    path = tmp_path / "shipper.toml"
    path.write_text(
        '[delivery]\nretry_after_max = "10m"\n'
        + channel('retry_after_max = "30s"')
        + '[channels.b]\nkind = "webhook"\nurl = "https://siem.example.com/in"\n'
    )
    config = load_config(path, ENV)
    assert config.delivery.retry_after_max == 600.0
    by_name = {c.name: c.delivery.retry_after_max for c in config.channels}
    assert by_name == {"a": 30.0, "b": 600.0}
    path.write_text(channel(""))
    assert load_config(path, ENV).channels[0].delivery.retry_after_max == 3600.0


def test_a_bad_retry_after_max_is_named(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[delivery]\nretry_after_max = "forever"\n' + channel(""))
    assert problem.startswith('delivery.retry_after_max: "forever" is not a duration')

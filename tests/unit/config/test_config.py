"""Config loading: every section, defaults, ${VAR}, and every problem named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipper.config.load import find_config
from shipper.config.severity import Severity
from shipper.config.values import Problems, parse_duration
from shipper.errors import ConfigError
from shipper.sinks import SINKS
from tests.support.config import load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"
ENV = {
    "SLACK_SECURITY_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/s3cret",
    "TEAMS_INFRA_WEBHOOK_URL": "https://prod-07.westus.logic.azure.com:443/workflows/abc/x?sig=zz",
    "SLACK_DEPLOY_APPROVALS_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/other",
    "HOME": "/home/u",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shipper.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env or {})
    return info.value.problems


MINIMAL = """
[channels.a]
kind = "webhook"
url = "https://siem.example.com/in"
"""


def test_example_config_loads_with_every_channel() -> None:
    config = load_config(EXAMPLE, ENV)
    assert [c.name for c in config.channels] == ["security", "infrastructure", "deploy-approvals"]
    security = config.channel("security")
    assert security is not None
    assert security.kind == "slack"
    assert security.min_severity is Severity.INFO
    assert "login.*_failed" in security.actions
    assert security.delivery.max_rate == SINKS["slack"].limits.max_rate
    infra = config.channel("infrastructure")
    assert infra is not None and infra.teams_format == "adaptivecard"
    assert config.source.path is None
    assert config.default_severity is Severity.INFO


def test_defaults_when_sections_are_absent(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), {"HOME": "/home/u"})
    (channel,) = config.channels
    assert channel.actions == ("*",)
    assert channel.min_severity is Severity.DEBUG
    assert channel.delivery.timeout == 10.0
    assert channel.delivery.give_up_after == 86400.0
    assert channel.delivery.max_rate is None
    assert config.source.state_dir == Path("/home/u/.local/state/shipper")
    assert config.source.max_line_bytes == 1048576
    assert config.fields.actor == (("user",), ("api_token",))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STATE_DIRECTORY": "/var/lib/shipper:/var/lib/other"}, "/var/lib/shipper"),
        ({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}, "/x/state/shipper"),
    ],
)
def test_state_dir_lookup(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    assert load_config(write(tmp_path, MINIMAL), env).source.state_dir == Path(expected)


def test_channel_overrides_delivery_keys(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[delivery]
timeout = "5s"
retry_max = "2m"
[channels.a]
kind = "slack"
url = "https://hooks.slack.com/services/x"
timeout = "500ms"
batch_max = 5
spool_max_bytes = "64MiB"
max_rate = 0.5
[channels.b]
kind = "teams"
url = "https://example.webhook.office.com/webhookb2/x"
""",
        ),
        {},
    )
    a, b = config.channels
    assert (a.delivery.timeout, a.delivery.retry_max, a.delivery.batch_max) == (0.5, 120.0, 5)
    assert a.delivery.spool_max_bytes == 64 * 2**20
    assert b.delivery.spool_max_bytes == 256 * 2**20
    assert a.delivery.max_rate == 0.5
    assert (b.delivery.timeout, b.delivery.max_rate, b.teams_format) == (5.0, 4.0, "messagecard")


def test_global_max_rate_replaces_kind_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[delivery]\nmax_rate = 2\n" + MINIMAL), {})
    assert config.channels[0].delivery.max_rate == 2.0


def test_env_expansion_and_default(tmp_path: Path) -> None:
    text = MINIMAL.replace("https://siem.example.com/in", "${BASE:-https://d.example.com}/${P}")
    config = load_config(write(tmp_path, text), {"P": "hook"})
    assert config.channels[0].url == "https://d.example.com/hook"


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
[source]
start_at = "middle"
max_line_bytes = -1
colour = "blue"
[severity]
default = "urgent"
[delivery]
timeout = "ten seconds"
retry_initial = "2m"
retry_max = "1m"
spool_max_bytes = "lots"
[channels.a]
kind = "pager"
url = "${NOT_SET}"
min_severity = "urgent"
actions = ["login.[abc"]
[channels.b]
kind = "slack"
url = "http://hooks.slack.com/services/x"
actionz = ["x"]
[channels.c]
kind = "webhook"
url = "https://x.example.com"
actions = []
format = "adaptivecard"
""",
    )
    text = "\n".join(problems)
    for needle in [
        'source.start_at: must be "end" or "beginning"',
        "source.max_line_bytes: must be a positive whole number",
        "source.colour: unknown key",
        'severity.default: unknown severity "urgent"',
        'delivery.timeout: "ten seconds" is not a duration',
        "delivery.retry_initial: (120s) is longer than retry_max (60s)",
        'delivery.spool_max_bytes: "lots" is not a size',
        'channels.a.kind: unknown kind "pager"',
        "channels.a.url: environment variable NOT_SET is not set",
        'channels.a.min_severity: unknown severity "urgent"',
        'channels.a.actions: glob "login.[abc" has a "[" that is never closed',
        "channels.b.url: must use https://",
        "channels.b.actionz: unknown key",
        "channels.c.actions: is empty",
        "channels.c.format: webhook channels have no format (it is a key of teams channels)",
    ]:
        assert needle in text, needle
    assert "hooks.slack.com/services/x" not in text, "a URL must never be echoed"


def test_no_channels_is_an_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "[severity]\ndefault = 'info'\n") == [
        "channels: no channel defined; add at least one [channels.NAME] table"
    ]


def test_unset_url_variable_is_a_warning_when_nothing_is_posted(tmp_path: Path) -> None:
    text = MINIMAL.replace("https://siem.example.com/in", "${HOOK}")
    config = load_config(write(tmp_path, text), {}, posts=False)
    assert config.channels[0].url is None
    assert config.warnings == ("channels.a.url: environment variable HOOK is not set",)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x"])
def test_http_is_allowed_for_loopback(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, MINIMAL.replace("https://siem.example.com/in", url)), {})
    assert config.channels[0].url == url


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[channels.a\nkind=")
    assert len(problems) == 1 and "not valid TOML" in problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", {})


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config(Path("x.toml"), {"SHIPPER_CONFIG": "y.toml"}) == Path("x.toml")
    assert find_config(None, {"SHIPPER_CONFIG": "y.toml"}) == Path("y.toml")
    (tmp_path / "shipper.toml").write_text(MINIMAL)
    assert find_config(None, {}) == Path("shipper.toml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("1m", 60.0), ("1h30m", 5400.0), ("1d", 86400.0), (3, 3.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "k", Problems()) == seconds


@pytest.mark.parametrize("text", ["", "10", "1x", "0s", "-1s", "1 hour", True])
def test_bad_durations(text: object) -> None:
    problems = Problems()
    assert parse_duration(text, "delivery.timeout", problems) is None
    assert problems.errors and problems.errors[0].startswith("delivery.timeout: ")

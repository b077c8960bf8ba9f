"""The CLI's commands that post nothing: --version, check, route, run --dry-run."""

from __future__ import annotations

from pathlib import Path

import orjson

from shipper import __version__
from tests.e2e.cli import EXAMPLE_CONFIG, SAMPLE, clean_env, shipper

SECRET_ENV = {
    "SLACK_SECURITY_WEBHOOK_URL": "https://hooks.slack.com/services/T0AAA/B0BBB/xoxsecretsecret1",
    "TEAMS_INFRA_WEBHOOK_URL": "https://prod-12.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sig=SIGsecretsecret2",
    "SLACK_DEPLOY_APPROVALS_WEBHOOK_URL": "https://hooks.slack.com/services/T0AAA/B0CCC/xoxsecretsecret3",
}
SECRETS = ("xoxsecretsecret1", "SIGsecretsecret2", "xoxsecretsecret3")


def assert_no_secret(*outputs: bytes) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret.encode() not in output


def test_version_and_help() -> None:
    result = shipper("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"shipper {__version__}"
    for args in (
        ["--help"],
        ["run", "--help"],
        ["test", "--help"],
        ["route", "--help"],
        ["check", "--help"],
    ):
        assert shipper(*args).returncode == 0, args


def test_check_lists_channels_with_redacted_urls() -> None:
    result = shipper("check", "-c", str(EXAMPLE_CONFIG), env=clean_env(SECRET_ENV))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "security: kind=slack url=https://hooks.slack.com/… label=#security" in out
    assert "min_severity=info" in out and "login.*_failed" in out
    assert "infrastructure: kind=teams format=adaptivecard" in out
    assert "url=https://prod-12.westus.logic.azure.com:443/…" in out
    assert "deploy-approvals" in out
    assert_no_secret(result.stdout, result.stderr)


def test_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[source]\nstart_at = "middle"\n'
        '[channels.a]\nkind = "slack"\nurl = "http://hooks.slack.com/services/T/B/xoxsecretsecret1"\n'
        'min_severity = "urgent"\nactionz = ["x"]\n'
    )
    result = shipper("check", "-c", str(config))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "source.start_at" in err
    assert "channels.a.url: must use https://" in err
    assert 'channels.a.min_severity: unknown severity "urgent"' in err
    assert "channels.a.actionz: unknown key" in err
    assert "Traceback" not in err
    assert_no_secret(result.stdout, result.stderr)


def test_check_without_variables_names_them() -> None:
    result = shipper("check", "-c", str(EXAMPLE_CONFIG))
    assert result.returncode == 2
    assert "environment variable SLACK_SECURITY_WEBHOOK_URL is not set" in result.stderr.decode()


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = shipper("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "no config file found" in result.stderr.decode()
    result = shipper("check", "-c", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "config file not found" in result.stderr.decode()


def test_config_from_environment_variable(tmp_path: Path) -> None:
    env = clean_env({**SECRET_ENV, "SHIPPER_CONFIG": str(EXAMPLE_CONFIG)})
    assert shipper("check", env=env, cwd=tmp_path).returncode == 0


def test_route_prints_each_match_with_its_line_number() -> None:
    result = shipper("route", "-c", str(EXAMPLE_CONFIG), str(SAMPLE))
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert rows, "the sample has matching events"
    sample = SAMPLE.read_bytes().splitlines()
    for row in rows:
        if row["line"] == 38:  # cut short, its action readable: routed as a malformed event
            assert (row["action"], row["channels"]) == ("login.oauth_failed", ["security"])
            continue
        event = orjson.loads(sample[row["line"] - 1])
        assert event["action"] == row["action"]
        assert set(row) == {"line", "action", "severity", "channels"}
    approvals = [r for r in rows if r["action"].startswith("deploy_approval_request.")]
    assert any(r["channels"] == ["deploy-approvals"] for r in approvals), "debug approvals"
    assert any(r["channels"] == ["infrastructure", "deploy-approvals"] for r in approvals)
    err = result.stderr.decode()
    assert "line 38 is not valid JSON; its action could be read: routed as a malformed" in err
    assert "line 39 skipped: not a JSON object" in err


def test_route_stats_from_stdin() -> None:
    result = shipper("route", "-c", str(EXAMPLE_CONFIG), "--stats", stdin=SAMPLE.read_bytes())
    assert result.returncode == 0
    stats = orjson.loads(result.stdout)
    assert stats["lines_read"] == len(SAMPLE.read_bytes().splitlines())
    assert stats["lines_rejected"] == 2
    full = shipper("route", "-c", str(EXAMPLE_CONFIG), "-", stdin=SAMPLE.read_bytes())
    rows = [orjson.loads(line) for line in full.stdout.splitlines()]
    for name, count in stats["channels"].items():
        assert count == sum(name in r["channels"] for r in rows)


def test_dry_run_prints_payloads_and_writes_no_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = shipper(
        "run",
        "-c",
        str(EXAMPLE_CONFIG),
        "--dry-run",
        stdin=SAMPLE.read_bytes(),
        env=clean_env(state=state),
    )
    assert result.returncode == 0, result.stderr
    messages = [orjson.loads(line) for line in result.stdout.splitlines()]
    routed = shipper("route", "-c", str(EXAMPLE_CONFIG), str(SAMPLE))
    expected = sum(len(orjson.loads(r)["channels"]) for r in routed.stdout.splitlines())
    assert len(messages) == expected
    assert {m["channel"] for m in messages} == {"security", "infrastructure", "deploy-approvals"}
    for message in messages:
        assert set(message) == {"channel", "payload"}
        if message["channel"] == "security":
            assert "blocks" in message["payload"] and message["payload"]["text"]
    assert not state.exists()
    assert b"<!channel>" not in result.stdout and b"<@U024BE7LH>" not in result.stdout
    assert b"&lt;!channel&gt;" in result.stdout


def test_dry_run_with_urls_set_shows_no_secret() -> None:
    result = shipper(
        "run",
        "-c",
        str(EXAMPLE_CONFIG),
        "--dry-run",
        "--log-level",
        "debug",
        stdin=SAMPLE.read_bytes(),
        env=clean_env(SECRET_ENV),
    )
    assert result.returncode == 0
    assert_no_secret(result.stdout, result.stderr)


def test_bad_lines_do_not_stop_the_pipeline(tmp_path: Path) -> None:
    lines = [
        b'{"action":"login.complete","severity":"info"}',
        b"{not json",
        b"\xff\xfe",
        b"[1]",
        b'"str"',
        b"x" * 300,
        b'{"action":"api_token.create","severity":"high"}',
    ]
    config = tmp_path / "c.toml"
    config.write_text(
        "[source]\nmax_line_bytes = 200\n"
        '[channels.a]\nkind = "webhook"\nurl = "https://x.example.com"\n'
    )
    result = shipper("run", "-c", str(config), "--dry-run", stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 0
    payloads = [orjson.loads(line)["payload"] for line in result.stdout.splitlines()]
    assert [p["action"] for p in payloads] == ["login.complete", "api_token.create"]
    err = result.stderr.decode()
    for number, why in [
        (2, "not valid JSON"),
        (3, "not valid UTF-8"),
        (4, "not a JSON object"),
        (5, "not a JSON object"),
        (6, "longer than source.max_line_bytes"),
    ]:
        assert f"line {number} skipped: {why}" in err

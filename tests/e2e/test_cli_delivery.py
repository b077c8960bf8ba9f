"""The installed CLI against fake webhooks on 127.0.0.1: run, test, dead letters, signals.

Every captured stdout and stderr is scanned for the secret parts of the webhook URLs.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from tests.e2e.cli import clean_env, read_until, run_async, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, config_file
from tests.integration.fake_webhook import HANG, FakeWebhook, Reply

SLACK = "/services/T0E2E/B0E2E/slackSECRETpath1"
TEAMS = "/webhookb2/teamsSECRETpath2/IncomingWebhook/x"
FLOW = "/workflows/abc/triggers/manual/paths/invoke"
FLOW_QUERY = "?api-version=2016-06-01&sig=flowSECRETsig3"
SIEM = "/ingest/siemSECRETpath4"
SECRETS = ("slackSECRETpath1", "teamsSECRETpath2", "flowSECRETsig3", "siemSECRETpath4")


@pytest.fixture
def fake(fake: FakeWebhook) -> FakeWebhook:
    fake.default = Reply()
    fake.always(TEAMS, Reply(200, "1"))
    fake.always(FLOW, Reply(202, ""))
    fake.always(SIEM, Reply(204, ""))
    return fake


def write_config(tmp_path: Path, fake: FakeWebhook, extra: str = "", slack: str = "") -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "200ms"\ndrain_timeout = "20s"\ntimeout = "2s"'
    # Every event posted in full: flood control has its own tests (test_flood_control.py).
    delivery += "\nburst_limit = 0"
    channels = f"""[channels.security]
kind = "slack"
url = "${{SLACK_URL}}"
label = "#security"
min_severity = "info"
actions = ["login.*", "api_token.*"]
{slack}
[channels.infra]
kind = "teams"
url = "${{TEAMS_URL}}"
actions = ["release.*"]
[channels.flow]
kind = "teams"
url = "${{FLOW_URL}}"
format = "adaptivecard"
actions = ["release.*"]
{SIEM_WEBHOOK}max_rate = 0
{extra}"""
    return config_file(tmp_path, delivery=delivery, channels=channels)


def env_for(fake: FakeWebhook) -> dict[str, str]:
    return clean_env(
        {
            "SLACK_URL": fake.to(SLACK),
            "TEAMS_URL": fake.to(TEAMS),
            "FLOW_URL": fake.to(FLOW) + FLOW_QUERY,
            "SIEM_URL": fake.to(SIEM),
        }
    )


def events(n: int, action: str = "login.complete") -> list[bytes]:
    return [
        orjson.dumps(
            {
                "action": action,
                "severity": "high",
                "user": f"u{i}@example.com",
                "status": "ok",
                "context": {"seq": f"ev-{i:04d}-x"},
            }
        )
        for i in range(n)
    ]


async def run_cli(
    *args: str, stdin: bytes, env: dict[str, str], deadline: float = 60
) -> tuple[int, bytes, bytes]:
    status, out, err = await run_async(*args, env=env, stdin=stdin, deadline=deadline)
    assert_no_secret(out, err)
    return status, out, err


def assert_no_secret(*outputs: bytes) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret.encode() not in output, f"{secret} leaked"


def positions(bodies: Sequence[bytes], tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Where each token first appears: (message index, offset); asserts each appears."""
    found = []
    for token in tokens:
        where = [(i, b.find(token.encode())) for i, b in enumerate(bodies) if token.encode() in b]
        assert where, f"{token} was never posted"
        found.append(where[0])
    return found


async def test_run_delivers_to_every_channel_in_order(tmp_path: Path, fake: FakeWebhook) -> None:
    logins = events(45)
    releases = events(12, "release.promote")
    noise = events(5, "app.list")
    lines = [*logins[:20], *releases[:6], *noise, *logins[20:], *releases[6:]]
    config = write_config(tmp_path, fake)
    code, _, err = await run_cli(
        "run", "-c", str(config), stdin=b"\n".join(lines) + b"\n", env=env_for(fake)
    )
    assert code == 0, err.decode()

    slack = [r.body for r in fake.requests_to(SLACK)]
    seqs = [f"ev-{i:04d}-x" for i in range(45)]
    assert positions(slack, seqs) == sorted(positions(slack, seqs)), "Slack order"
    assert 3 <= len(slack) <= 10, "a burst of 45 goes out as a few batches, not 45 posts"
    for request in fake.requests_to(SLACK):
        assert request.json["blocks"] and request.json["text"]
    slack_times = [r.time for r in fake.requests_to(SLACK)]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(slack_times)), (
        "a Slack channel posts at most about once a second"
    )

    teams = [r.body for r in fake.requests_to(TEAMS)]
    assert all(orjson.loads(b)["@type"] == "MessageCard" for b in teams)
    release_seqs = [f"ev-{i:04d}-x" for i in range(12)]
    assert positions(teams, release_seqs) == sorted(positions(teams, release_seqs))
    flows = [r.json for r in fake.requests_to(FLOW)]
    assert flows and all(f["type"] == "message" for f in flows)
    assert flows[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"

    siem = [r.json for r in fake.requests_to(SIEM)]
    received = [e for body in siem for e in (body if isinstance(body, list) else [body])]
    assert received == [orjson.loads(line) for line in lines], "webhook: every event, as read"


async def test_permanent_refusal_is_dead_lettered(tmp_path: Path, fake: FakeWebhook) -> None:
    fake.always(SLACK, Reply(404, "no_service"))
    config = write_config(tmp_path, fake)
    lines = events(3)
    code, _, err = await run_cli(
        "run", "-c", str(config), stdin=b"\n".join(lines), env=env_for(fake)
    )
    assert code == 3, "the rest was delivered, but some events were dead-lettered"
    assert len(fake.requests_to(SIEM)) >= 1, "the other channels keep working"
    dead = tmp_path / "state" / "dead-letter" / "security.jsonl"
    records = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [r["event"] for r in records] == [orjson.loads(line) for line in lines]
    assert {r["channel"] for r in records} == {"security"}
    assert (
        "Slack answered 404 no_service: the webhook was revoked or the URL is wrong"
        in (records[0]["reason"])
    )
    assert "no_service" in err.decode()


async def test_endpoint_down_at_exit_keeps_events_for_the_next_run(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.always(SIEM, Reply(500, "down"))
    config = write_config(tmp_path, fake)
    config.write_text(config.read_text().replace('drain_timeout = "20s"', 'drain_timeout = "1s"'))
    lines = events(4, "user.lock")
    code, _, err = await run_cli(
        "run", "-c", str(config), stdin=b"\n".join(lines), env=env_for(fake)
    )
    assert code == 1
    assert len(fake.requests_to(SIEM)) >= 2, "it retried"
    assert "siem: 4 event(s) not delivered yet; they stay queued" in err.decode()
    assert not (tmp_path / "state" / "dead-letter" / "siem.jsonl").exists()

    fake.always(SIEM, Reply(204, ""))
    before = len(fake.requests)
    code, _, err = await run_cli("run", "-c", str(config), stdin=b"", env=env_for(fake))
    assert code == 0, err.decode()
    delivered = [r.json for r in fake.requests[before:] if r.path == SIEM]
    received = [e for body in delivered for e in (body if isinstance(body, list) else [body])]
    assert received == [orjson.loads(line) for line in lines], "the next run sends them, in order"


async def test_a_hung_channel_does_not_delay_the_others(tmp_path: Path, fake: FakeWebhook) -> None:
    fake.always(SLACK, Reply(200, "ok", delay=HANG))
    config = write_config(tmp_path, fake)
    proc, started = await start_run(config, env_for(fake))
    assert proc.stdin is not None
    proc.stdin.write(b"\n".join(events(3)) + b"\n")
    await proc.stdin.drain()
    await fake.wait_for(lambda _: len(fake.requests_to(SIEM)) >= 1, deadline=10)
    siem = fake.requests_to(SIEM)[0].json
    assert len(siem if isinstance(siem, list) else [siem]) >= 1
    proc.send_signal(signal.SIGINT)
    # Linux merges a signal sent while the same one is pending: wait for the first to land.
    seen = await read_until(proc, b"SIGINT received")
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1, "a forced stop with undelivered events"
    assert b"second interrupt" in err
    assert b"security: 3 event(s) not delivered yet; they stay queued" in err
    assert_no_secret(out, started + seen + err)


async def test_sigterm_stops_reading_and_drains(tmp_path: Path, fake: FakeWebhook) -> None:
    config = write_config(tmp_path, fake)
    proc, started = await start_run(config, env_for(fake))
    assert proc.stdin is not None
    proc.stdin.write(b"\n".join(events(5, "api_token.create")) + b"\n")
    await proc.stdin.drain()
    await fake.wait_for(lambda _: len(fake.requests_to(SIEM)) >= 1, deadline=10)
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    assert b"SIGTERM received" in err
    slack = b"".join(r.body for r in fake.requests_to(SLACK))
    assert all(f"ev-{i:04d}-x".encode() in slack for i in range(5)), "drained before exit"
    assert_no_secret(out, started + err)


@pytest.mark.parametrize(
    ("channel", "reply", "code", "answer"),
    [
        ("security", Reply(200, "ok"), 0, "security: Slack answered 200 ok"),
        (
            "security",
            Reply(404, "no_service"),
            1,
            "security: Slack answered 404 no_service: the webhook was revoked or the URL is wrong",
        ),
        (
            "security",
            Reply(429, '{"ok":false,"error":"rate_limited"}', {"Retry-After": "30"}),
            1,
            "Slack answered 429",
        ),
        ("infra", Reply(200, "1"), 0, "infra: Teams answered 200"),
        (
            "infra",
            Reply(200, "Microsoft Teams endpoint returned HTTP error 413 with ContextId x"),
            1,
            "413",
        ),
        ("flow", Reply(202, ""), 0, "flow: "),
        ("siem", Reply(204, ""), 0, "siem: "),
    ],
)
async def test_test_command(
    tmp_path: Path, fake: FakeWebhook, channel: str, reply: Reply, code: int, answer: str
) -> None:
    path = {"security": SLACK, "infra": TEAMS, "flow": FLOW, "siem": SIEM}[channel]
    fake.script(path, reply)
    config = write_config(tmp_path, fake)
    got, out, err = await run_cli("test", channel, "-c", str(config), stdin=b"", env=env_for(fake))
    assert got == code, (out, err)
    assert answer in out.decode()
    (request,) = fake.requests_to(path)
    assert b"shipper.test" in request.body
    if channel == "security":
        assert b"*Severity*\\ninfo" in request.body, "the channel's own threshold"


async def test_test_command_unknown_channel_and_unreachable(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    config = write_config(tmp_path, fake)
    code, _, err = await run_cli("test", "nope", "-c", str(config), stdin=b"", env=env_for(fake))
    assert code == 2
    assert "unknown channel 'nope'; known channels: security, infra, flow, siem" in err.decode()
    env = env_for(fake)
    await fake.stop()
    code, out, err = await run_cli("test", "security", "-c", str(config), stdin=b"", env=env)
    assert code == 1
    assert "could not reach 127.0.0.1" in out.decode()
    assert "Traceback" not in err.decode()


async def test_json_logs_carry_delivery_fields(tmp_path: Path, fake: FakeWebhook) -> None:
    fake.script(SIEM, Reply(500, "boom"))
    config = write_config(tmp_path, fake)
    code, _, err = await run_cli(
        "run",
        "-c",
        str(config),
        "--log-format",
        "json",
        stdin=b"\n".join(events(1, "user.lock")) + b"\nnot json\n",
        env=env_for(fake),
    )
    assert code == 0, err.decode()
    records = [orjson.loads(line) for line in err.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    retry = next(r for r in records if r.get("channel") == "siem" and r["level"] == "warning")
    assert retry["status"] == 500 and retry["attempt"] == 1 and retry["delay"] > 0
    assert "500" in retry["reason"]
    delivered = next(r for r in records if r.get("channel") == "siem" and r["level"] == "info")
    assert delivered["attempt"] == 2
    skipped = next(r for r in records if r.get("line") == 2)
    assert skipped["reason"] == "invalid_json"

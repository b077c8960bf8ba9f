"""A newcomer's first hour through the real CLI (issue 15): each command needs only what it
uses, says what it sent, and names the mistake in a config."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from tests.e2e.cli import (
    clean_env,
    free_port,
    run_async,
    shipper,
    start_watched,
    stop_watched,
)
from tests.e2e.inputs import config_file
from tests.integration.fake_webhook import FakeWebhook, Reply
from tests.support.waiting import get, poll_until

TWO_CHANNELS = """[channels.a]
kind = "webhook"
url = "${A_URL}"
[channels.b]
kind = "slack"
url = "${B_URL}"
"""


async def test_test_needs_only_the_channel_it_tests(tmp_path: Path, fake: FakeWebhook) -> None:
    config = config_file(tmp_path, delivery="", channels=TWO_CHANNELS)
    env = clean_env({"A_URL": fake.to("/a")})
    code, out, err = await run_async("test", "a", "-c", str(config), env=env)
    assert code == 0, err
    assert out.decode().startswith("a: ")
    assert "environment variable B_URL is not set" in err.decode(), "still said, as a warning"
    assert len(fake.requests_to("/a")) == 1
    code, _, err = await run_async("test", "b", "-c", str(config), env=env)
    assert code == 2
    assert "channels.b.url: environment variable B_URL is not set" in err.decode()
    assert "Traceback" not in err.decode()


async def test_test_of_a_teams_channel_says_which_card_it_sent(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.always("/relay", Reply(200, "1"))
    channels = '[channels.relayed]\nkind = "teams"\nurl = "${RELAY}"\n'
    config = config_file(tmp_path, delivery="", channels=channels)
    code, out, _ = await run_async(
        "test", "relayed", "-c", str(config), env=clean_env({"RELAY": fake.to("/relay")})
    )
    assert code == 0
    text = out.decode()
    assert "relayed: sent a MessageCard" in text
    assert 'set format = "adaptivecard" in [channels.relayed]' in text
    fake.always("/relay", Reply(202, ""))  # a relay in front of Workflows answers as they do
    code, out, _ = await run_async(
        "test", "relayed", "-c", str(config), env=clean_env({"RELAY": fake.to("/relay")})
    )
    assert code == 0
    assert "relayed: sent a MessageCard and the endpoint answered 202, as Teams Workflows do" in (
        out.decode()
    )
    config.write_text(config.read_text() + 'format = "adaptivecard"\n')
    code, out, _ = await run_async(
        "test", "relayed", "-c", str(config), env=clean_env({"RELAY": fake.to("/relay")})
    )
    assert code == 0
    assert "relayed: sent an Adaptive Card" in out.decode()
    assert 'format = "messagecard"' in out.decode()


def test_check_names_quiet_config_mistakes(tmp_path: Path) -> None:
    channels = (
        '[channels.chat]\nkind = "teams"\nurl = "${SLACK_URL}"\n'
        '[channels.siem]\nkind = "webhook"\nurl = "${EMPTY}"\nmin_severty = "high"\n'
    )
    config = config_file(tmp_path, delivery="", channels=channels)
    env = clean_env({"SLACK_URL": "https://hooks.slack.com/services/T/B/xoxSECRET", "EMPTY": ""})
    result = shipper("check", "-c", str(config), env=env)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert (
        'channels.chat.url: looks like a Slack incoming webhook, but the channel has kind = "teams"'
        in err
    )
    assert "channels.siem.url: environment variable EMPTY is set but empty" in err
    assert 'channels.siem.min_severty: unknown key; did you mean "min_severity"?' in err
    assert "expected one of" not in err
    assert "xoxSECRET" not in err


EXPLAINED = """[channels.sec]
kind = "webhook"
url = "${U}"
min_severity = "medium"
actions = ["login.*"]
exclude = ["login.complete"]
"""


def test_route_explain_says_why_each_channel_takes_an_event_or_not(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery="", channels=EXPLAINED)
    events = (
        b'{"action": "login.failed", "severity": "high"}\n'
        b'{"action": "login.complete", "severity": "high"}\n'
        b'{"action": "login.failed", "severity": "info"}\n'
        b'{"action": "app.get", "severity": "high"}\n'
        b'{"event": {"type": "login.failed"}, "severity": "high"}\n'
        b"not json\n"
    )
    result = shipper("route", "--explain", "-c", str(config), stdin=events)
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("explain", {}).get("sec") for r in rows] == [
        "taken",
        'excluded by "login.complete"',
        "severity info is below its min_severity medium",
        "no actions glob matches",
        'no "action" field (fields.action), and no actions glob matches ""',
        None,
    ]
    assert rows[0]["channels"] == ["sec"] and rows[1]["channels"] == []
    assert rows[4]["missing"] == ["fields.action (action)"]
    assert rows[5] == {"line": 6, "skipped": "not valid JSON"}


def test_run_says_once_which_fields_a_log_of_another_schema_has(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery="", channels=EXPLAINED)
    line = b'{"@timestamp": "t", "event": {"type": "login.failed"}, "log": {"level": "high"}}\n'
    result = shipper("run", "--dry-run", "--input", "-", "-c", str(config), stdin=line * 300)
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    assert err.count('no "action" field (fields.action)') == 1
    assert 'set [fields] action = "event.type"' in err
    assert 'set [fields] severity = "log.level"' in err
    assert 'Their top-level fields: "@timestamp", "event", "log"' in err


def test_check_warns_of_a_missing_log_directory_and_an_unusable_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "not-yet" / "state"
    log = tmp_path / "gatway" / "audit.jsonl"
    config = config_file(tmp_path, delivery="", channels=EXPLAINED, log=log, state=state)
    result = shipper("check", "-c", str(config), env=clean_env({"U": "https://siem.example.com/"}))
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    assert f"source.path: the directory {log.parent} does not exist" in err
    assert "state_dir" not in err, "missing but creatable: fine"
    assert not state.parent.exists(), "check creates nothing"
    state.parent.write_text("")  # a file where the state directory's parent should be
    result = shipper("check", "-c", str(config), env=clean_env({"U": "https://siem.example.com/"}))
    assert f"source.state_dir: {state} cannot be created: {state.parent} is not a directory" in (
        result.stderr.decode()
    )


async def test_a_missing_file_makes_healthz_report_the_source_waiting(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "gatway" / "audit.jsonl"
    config = config_file(
        tmp_path,
        delivery="",
        channels=EXPLAINED,
        log=log,
        source='missing_after = "1s"\n',
    )
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    env = clean_env({"U": "http://127.0.0.1:9/"})
    proc, watch = await start_watched(config, env)
    try:
        assert b"source.path: the directory" in watch.text, "said at start"
        base = f"http://127.0.0.1:{port}"

        async def waiting() -> dict[str, Any] | None:
            status, body = await get(base + "/healthz")
            found: dict[str, Any] = orjson.loads(body)
            return found if status == 503 and found["source"]["state"] == "waiting" else None

        body = await poll_until(waiting, deadline=20)
        assert body["source"]["input"] == str(log) and body["source"]["missing_since"]
        await watch.wait_for(b"still missing after")
        assert await get(base + "/livez") == (200, b'{"status": "alive"}'), "alive all along"
        log.parent.mkdir()
        log.write_bytes(b'{"action": "app.get"}\n')

        async def reading() -> bool:
            status, body = await get(base + "/healthz")
            return status == 200 and orjson.loads(body)["source"]["state"] == "reading"

        await poll_until(reading, deadline=20)
        await watch.wait_for(b"found after")
    finally:
        code, _ = await stop_watched(proc, watch)
    assert code == 0


async def test_a_held_state_directory_exits_2(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery="", channels=EXPLAINED, log=tmp_path / "a.jsonl")
    env = clean_env({"U": "http://127.0.0.1:9/"})
    proc, watch = await start_watched(config, env)
    try:
        code, _, err = await run_async("run", "-c", str(config), env=env)
        assert code == 2, "RestartPreventExitStatus=2 stops a restart loop"
        assert b"another shipper run is using" in err
    finally:
        await stop_watched(proc, watch)
    (tmp_path / "blocked").write_text("")
    config.write_text(
        config.read_text().replace(str(tmp_path / "state"), str(tmp_path / "blocked"))
    )
    code, _, err = await run_async("run", "-c", str(config), env=env)
    assert code == 2
    assert b"not a directory" in err and b"Traceback" not in err


async def test_events_piped_to_a_run_tailing_a_file_are_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    config = config_file(tmp_path, delivery='drain_timeout = "1s"', channels=EXPLAINED, log=log)
    env = clean_env({"U": "http://127.0.0.1:9/"})
    line = b'{"action": "login.failed", "severity": "high"}\n'
    # Data already on stdin at start: refused before anything starts.
    code, _, err = await run_async("run", "-c", str(config), env=env, stdin=line)
    assert code == 2
    assert f"events were given on stdin, but [source] path names {log}".encode() in err
    assert b"pass --input - to read stdin" in err and b"Traceback" not in err
    # Data that comes later, to a run already tailing the file: it stops, exit 2.
    proc, watch = await start_watched(config, env)
    assert proc.stdin is not None
    proc.stdin.write(line)
    await proc.stdin.drain()
    await watch.wait_for(b"events were given on stdin")
    assert await asyncio.wait_for(proc.wait(), 30) == 2
    # An empty pipe that ends is no conflict: the file is tailed as configured.
    proc, watch = await start_watched(config, env)
    assert proc.stdin is not None
    proc.stdin.close()
    with log.open("ab") as f:
        f.write(line)
    await watch.wait_for(b"channel sec: attempt 1 failed", deadline=20)
    code, text = await stop_watched(proc, watch)
    assert code == 1, "the event stays queued: the file was read"
    assert b"events were given on stdin" not in text


def test_input_dash_reads_the_pipe_whatever_path_says(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    config = config_file(tmp_path, delivery="", channels=EXPLAINED, log=log)
    line = b'{"action": "login.failed", "severity": "high"}\n'
    result = shipper(
        "run", "--dry-run", "--input", "-", "-c", str(config), stdin=line, env=clean_env()
    )
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["channel"] == "sec"

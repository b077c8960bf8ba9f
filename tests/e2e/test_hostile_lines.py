"""One hostile line through the real CLI: it never stops, stalls or blinds ``run``, ``route``
or ``--dry-run``.

Each test is a regression test for issue 10 (findings 1 to 3): a line nested
past what orjson writes crashed every start on the same line; a glob with
several stars made skimming one long action take minutes; a lone surrogate, a
NaN or a broken line hid a ``login.password_failed`` from every channel.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.cli import clean_env, run_async, shipper, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, config_file, fake_env
from tests.integration.fake_webhook import FakeWebhook, Reply, Request

SIEM = "/ingest/siemSECREThostile1"
SLACK = "/services/T0/B0/slackSECREThostile2"
MARKER = "<cut: nested deeper than 64 levels>"
SHOWN = "nested deeper than 64 levels"  # Slack escapes the angle brackets


@pytest.fixture
def fake(fake: FakeWebhook) -> FakeWebhook:
    fake.always(SLACK, Reply(200, "ok"))
    return fake


def write_config(tmp_path: Path, *, log: Path | None = None, actions: str = '"login.*"') -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "300ms"\ndrain_timeout = "10s"\ntimeout = "2s"'
    channels = f"""{SIEM_WEBHOOK}max_rate = 0
actions = [{actions}]
[channels.security]
kind = "slack"
url = "${{SLACK_URL}}"
max_rate = 0
actions = [{actions}]"""
    return config_file(tmp_path, log=log, delivery=delivery, channels=channels)


def env_for(fake: FakeWebhook) -> dict[str, str]:
    return fake_env(fake, SIEM_URL=SIEM, SLACK_URL=SLACK)


def line(seq: int, tail: str = "", action: str = "login.password_failed") -> bytes:
    """An event as text, with ``tail`` (more JSON members, or garbage) before its brace."""
    return f'{{"action":"{action}","severity":"high","seq":{seq}{tail}}}\n'.encode()


def deep_arrays(seq: int) -> bytes:
    """The 531-byte kind of line of the issue: 254 arrays deep, which orjson reads and will
    not write back."""
    return line(seq, ',"x":' + "[" * 254 + "]" * 254)


def deep_context(seq: int) -> bytes:
    """A context 1,000 objects deep: past Python's recursion limit for a recursive walk."""
    return line(seq, ',"context":' + '{"a":' * 1000 + "1" + "}" * 1000)


def posted(requests: list[Request], path: str = SIEM) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for request in requests:
        if request.path == path:
            body = request.json
            out.extend(body if isinstance(body, list) else [body])
    return out


def seqs(requests: list[Request]) -> set[int]:
    return {e["seq"] for e in posted(requests) if "seq" in e}


def slack_text(requests: list[Request]) -> str:
    return "\n".join(r.body.decode() for r in requests if r.path == SLACK)


async def run_stdin(config: Path, fake: FakeWebhook, data: bytes, *args: str) -> tuple[int, bytes]:
    status, out, err = await run_async(
        "run", "-c", str(config), *args, env=env_for(fake), stdin=data
    )
    assert b"SECRET" not in out + err
    assert b"unexpected error" not in err, err.decode()
    return status, out


async def stop(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert b"SECRET" not in err
    assert b"unexpected error" not in err, err.decode()
    return err


async def test_deep_lines_in_a_tailed_file_are_delivered_and_a_restart_goes_on(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(deep_arrays(0) + deep_context(1) + line(2))
    config = write_config(tmp_path, log=log)
    proc, _ = await start_run(config, env_for(fake))
    await fake.wait_for(lambda reqs: seqs(reqs) >= {0, 1, 2}, deadline=20)
    await fake.wait_for(lambda reqs: SHOWN in slack_text(reqs), deadline=20)
    assert await stop(proc) is not None and proc.returncode == 0

    by_seq = {e["seq"]: e for e in posted(fake.requests)}
    cut = by_seq[0]["x"]
    for _ in range(62):  # the event is level 1, "x" level 2: 62 more arrays are kept
        assert isinstance(cut, list) and len(cut) == 1
        cut = cut[0]
    assert cut == [MARKER]
    assert MARKER in orjson.dumps(by_seq[1]["context"]).decode()
    assert SHOWN in slack_text(fake.requests), "the Slack message shows the cut fact"

    with log.open("ab") as appending:
        appending.write(deep_arrays(3) + line(4))
    proc, _ = await start_run(config, env_for(fake))
    await fake.wait_for(lambda reqs: seqs(reqs) >= {3, 4}, deadline=20)
    await stop(proc)
    assert proc.returncode == 0


async def test_deep_lines_are_printed_by_dry_run(tmp_path: Path, fake: FakeWebhook) -> None:
    config = write_config(tmp_path)
    code, out = await run_stdin(
        config, fake, deep_arrays(0) + deep_context(1) + line(2), "--dry-run"
    )
    assert code == 0
    printed = [orjson.loads(x) for x in out.splitlines()]
    assert [(p["channel"], p["payload"].get("seq")) for p in printed] == [
        ("siem", 0),
        ("security", None),
        ("siem", 1),
        ("security", None),
        ("siem", 2),
        ("security", None),
    ]
    assert MARKER in out.decode()


def test_many_star_globs_route_a_long_action_in_linear_time(tmp_path: Path) -> None:
    config = write_config(tmp_path, actions='"*.*_failed", "*.*.*_failed"')
    # Skimming these took cubic (5,000 dots) and quadratic (200,000) time: hours in all.
    dots = '{"action":"' + "." * 5000 + '"}\n'
    long = '{"action":"' + "a." * 100_000 + '"}\n'
    # A backslash makes the intake parse every line of the block: the full path.
    escaped = '{"action":"' + "a." * 100_000 + 'x_failed","note":"\\t"}\n'
    data = (dots + long + escaped).encode() + line(3)
    result = shipper("route", "-c", str(config), stdin=data, env=clean_env())
    assert result.returncode == 0, result.stderr.decode()
    routed = [orjson.loads(x) for x in result.stdout.splitlines()]
    assert [(r["line"], r["channels"]) for r in routed] == [
        (3, ["siem", "security"]),
        (4, ["siem", "security"]),
    ]


async def test_a_long_action_does_not_stall_run(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(line(0, action="." * 5000) + line(1, action="sso.login.password_failed"))
    config = write_config(tmp_path, log=log, actions='"*.*.*_failed"')
    proc, _ = await start_run(config, env_for(fake))
    # The old skim spent minutes on line 1 with the event loop blocked; line 2 waited.
    await fake.wait_for(lambda reqs: seqs(reqs) == {1}, deadline=20)
    await stop(proc)


async def test_odd_values_and_broken_lines_still_post_the_event(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    data = b"".join(
        [
            line(0, ',"user":"mallory\\ud800"'),  # a lone surrogate: what json.dumps writes
            line(1, ',"score":NaN,"max":Infinity,"min":-Infinity'),
            line(2, ',"user":"mallory", oops'),  # not JSON, the action readable
            line(3, ',"user":"BYTE"').replace(b"BYTE", b"\xff"),  # not UTF-8
            b'{"action": "login.other_failed", "user": "x" "severity": "high"}\n',
        ]
    )
    config = write_config(tmp_path)
    code, _ = await run_stdin(config, fake, data)
    assert code == 0
    events = posted(fake.requests)
    by_seq = {e.get("seq"): e for e in events}
    assert by_seq[0]["user"] == "mallory<U+D800>"
    assert (by_seq[1]["score"], by_seq[1]["max"], by_seq[1]["min"]) == (
        "NaN",
        "Infinity",
        "-Infinity",
    )
    malformed = [e for e in events if "malformed" in e]
    assert [(e["action"], e["severity"]) for e in malformed] == [
        ("login.password_failed", "high"),
        ("login.password_failed", "high"),
        ("login.other_failed", "high"),
    ]
    assert malformed[0]["malformed"]["reason"].startswith("not valid JSON")
    assert malformed[1]["malformed"]["reason"] == "not valid UTF-8"
    assert '"seq":2,"user":"mallory", oops' in malformed[0]["malformed"]["line_start"]
    text = slack_text(fake.requests)
    assert "mallory&lt;U+D800&gt;" in text or "mallory<U+D800>" in text
    assert "malformed.reason" in text

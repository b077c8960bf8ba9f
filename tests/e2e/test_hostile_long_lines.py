"""A line padded past ``source.max_line_bytes`` through the real CLI: it cannot hide its event.

Regression test for issue 10, finding 3 (alert suppression), the long-line way:
padding one field of a ``login.password_failed`` to 100 KB under
``max_line_bytes = 4096`` made the line a bare ``too_long`` count, never posted
and never printed by ``route``. Now the action read in the line's head is
routed as a malformed event, in ``run`` (stdin and a tailed file) and
``route``; the line is still counted and logged as too long.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import orjson

from tests.e2e.cli import StderrWatch, run_async, shipper, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, config_file, fake_env
from tests.integration.fake_webhook import FakeWebhook, Request

SIEM = "/ingest/siemSECRETlonglines"
PAD = 100_000
REASON = "longer than source.max_line_bytes (4096 bytes)"


def write_config(tmp_path: Path, log: Path | None = None) -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "300ms"\ndrain_timeout = "10s"\ntimeout = "2s"'
    channels = f'{SIEM_WEBHOOK}max_rate = 0\nactions = ["login.*"]'
    return config_file(
        tmp_path, log=log, source="max_line_bytes = 4096\n", delivery=delivery, channels=channels
    )


def line(seq: int, tail: str = "") -> bytes:
    return f'{{"action":"login.password_failed","severity":"high","seq":{seq}{tail}}}\n'.encode()


def padded(seq: int) -> bytes:
    """The attack: one field padded to 100 KB, after the action (as producers write it)."""
    return line(seq, ',"user":"mallory","user_agent":"' + "A" * PAD + '"')


def hidden_action() -> bytes:
    """Too long with its action only past the kept head: counted and logged, not posted."""
    return b'{"pad":"' + b"B" * PAD + b'","action":"login.password_failed"}\n'


LOG = line(0) + padded(1) + hidden_action() + line(3)


def posted(requests: list[Request]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for request in requests:
        if request.path == SIEM:
            body = request.json
            out.extend(body if isinstance(body, list) else [body])
    return out


def check_posted(events: list[dict[str, Any]]) -> None:
    """Lines 1 and 4 as they are, line 2 as a malformed event (which keeps no "seq")."""
    assert {e.get("seq") for e in events} == {0, 3, None}
    malformed = [e for e in events if "malformed" in e]
    assert len(malformed) == 1, malformed
    event = malformed[0]
    assert (event["action"], event["severity"]) == ("login.password_failed", "high")
    reason = event["malformed"]["reason"]
    assert reason.startswith(REASON), reason
    assert f"{len(padded(1)) - 1} bytes" in reason
    start = event["malformed"]["line_start"]
    assert start.startswith('{"action":"login.password_failed","severity":"high","seq":1')
    assert start.endswith("…") and len(start) < 2000


def env_for(fake: FakeWebhook) -> dict[str, str]:
    return fake_env(fake, SIEM_URL=SIEM)


async def test_a_padded_line_on_stdin_is_posted_as_a_malformed_event(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    status, _, err = await run_async(
        "run", "-c", str(write_config(tmp_path)), env=env_for(fake), stdin=LOG
    )
    assert status == 0, err.decode()
    assert b"SECRET" not in err and b"unexpected error" not in err
    check_posted(posted(fake.requests))
    text = err.decode()
    assert "line 2 is longer than source.max_line_bytes" in text
    assert "line 3 skipped: longer than source.max_line_bytes" in text
    assert "AAAA" * 8 not in text, "the padding is not logged"


async def test_a_padded_line_in_a_tailed_file_is_posted_as_a_malformed_event(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(LOG)
    proc, seen = await start_run(write_config(tmp_path, log), env_for(fake))
    watch = StderrWatch(proc, seen)
    await fake.wait_for(lambda reqs: {e.get("seq", "-") for e in posted(reqs)} >= {0, "-", 3}, 20)
    await watch.wait_for(b"line 3 skipped: longer than source.max_line_bytes")
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 30)
    err = await watch.finish()
    assert proc.returncode == 0, err.decode()
    check_posted(posted(fake.requests))


def test_route_prints_a_padded_line_and_counts_it_too_long(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    log = tmp_path / "audit.jsonl"
    log.write_bytes(LOG)
    result = shipper("route", "-c", str(config), str(log))
    assert result.returncode == 0, result.stderr
    rows = [orjson.loads(row) for row in result.stdout.splitlines()]
    assert [(r["line"], r["action"], r["channels"]) for r in rows] == [
        (1, "login.password_failed", ["siem"]),
        (2, "login.password_failed", ["siem"]),
        (4, "login.password_failed", ["siem"]),
    ]
    stats = orjson.loads(shipper("route", "-c", str(config), "--stats", str(log)).stdout)
    assert stats["lines_read"] == 4
    assert stats["rejected_by_reason"] == {"too_long": 2}

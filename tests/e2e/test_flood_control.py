"""Flood control through the real CLI: a flood of one action against a Slack that answers
429 past one message a second, a deploy approval behind it, ``kill -9`` mid-flood, the end
of stdin, ``route --stats`` and the config keys.

Every event is accounted for: posted in full (its ``seq`` shows as a fact) or counted in
one summary, whose ``text`` reads ``{group}: {count} more in {window}``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.cli import (
    clean_env,
    free_port,
    run_async,
    shipper,
    spawn,
    start_watched,
    stop_watched,
)
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply, Request
from tests.support.waiting import get, poll_until

SLACK = "/services/T0FLOOD/B0FLOOD/floodSECRETpath"
FLOOD = 20_000
FLOOD_ACTION = "login.password_failed"
APPROVAL = "deploy_approval_request.created"
SUMMARY = re.compile(r"^(?P<group>.+): (?P<count>\d+) more in (?P<window>\d+)s$")
SEQ_FACT = re.compile(r"seq: (\d+)")


class RateLimitedSlack(FakeWebhook):
    """A Slack webhook that takes one message a second and answers 429 to the rest."""

    def __init__(self) -> None:
        super().__init__(Reply(200, "ok"))
        self.accepted: list[Request] = []
        self.refused = 0
        self._last_ok: float | None = None

    def _next_reply(self, path: str) -> Reply:
        now = self._clock()
        if self._last_ok is not None and now - self._last_ok < 1.0:
            self.refused += 1
            return Reply(429, '{"ok":false,"error":"rate_limited"}', {"Retry-After": "1"})
        self._last_ok = now
        self.accepted.append(self.requests[-1])
        return Reply(200, "ok")


def flood_config(
    tmp_path: Path, *, channel_keys: str = "", log: Path | None = None, extra: str = ""
) -> Path:
    delivery = 'retry_initial = "50ms"\nretry_max = "1s"\ndrain_timeout = "30s"\ntimeout = "5s"'
    channels = f"""[channels.security]
kind = "slack"
url = "${{SLACK_URL}}"
{channel_keys}
{extra}"""
    return config_file(tmp_path, delivery=delivery, channels=channels, log=log)


def flood_lines(count: int, start: int = 0) -> bytes:
    return b"".join(
        audit_line(seq, FLOOD_ACTION, "medium", user=f"attacker{seq % 7}", context={"seq": seq})
        for seq in range(start, start + count)
    )


def approval_line(seq: int) -> bytes:
    return audit_line(seq, APPROVAL, "info", user="alice", context={"seq": seq})


def accounted(requests: list[Request]) -> tuple[list[int], dict[str, int], list[str]]:
    """The seqs posted in full, the summarized count per group, and each summary's text."""
    posted: list[int] = []
    summarized: dict[str, int] = {}
    texts: list[str] = []
    for request in requests:
        body: dict[str, Any] = request.json
        match = SUMMARY.match(body["text"])
        if match is not None and "flood control" in orjson.dumps(body["blocks"]).decode():
            summarized[match["group"]] = summarized.get(match["group"], 0) + int(match["count"])
            texts.append(body["text"])
            continue
        shown = orjson.dumps(body["blocks"]).decode()
        posted.extend(int(s) for s in SEQ_FACT.findall(shown))
    return posted, summarized, texts


async def test_a_flood_is_summarized_and_the_approval_behind_it_arrives_at_once(
    tmp_path: Path,
) -> None:
    slack = RateLimitedSlack()
    async with slack:
        env = clean_env({"SLACK_URL": slack.to(SLACK)})
        proc = await spawn("run", "-c", str(flood_config(tmp_path)), "--input", "-", env=env)
        assert proc.stdin is not None and proc.stderr is not None
        stderr = asyncio.create_task(proc.stderr.read())
        proc.stdin.write(flood_lines(FLOOD) + approval_line(FLOOD))
        await proc.stdin.drain()

        def approval_posted(requests: list[Request]) -> bool:
            return any(APPROVAL in r.body.decode() for r in slack.accepted)

        # Behind 20,000 events at one message a second: without flood control, hours.
        await slack.wait_for(approval_posted, deadline=10)
        proc.stdin.close()
        status = await asyncio.wait_for(proc.wait(), 60)
        err = (await stderr).decode()

    assert status == 0, err
    posted, summarized, texts = accounted(slack.accepted)
    assert FLOOD in posted  # the approval, in full
    flood_posted = [s for s in posted if s != FLOOD]
    assert len(flood_posted) == len(set(flood_posted))
    assert len(flood_posted) + sum(summarized.values()) == FLOOD, (len(flood_posted), summarized)
    assert set(summarized) == {FLOOD_ACTION}
    assert all(SUMMARY.fullmatch(t) and t.endswith(" more in 60s") for t in texts)
    assert "floodSECRETpath" not in err


async def test_end_of_stdin_summarizes_the_open_window(tmp_path: Path) -> None:
    async with FakeWebhook(Reply(200, "ok")) as slack:
        env = clean_env({"SLACK_URL": slack.to(SLACK)})
        config = flood_config(tmp_path, channel_keys='max_rate = 0\nburst_window = "1h"')
        status, _, err = await run_async(
            "run", "-c", str(config), "--input", "-", env=env, stdin=flood_lines(25)
        )
    assert status == 0, err.decode()
    posted, summarized, texts = accounted(slack.requests)
    assert sorted(posted) == list(range(10))
    assert summarized == {FLOOD_ACTION: 15}
    assert texts == [f"{FLOOD_ACTION}: 15 more in 3600s"]


async def test_a_summary_the_channel_refused_at_exit_is_posted_by_the_next_run(
    tmp_path: Path,
) -> None:
    config = flood_config(tmp_path, channel_keys='max_rate = 0\nburst_window = "1h"')
    config.write_text(config.read_text().replace('drain_timeout = "30s"', 'drain_timeout = "2s"'))
    async with FakeWebhook(Reply(200, "ok")) as slack:
        slack.script(SLACK, Reply(200, "ok"))
        slack.always(SLACK, Reply(503, "down"))
        env = clean_env({"SLACK_URL": slack.to(SLACK)})
        args = ("run", "-c", str(config), "--input", "-")
        status, _, err = await run_async(*args, env=env, stdin=flood_lines(25))
        assert status == 1, err.decode()  # undelivered work left: the summary
        assert b"1 flood-control summary message(s) not delivered yet" in err
        slack.always(SLACK, Reply(200, "ok"))
        status, _, err = await run_async(*args, env=env, stdin=b"")
    assert status == 0, err.decode()
    # The first post (10 in full) and the last (the summary, taken by the second run).
    posted, _, texts = accounted([slack.requests[0], slack.requests[-1]])
    assert sorted(posted) == list(range(10))
    assert texts == [f"{FLOOD_ACTION}: 15 more in 3600s"]


async def test_kill_9_mid_flood_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    """A tailed file, killed while the flood is being counted, then run again to the end."""
    log = tmp_path / "audit.jsonl"
    total = 30_000
    log.write_bytes(flood_lines(total))
    async with FakeWebhook(Reply(200, "ok")) as slack:
        env = clean_env({"SLACK_URL": slack.to(SLACK)})
        config = flood_config(tmp_path, log=log, channel_keys='max_rate = 0\nburst_window = "1h"')
        state = tmp_path / "state" / "spool" / "security" / "flood.json"

        def counted_so_far() -> int:
            try:
                doc = orjson.loads(state.read_bytes())
            except (FileNotFoundError, orjson.JSONDecodeError):
                return 0
            return sum(w["counted"] for w in doc["windows"] + doc["owed"])

        async def mid_flood() -> bool:  # counted, but far from all
            return counted_so_far() >= 2_000

        async def all_accounted() -> bool:
            return counted_so_far() + len(accounted(slack.requests)[0]) >= total

        proc, watch = await start_watched(config, env)
        await poll_until(mid_flood, deadline=30, interval=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        await watch.finish()
        assert counted_so_far() < total - 10

        proc, watch = await start_watched(config, env)
        await poll_until(all_accounted, deadline=60)
        status, err = await stop_watched(proc, watch)
    assert status == 0, err.decode()
    posted, summarized, _ = accounted(slack.requests)
    # Posted in full may repeat only what was in flight at the kill; counts never repeat.
    assert len(set(posted)) + sum(summarized.values()) == total, (len(posted), summarized)
    assert len(posted) - len(set(posted)) <= 20


def test_flood_keys_are_taken_in_delivery_and_per_channel(tmp_path: Path) -> None:
    config = flood_config(
        tmp_path, channel_keys='burst_limit = 0\nburst_by = ["action", "context.ip"]'
    )
    config.write_text(
        config.read_text().replace("[delivery]\n", '[delivery]\nburst_window = "5m"\n')
    )
    result = shipper("check", "-c", str(config), env=clean_env({"SLACK_URL": "https://x.test/"}))
    assert result.returncode == 0, result.stderr.decode()


async def test_metrics_count_the_summarized_events(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(flood_lines(25))
    port = free_port()
    config = flood_config(
        tmp_path,
        log=log,
        channel_keys='max_rate = 0\nburst_window = "1h"',
        extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
    )
    line = b'shipper_events_summarized_total{channel="security"} 15.0'

    async def summarized() -> bool:
        try:
            _, body = await get(f"http://127.0.0.1:{port}/metrics")
        except OSError:
            return False
        return line in body

    async with FakeWebhook(Reply(200, "ok")) as slack:
        env = clean_env({"SLACK_URL": slack.to(SLACK)})
        proc, watch = await start_watched(config, env)
        await poll_until(summarized, deadline=20)
        status, err = await stop_watched(proc, watch)
    assert status == 0, err.decode()
    assert accounted(slack.requests)[1] == {FLOOD_ACTION: 15}


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("burst_limit = -1", "burst_limit: must be a whole number"),
        ('burst_limit = "ten"', "burst_limit: must be a whole number"),
        ('burst_window = "soon"', 'burst_window: "soon" is not a duration'),
        ("burst_by = []", "burst_by: must be a non-empty list of dotted field paths"),
        ('burst_by = "action"', "burst_by: must be a non-empty list of dotted field paths"),
        ('burst_by = ["context..ip"]', "burst_by: must be a non-empty list of dotted field paths"),
    ],
)
def test_bad_flood_keys_name_the_key_and_exit_2(tmp_path: Path, keys: str, said: str) -> None:
    config = flood_config(tmp_path, channel_keys=keys)
    result = shipper("check", "-c", str(config), env=clean_env({"SLACK_URL": "https://x.test/"}))
    assert result.returncode == 2
    assert f"channels.security.{said}" in result.stderr.decode() + result.stdout.decode()
    assert b"Traceback" not in result.stderr


def test_bad_flood_key_in_delivery_names_it(tmp_path: Path) -> None:
    config = flood_config(tmp_path)
    config.write_text(config.read_text().replace("[delivery]\n", "[delivery]\nburst_window = 0\n"))
    result = shipper("check", "-c", str(config), env=clean_env({"SLACK_URL": "https://x.test/"}))
    assert result.returncode == 2
    assert "delivery.burst_window: must be longer than zero" in result.stderr.decode()


def test_route_stats_reports_the_summarized_events(tmp_path: Path) -> None:
    config = config_file(
        tmp_path,
        delivery="",
        channels='[channels.security]\nkind = "slack"\nurl = "${SLACK_URL}"\n'
        '[channels.siem]\nkind = "webhook"\nurl = "${SIEM_URL}"\n',
    )
    # 30 events a second apart: 10 in full and 20 counted in the first minute's window.
    lines = b"".join(
        audit_line(i, FLOOD_ACTION, "medium", timestamp=f"2026-01-01T00:00:{i:02d}Z")
        for i in range(30)
    )
    result = shipper("route", "-c", str(config), "--stats", "-", stdin=lines)
    assert result.returncode == 0, result.stderr.decode()
    stats = orjson.loads(result.stdout)
    assert stats["channels"] == {"security": 30, "siem": 30}
    assert stats["summarized"] == {"security": 20, "siem": 0}

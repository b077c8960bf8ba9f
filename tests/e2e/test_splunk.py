"""The ``splunk`` kind through the installed CLI, against a fake HEC on 127.0.0.1.

The fake checks what HEC checks (token, gzip, envelopes, size, index, channel)
and answers with HEC's codes (``tests/integration/fake_hec.py``). What is
checked here is what a Splunk admin relies on: every event arrives, complete,
in order, in requests within HEC's limits; with indexer acknowledgement an
event leaves the backlog only once HEC reports it indexed, so a ``kill -9``
before that, or an ack that never comes, sends it again; one bad event is
dead-lettered alone; the token shows nowhere.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tests.e2e.cli import StderrWatch, clean_env, run_async, shipper, start_run
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_hec import TOKEN, FakeHec, seqs

DELIVERY = 'retry_initial = "50ms"\nretry_max = "200ms"\ndrain_timeout = "20s"\ntimeout = "5s"'
T0 = datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=UTC)


def splunk_config(tmp_path: Path, extra: str = "", log: Path | None = None) -> Path:
    channel = (
        f'[channels.siem]\nkind = "splunk"\nurl = "${{HEC_URL}}"\ntoken = "${{HEC_TOKEN}}"\n{extra}'
    )
    return config_file(tmp_path, delivery=DELIVERY, channels=channel, log=log)


def env_for(hec: FakeHec, token: str = TOKEN) -> dict[str, str]:
    return clean_env({"HEC_URL": hec.url, "HEC_TOKEN": token})


def lines(n: int, start: int = 0) -> bytes:
    stamp = T0.isoformat().replace("+00:00", "Z")
    return b"".join(audit_line(i, timestamp=stamp) for i in range(start, start + n))


def assert_no_token(*outputs: bytes | str) -> None:
    for text in outputs:
        shown = text.decode(errors="replace") if isinstance(text, bytes) else text
        assert TOKEN not in shown and TOKEN.split("-")[0] not in shown, shown[:2000]


async def test_3000_events_arrive_complete_in_order_within_hec_limits(tmp_path: Path) -> None:
    async with FakeHec() as hec:
        config = splunk_config(tmp_path, 'index = "audit"\n')
        status, out, err = await run_async(
            "run", "-c", str(config), env=env_for(hec), stdin=lines(3000), deadline=120
        )
    assert status == 0, err.decode()
    assert seqs(hec.received) == list(range(3000))
    posts = hec.event_posts()
    assert all(r.status == 200 for r in posts)
    assert all(len(r.envelopes) <= 500 for r in posts), [len(r.envelopes) for r in posts]
    assert all(len(r.wire) <= 1_000_000 for r in posts)
    assert all(r.headers["Content-Encoding"] == "gzip" for r in posts)
    assert all(r.headers["Authorization"] == f"Splunk {TOKEN}" for r in posts)
    first = hec.received[0]
    assert list(first) == ["time", "host", "source", "sourcetype", "index", "event"]
    assert first["time"] == T0.timestamp()
    assert first["host"] == socket.gethostname()
    assert (first["source"], first["sourcetype"], first["index"]) == (
        "shipper",
        "shipper:audit",
        "audit",
    )
    assert first["event"] == orjson.loads(audit_line(0, timestamp=first["event"]["timestamp"]))
    assert_no_token(out, err)


async def test_with_acknowledgements_late_acks_release_events_only_once_indexed(
    tmp_path: Path,
) -> None:
    async with FakeHec(acks=True) as hec:
        hec.ack_after_queries = 2  # every ack comes late: two "not yet" first
        config = splunk_config(tmp_path, "acknowledgements = true\n")
        status, _, err = await run_async(
            "run", "-c", str(config), env=env_for(hec), stdin=lines(1200), deadline=120
        )
    assert status == 0, err.decode()
    assert seqs(hec.indexed) == list(range(1200))
    assert seqs(hec.received) == list(range(1200)), "late acks are waited for, not resent"
    channels = {r.headers["X-Splunk-Request-Channel"] for r in hec.requests}
    assert len(channels) == 1
    (kept,) = (tmp_path / "state" / "kinds").glob("splunk.siem.channel")
    assert kept.read_text().strip() == str(uuid.UUID(channels.pop()))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # Each request waited for its ack: the next post came after its ack was reported.
    assert len(hec.ack_queries) == 3 * len(hec.event_posts())


async def test_kill_9_before_the_ack_sends_the_unacknowledged_events_again(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(lines(50))
    async with FakeHec(acks=True) as hec:
        hec.hold_acks = True  # HEC took the events but never reports them indexed
        config = splunk_config(tmp_path, "acknowledgements = true\n", log=log)
        env = env_for(hec)
        proc, _ = await start_run(config, env)
        watch = StderrWatch(proc)
        await hec.wait_for(lambda h: len(h.ack_queries) >= 2)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 20)
        await watch.finish()
        assert seqs(hec.received) == list(range(50)) and hec.indexed == []
        channel = hec.requests[0].headers["X-Splunk-Request-Channel"]

        hec.hold_acks = False
        proc, _ = await start_run(config, env)
        watch = StderrWatch(proc)
        await hec.wait_for(lambda h: sorted(set(seqs(h.indexed))) == list(range(50)))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        err = await watch.finish()
    assert seqs(hec.received)[50:] == list(range(50)), "never acknowledged: sent again, in order"
    assert {r.headers["X-Splunk-Request-Channel"] for r in hec.requests} == {channel}
    assert_no_token(err)


async def test_an_ack_that_never_comes_within_ack_timeout_sends_the_events_again(
    tmp_path: Path,
) -> None:
    async with FakeHec(acks=True) as hec:
        hec.hold_acks = True
        config = splunk_config(tmp_path, 'acknowledgements = true\nack_timeout = "1s"\n')
        proc, _ = await start_run(config, env_for(hec), "--input", "-")
        watch = StderrWatch(proc)
        assert proc.stdin is not None
        proc.stdin.write(lines(20))
        await proc.stdin.drain()
        await hec.wait_for(lambda h: len(h.event_posts()) >= 1)
        await watch.wait_for(b"did not report them indexed within 1s", deadline=20)
        hec.hold_acks = False
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        err = await watch.finish()
    assert seqs(hec.received) == list(range(20)) * 2
    assert seqs(hec.indexed) == list(range(20))
    assert b"sending them again" in err


async def test_one_invalid_event_is_dead_lettered_alone_and_the_rest_arrive_once(
    tmp_path: Path,
) -> None:
    data = lines(120) + audit_line(120, poison=True) + lines(200, start=121)
    async with FakeHec() as hec:
        config = splunk_config(tmp_path)
        status, _, err = await run_async(
            "run", "-c", str(config), env=env_for(hec), stdin=data, deadline=60
        )
    assert status == 3, err.decode()  # delivered, but one event dead-lettered
    expected = [n for n in range(321) if n != 120]
    assert seqs(hec.received) == expected, "the events before the bad one are not sent twice"
    (dead,) = (
        orjson.loads(x)
        for x in (tmp_path / "state" / "dead-letter" / "siem.jsonl").read_bytes().splitlines()
    )
    assert dead["event"]["seq"] == 120
    assert "code 6" in dead["reason"] and "the rest are sent again" in dead["reason"]


async def test_a_wrong_token_is_refused_in_plain_words_and_never_shown(tmp_path: Path) -> None:
    wrong = "d3adbeef-0000-4bad-8bad-c0ffee000000"
    async with FakeHec() as hec:
        config = splunk_config(tmp_path)
        env = env_for(hec, wrong)
        status, out, err = await run_async("run", "-c", str(config), env=env, stdin=lines(3))
        tested = await asyncio.to_thread(shipper, "test", "siem", "-c", str(config), env=env)
        checked = await asyncio.to_thread(shipper, "check", "-c", str(config), env=env)
    assert status == 3
    letters = (tmp_path / "state" / "dead-letter" / "siem.jsonl").read_text()
    assert "Invalid token (code 4)" in letters and "copy its value again" in letters
    assert tested.returncode == 1
    assert b"Splunk answered 403 Invalid token (code 4)" in tested.stdout
    for text in (out, err, letters, tested.stdout, tested.stderr, checked.stdout, checked.stderr):
        shown = text.decode() if isinstance(text, bytes) else text
        assert wrong not in shown and "d3adbeef" not in shown


async def test_shipper_test_reports_an_indexed_test_event(tmp_path: Path) -> None:
    async with FakeHec(acks=True) as hec:
        hec.ack_after_queries = 1
        config = splunk_config(tmp_path, "acknowledgements = true\n")
        tested = await asyncio.to_thread(
            shipper, "test", "siem", "-c", str(config), env=env_for(hec)
        )
    assert tested.returncode == 0, tested.stderr.decode()
    assert b"siem: Splunk answered 200 Success (code 0), indexed (ackId 0)" in tested.stdout
    (event,) = hec.indexed
    assert event["event"]["action"] == "shipper.test"
    assert not (tmp_path / "state").exists(), "shipper test keeps nothing"
    assert_no_token(tested.stdout, tested.stderr)


def test_check_refuses_bad_splunk_keys_naming_each_and_showing_no_token(tmp_path: Path) -> None:
    extra = (
        'index = "a b"\nacknowledgements = "yes"\nack_timeout = "soon"\n'
        'sourcetype = ""\ncolour = "red"\n'
    )
    config = splunk_config(tmp_path, extra)
    env = clean_env(
        {
            "HEC_URL": "https://splunk.example:8088/services/collector/event",
            "HEC_TOKEN": f"Splunk {TOKEN}",
        }
    )
    checked = shipper("check", "-c", str(config), env=env)
    assert checked.returncode == 2
    err = checked.stderr.decode()
    for key in ("url", "token", "index", "acknowledgements", "ack_timeout", "sourcetype", "colour"):
        assert f"channels.siem.{key}: " in err, (key, err)
    assert "without /services/collector" in err
    assert "Traceback" not in err
    assert_no_token(checked.stdout, checked.stderr)


async def test_an_event_past_the_request_limit_is_dead_lettered_whole(tmp_path: Path) -> None:
    big = audit_line(5, blob="x" * 1_010_000)
    async with FakeHec() as hec:
        config = splunk_config(tmp_path)
        status, _, err = await run_async(
            "run", "-c", str(config), env=env_for(hec), stdin=lines(5) + big + lines(5, start=6)
        )
    assert status == 3, err.decode()
    assert seqs(hec.received) == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert all(len(r.wire) <= 1_000_000 for r in hec.event_posts())
    (dead,) = (tmp_path / "state" / "dead-letter" / "siem.jsonl").read_bytes().splitlines()
    letter = orjson.loads(dead)
    assert letter["event"]["blob"] == "x" * 1_010_000, "kept whole, not cut"
    assert "over the 1,000,000-byte request limit" in letter["reason"]


async def test_a_token_with_acknowledgement_on_says_how_to_fix_the_channel(tmp_path: Path) -> None:
    async with FakeHec(acks=True) as hec:
        config = splunk_config(tmp_path, 'index = "main"\n')
        tested = await asyncio.to_thread(
            shipper, "test", "siem", "-c", str(config), env=env_for(hec)
        )
    assert tested.returncode == 1
    assert tested.stdout.decode().startswith(
        "siem: Splunk answered 400 Data channel is missing (code 10): the token has indexer "
        "acknowledgement on, which needs a channel: set acknowledgements = true"
    )
    assert_no_token(tested.stdout, tested.stderr)


def test_a_dry_run_shows_an_event_too_large_for_hec_as_not_sent_and_goes_on(
    tmp_path: Path,
) -> None:
    channels = (
        '[channels.siem]\nkind = "splunk"\nurl = "https://splunk.example:8088"\n'
        'token = "${HEC_TOKEN}"\n'
    )
    config = config_file(tmp_path, delivery="", channels=channels)
    lines = audit_line(1, blob="x" * 1_010_000) + audit_line(2)  # under max_line_bytes
    done = shipper("run", "-c", str(config), "--dry-run", stdin=lines)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    first, second = (orjson.loads(line) for line in done.stdout.splitlines())
    assert "request limit of a splunk channel" in first["payload"]["not_sent"]
    assert second["payload"][0]["event"]["seq"] == 2

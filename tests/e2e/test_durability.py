"""Nothing lost: the real CLI tailing real files through rotation, kill -9, outages and replay.

Every test runs ``shipper run`` in a subprocess against a fake webhook on
127.0.0.1 and waits on what the webhook received, with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.e2e.cli import SHIPPER, read_until, run_async, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, audit_line, config_file, fake_env
from tests.integration.fake_webhook import HANG, FakeWebhook, Reply, Request, posted_seqs

SIEM = "/ingest/siemSECRETpath9"
SLACK = "/services/T0/B0/slackSECRETpath8"


def write_config(tmp_path: Path, log: Path, *, batch_max: int = 20, extra: str = "") -> Path:
    delivery = f"""retry_initial = "50ms"
retry_max = "300ms"
drain_timeout = "5s"
timeout = "2s"
batch_max = {batch_max}"""
    return config_file(
        tmp_path, log=log, delivery=delivery, channels=f"{SIEM_WEBHOOK}max_rate = 0\n{extra}"
    )


def env_for(fake: FakeWebhook) -> dict[str, str]:
    return fake_env(fake, SIEM_URL=SIEM, SLACK_URL=SLACK)


def event(i: int, action: str = "user.lock") -> bytes:
    return audit_line(i, action)


def received(requests: list[Request], path: str = SIEM) -> list[int]:
    return posted_seqs(requests, path)


# What each process logged before "started", read by ``start``; ``stop`` hands it back.
_startup_logs: dict[int, bytes] = {}


async def start(config: Path, fake: FakeWebhook, *args: str) -> asyncio.subprocess.Process:
    """Start ``shipper run`` and return once it says it has started (its signals are set)."""
    proc, seen = await start_run(config, env_for(fake), *args)
    _startup_logs[proc.pid] = seen
    return proc


async def stop(proc: asyncio.subprocess.Process, sig: signal.Signals = signal.SIGTERM) -> bytes:
    proc.send_signal(sig)
    _, rest = await asyncio.wait_for(proc.communicate(), 20)
    err = _startup_logs.pop(proc.pid, b"") + rest
    assert b"slackSECRET" not in err and b"siemSECRET" not in err
    return err


async def kill_at_random(
    config: Path, fake: FakeWebhook, kills: int, rng: random.Random, span: tuple[float, float]
) -> None:
    """Start a run and ``kill -9`` it ``kills`` times, each a random time within ``span``
    after it started (the moment of the crash, not a wait)."""
    for _ in range(kills):
        proc = await start(config, fake)
        await asyncio.sleep(rng.uniform(*span))
        proc.kill()
        await proc.wait()


async def wait_all(fake: FakeWebhook, n: int, deadline: float = 30) -> None:
    await fake.wait_for(lambda reqs: set(received(reqs)) >= set(range(n)), deadline)


async def poll(predicate: Callable[[], bool], deadline: float = 10) -> None:
    """Files offer nothing to await: check every 50 ms until true, failing at the deadline."""
    async with asyncio.timeout(deadline):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


def assert_in_order(seqs: list[int]) -> None:
    """First deliveries come in input order (a re-sent batch repeats earlier ones)."""
    firsts = list(dict.fromkeys(seqs))
    assert firsts == sorted(firsts)


async def test_appends_rename_rotation_and_copytruncate(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    config = write_config(tmp_path, log)
    proc = await start(config, fake)
    seq = 0
    with log.open("ab", buffering=0) as f:
        for _ in range(50):
            f.write(event(seq))
            seq += 1
        await wait_all(fake, seq)
        os.rename(log, tmp_path / "audit.jsonl.1")  # rename rotation; the app still writes
        for _ in range(20):
            f.write(event(seq))
            seq += 1
    with log.open("ab", buffering=0) as f:
        for _ in range(50):
            f.write(event(seq))
            seq += 1
        await wait_all(fake, seq)
        shutil.copy(log, tmp_path / "audit.jsonl.2")  # copytruncate, once caught up
        os.truncate(log, 0)
        f.seek(0)
        for _ in range(30):
            f.write(event(seq))
            seq += 1
    await wait_all(fake, seq)
    await stop(proc)
    assert proc.returncode == 0
    seqs = received(fake.requests)
    assert sorted(set(seqs)) == list(range(seq))
    assert seqs == list(range(seq)), "no duplicates, in order"


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="needs Debian's logrotate")
@pytest.mark.parametrize("mode", ["create", "copytruncate"])
async def test_real_logrotate_while_appending(tmp_path: Path, fake: FakeWebhook, mode: str) -> None:
    log = tmp_path / "audit.jsonl"
    log.touch()
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{log} {{\n  rotate 3\n  {mode}\n  missingok\n}}\n")
    config = write_config(tmp_path, log)
    proc = await start(config, fake)
    seq = 0
    for _ in range(3):
        with log.open("ab", buffering=0) as f:
            for _ in range(40):
                f.write(event(seq))
                seq += 1
        # copytruncate loses what is written between its copy and its truncate (its own
        # window); wait until the tail has caught up before rotating, as its users must.
        await wait_all(fake, seq)
        await asyncio.to_thread(
            subprocess.run,
            ["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)],
            check=True,
        )
    with log.open("ab", buffering=0) as f:
        for _ in range(40):
            f.write(event(seq))
            seq += 1
    await wait_all(fake, seq)
    await stop(proc)
    seqs = received(fake.requests)
    assert seqs == list(range(seq)), "every line once, in order"


async def test_kill_9_at_random_moments(tmp_path: Path, fake: FakeWebhook) -> None:
    total, kills, batch_max = 3000, 10, 20
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(total)))
    fake.default = Reply(204, "", delay=0.01)
    config = write_config(tmp_path, log, batch_max=batch_max)
    await kill_at_random(config, fake, kills, random.Random(7), (0.3, 1.0))
    proc = await start(config, fake)
    await wait_all(fake, total, deadline=60)
    err = await stop(proc)
    assert proc.returncode == 0, err.decode()
    seqs = received(fake.requests)
    assert set(seqs) == set(range(total)), "at least once"
    assert_in_order(seqs)
    duplicates = len(seqs) - total
    print(f"kill -9 x{kills}: {duplicates} duplicate(s) in {len(seqs)} deliveries")
    assert duplicates <= kills * batch_max, f"{duplicates} duplicates for {kills} kills"


def saved_line(position: Path) -> int:
    try:
        return int(orjson.loads(position.read_bytes())["line"])
    except (OSError, orjson.JSONDecodeError, KeyError):
        return -1


async def test_kill_between_spool_fsync_and_position_save_queues_once(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    # The crash window made by hand: the spools hold lines 51-100, the position says 50.
    log = tmp_path / "audit.jsonl"
    actions = ("user.lock", "user.login")
    log.write_bytes(b"".join(event(i, actions[i % 2]) for i in range(50)))
    second = """
[channels.locks]
kind = "webhook"
url = "${SLACK_URL}"
actions = ["user.lock"]
max_rate = 0
"""
    config = write_config(tmp_path, log, extra=second)
    fake.always(SIEM, Reply(503, "down"))
    fake.always(SLACK, Reply(503, "down"))
    position = tmp_path / "state" / "position.json"
    proc = await start(config, fake)
    await poll(lambda: saved_line(position) == 50)
    before = position.read_bytes()
    with log.open("ab") as f:
        f.write(b"".join(event(i, actions[i % 2]) for i in range(50, 100)))
    await poll(lambda: saved_line(position) == 100)
    proc.kill()
    await proc.wait()
    position.write_bytes(before)

    refused = len(fake.requests)  # every one of them answered 503
    fake.always(SIEM, Reply(204, ""))
    fake.always(SLACK, Reply(204, ""))
    proc = await start(config, fake)
    locks = list(range(0, 100, 2))
    await fake.wait_for(lambda reqs: set(received(reqs[refused:])) >= set(range(100)), 30)
    await fake.wait_for(lambda reqs: set(received(reqs[refused:], SLACK)) >= set(locks), 10)
    err = await stop(proc)
    assert proc.returncode == 0, err.decode()
    accepted = fake.requests[refused:]
    assert received(accepted) == list(range(100)), "each event once, in order"
    assert received(accepted, SLACK) == locks
    assert "lines 51 to 100 are read again" in err.decode()
    assert "siem: 50 re-read event(s) were queued before the restart" in err.decode()


async def test_webhook_down_for_seconds_then_up(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(100)))
    fake.always(SIEM, Reply(503, "down"))
    proc = await start(write_config(tmp_path, log), fake)
    await fake.wait_for(lambda reqs: len(reqs) >= 5, deadline=10)
    await asyncio.sleep(2)  # the outage lasts a while; nothing is expected meanwhile
    fake.always(SIEM, Reply(204, ""))
    await wait_all(fake, 100)
    await stop(proc)
    assert_in_order(received(fake.requests))


async def test_429_pauses_only_that_channel(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    extra = '[channels.slack]\nkind = "slack"\nurl = "${SLACK_URL}"\nmax_rate = 0\n'
    config = write_config(tmp_path, log, extra=extra)
    fake.script(SLACK, Reply(429, '{"ok":false,"error":"rate_limited"}', {"Retry-After": "2"}))
    fake.always(SLACK, Reply(200, "ok"))
    proc = await start(config, fake)
    with log.open("ab", buffering=0) as f:
        f.write(event(0))
        await fake.wait_for(lambda reqs: len([r for r in reqs if r.path == SLACK]) == 1, 10)
        for i in range(1, 6):
            f.write(event(i))
    await wait_all(fake, 6)
    await fake.wait_for(lambda reqs: len([r for r in reqs if r.path == SLACK]) >= 2, 10)
    await stop(proc)
    slack = fake.requests_to(SLACK)
    assert slack[1].time - slack[0].time >= 2.0, "no post before Retry-After is up"
    siem_done = max(r.time for r in fake.requests_to(SIEM))
    assert siem_done < slack[1].time, "the other channel went on meanwhile"


async def test_404_dead_letters_then_replay_delivers(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(5)))
    fake.always(SIEM, Reply(404, "gone"))
    config = write_config(tmp_path, log)
    proc = await start(config, fake)
    dead = tmp_path / "state" / "dead-letter" / "siem.jsonl"
    await poll(lambda: dead.exists() and len(dead.read_bytes().splitlines()) >= 5)
    record = orjson.loads(dead.read_bytes().splitlines()[0])
    assert record["channel"] == "siem" and "404" in record["reason"]
    fake.always(SIEM, Reply(204, ""))  # the webhook is fixed
    before = len(fake.requests)
    result = await asyncio.to_thread(
        subprocess.run,
        [str(SHIPPER), "replay", "siem", "-c", str(config)],
        capture_output=True,
        check=False,
        env=env_for(fake),
    )
    assert result.returncode == 0
    assert b"siem: 5 dead letter(s) queued" in result.stdout
    await fake.wait_for(lambda reqs: set(received(reqs[before:])) == set(range(5)), 10)
    await stop(proc)
    assert not dead.exists()
    nothing = await asyncio.to_thread(
        subprocess.run,
        [str(SHIPPER), "replay", "siem", "-c", str(config)],
        capture_output=True,
        check=False,
        env=env_for(fake),
    )
    assert nothing.stdout == b"siem: no dead letters\n"


async def test_torn_spool_record_and_corrupt_position(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(30)))
    fake.always(SIEM, Reply(200, "ok", delay=HANG))
    config = write_config(tmp_path, log)
    proc = await start(config, fake)
    await fake.wait_for(lambda reqs: len(reqs) >= 1, 10)
    position = tmp_path / "state" / "position.json"
    await poll(position.exists)
    proc.kill()
    await proc.wait()
    (segment,) = sorted((tmp_path / "state" / "spool" / "siem").glob("*.seg"))
    with segment.open("ab") as f:
        f.write(b'0badc0de {"line": 31, "raw": {"act')  # a write torn by the crash
    position.write_bytes(b'{"format": "shipper-position", "ver')
    fake.always(SIEM, Reply(204, ""))
    proc = await start(config, fake)
    await wait_all(fake, 30)
    err = await stop(proc)
    text = err.decode()
    assert "torn" in text or "dropped" in text, text
    assert "saved read position is unusable" in text
    seqs = received(fake.requests)
    assert set(seqs) == set(range(30))


async def test_stdin_run_killed_before_posting_is_delivered_next_run(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    config = write_config(tmp_path, tmp_path / "unused")
    config.write_text(config.read_text().replace(f'path = "{tmp_path / "unused"}"', 'path = "-"'))
    fake.always(SIEM, Reply(200, "", delay=HANG))
    proc = await start(config, fake)
    assert proc.stdin is not None
    proc.stdin.write(b"".join(event(i) for i in range(8)))
    await proc.stdin.drain()
    await fake.wait_for(lambda reqs: len(reqs) >= 1, 10)
    proc.kill()
    await proc.wait()
    fake.always(SIEM, Reply(204, ""))
    proc = await start(config, fake)
    assert proc.stdin is not None
    proc.stdin.close()
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert set(range(8)) <= set(received(fake.requests))


async def test_unwritable_state_directory_is_a_clear_error(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config = write_config(tmp_path, tmp_path / "audit.jsonl")
    config.write_text(config.read_text().replace(str(tmp_path / "state"), str(blocker / "s")))
    result = await asyncio.to_thread(
        subprocess.run,
        [str(SHIPPER), "run", "-c", str(config)],
        capture_output=True,
        check=False,
        env=env_for(fake),
        timeout=20,
    )
    assert result.returncode == 2  # a start-up error, as the spec says
    err = result.stderr.decode()
    assert f"cannot use the state directory {blocker / 's'}" in err
    assert "Traceback" not in err


async def test_disk_full_stops_reading_without_losing_the_position(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(2000)))
    config = write_config(tmp_path, log)
    fake.always(SIEM, Reply(200, "", delay=HANG))

    def small_files() -> None:  # every file this process writes stops at 16 KiB: a full disk
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))

    status, _, err = await run_async(
        "run", "-c", str(config), env=env_for(fake), deadline=30, preexec=small_files
    )
    assert status == 1
    assert b"cannot keep events on disk, reading stopped" in err
    assert b"Traceback" not in err
    fake.always(SIEM, Reply(204, ""))
    proc = await start(config, fake)  # room again: nothing was lost
    await wait_all(fake, 2000)
    await stop(proc)


async def test_a_stop_stores_every_line_it_read(tmp_path: Path, fake: FakeWebhook) -> None:
    # A catch-up: the reading thread reads and routes ahead of the store. What it read
    # before the SIGTERM is stored and its position saved, not dropped on the way.
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(200_000)))
    config = write_config(tmp_path, log, extra='spool_max_bytes = "1GiB"')
    fake.always(SIEM, Reply(200, "", delay=HANG))
    proc = await start(config, fake)
    await asyncio.sleep(0.2)  # well into the catch-up: any moment of it will do
    err = await stop(proc)
    read = re.search(rb"read (\d+) lines", err)
    assert read is not None, err.decode()
    assert saved_line(tmp_path / "state" / "position.json") == int(read.group(1))


async def test_a_stop_does_not_wait_for_room_in_a_full_backlog(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    total = 20_000  # several read chunks: the first fills the backlog, the next one waits
    log.write_bytes(b"".join(event(i) for i in range(total)))
    config = write_config(tmp_path, log, batch_max=100, extra='spool_max_bytes = "16KiB"')
    fake.always(SIEM, Reply(500, "down"))
    proc = await start(config, fake)
    await fake.wait_for(lambda reqs: len(reqs) >= 2, 10)  # retrying
    # Reading is paused: a batch read and routed waits for room in the backlog.
    _startup_logs[proc.pid] += await read_until(proc, b"siem: its backlog is full")
    err = await stop(proc)  # fails after 20 s if the stop waits for room
    assert proc.returncode == 1, err.decode()
    assert b"backlog of channel siem was full" in err
    assert b"the next run reads them again" in err
    assert saved_line(tmp_path / "state" / "position.json") < total
    failed = len(fake.requests)
    fake.always(SIEM, Reply(204, ""))
    proc = await start(config, fake)  # nothing lost: the unqueued lines are read again
    await fake.wait_for(lambda reqs: set(received(reqs[failed:])) >= set(range(total)), 60)
    await stop(proc)


async def test_a_stop_on_stdin_waits_for_a_full_backlog_only_as_long_as_a_drain(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    config = write_config(tmp_path, tmp_path / "unused", extra='spool_max_bytes = "16KiB"')
    config.write_text(config.read_text().replace(f'path = "{tmp_path / "unused"}"', 'path = "-"'))
    fake.always(SIEM, Reply(500, "down"))
    proc = await start(config, fake)
    assert proc.stdin is not None
    pipe = proc.stdin

    async def app() -> None:  # writes until shipper stops taking its output
        with contextlib.suppress(ConnectionError):
            for chunk in range(40):
                pipe.write(b"".join(event(i) for i in range(chunk * 1000, (chunk + 1) * 1000)))
                await pipe.drain()

    writing = asyncio.create_task(app())
    await fake.wait_for(lambda reqs: len(reqs) >= 2, 10)  # retrying; reading is paused
    # drain_timeout is 5 s: at most that for room, then that for the drain.
    err = await stop(proc)
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    assert proc.returncode == 1, err.decode()
    assert b"backlog of channel siem was full" in err
    assert b"they are lost" in err
    assert b"Traceback" not in err


async def test_replay_all_and_its_usage_errors(tmp_path: Path, fake: FakeWebhook) -> None:
    extra = '[channels.slack]\nkind = "slack"\nurl = "${SLACK_URL}"\n'
    config = write_config(tmp_path, tmp_path / "audit.jsonl", extra=extra)
    dead = tmp_path / "state" / "dead-letter"
    dead.mkdir(parents=True)
    record = {"channel": "x", "reason": "r", "attempts": 1, "line": 1, "event": {"seq": 0}}
    (dead / "siem.jsonl").write_bytes(orjson.dumps(record) + b"\n" + orjson.dumps(record) + b"\n")
    (dead / "slack.jsonl").write_bytes(orjson.dumps(record) + b"\n")

    def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(SHIPPER), "replay", *args, "-c", str(config)],
            capture_output=True,
            check=False,
            env=env_for(fake),
        )

    assert replay().returncode == 2, "neither a channel nor --all"
    assert replay("siem", "--all").returncode == 2, "both"
    unknown = replay("nope")
    assert unknown.returncode == 2 and b"known channels: siem, slack" in unknown.stderr
    result = await asyncio.to_thread(replay, "--all")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        b"siem: 2 dead letter(s) queued; the next or the running `shipper run` sends them",
        b"slack: 1 dead letter(s) queued; the next or the running `shipper run` sends them",
    ]
    assert not list(dead.iterdir())
    queued = sorted(p.name.split(".")[0] for p in (tmp_path / "state" / "replay").iterdir())
    assert queued == ["siem", "slack"]


async def test_input_option_and_from_beginning(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "other.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(5)))
    config = write_config(tmp_path, tmp_path / "not-this-one.jsonl")
    config.write_text(config.read_text().replace('start_at = "beginning"', 'start_at = "end"'))
    proc = await start(config, fake, "--input", str(log))
    with log.open("ab", buffering=0) as f:
        f.write(event(5))
    await fake.wait_for(lambda reqs: 5 in received(reqs), 10)
    await stop(proc)
    assert received(fake.requests) == [5], "start_at end: only what came after the start"
    saved = orjson.loads((tmp_path / "state" / "position.json").read_bytes())
    # A stop that lands while a batch is stored waits for its position to be saved.
    assert (saved["offset"], saved["line"]) == (log.stat().st_size, 6)

    proc = await start(config, fake, "--input", str(log), "--from-beginning")
    await wait_all(fake, 6)
    await stop(proc)
    assert received(fake.requests) == [5, 0, 1, 2, 3, 4, 5], "--from-beginning reads it all again"

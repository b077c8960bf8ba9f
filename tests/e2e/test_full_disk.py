"""A full state disk: the real CLI on a 2 MiB tmpfs, through an outage, restarts and kill -9.

The state directory is a tmpfs mounted for the test (root only: skipped
otherwise). The webhook is down while the backlog fills the disk, then
healthy; every event must arrive, with no more duplicates than the posts in
flight at each crash, and the dead-letter files must hold whole records only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.cli import SHIPPER, StderrWatch, clean_env, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply, Request, posted_seqs

SIEM = "/ingest/siemSECRETpath9"
TOTAL = 3000
BATCH_MAX = 20
PAD = "x" * 600  # about 1.4 KB a spool record: 3,000 of them are twice the disk
# Logged when a spool's own counts disagree with its files: never on a full disk.
CONFUSED = (b"points past the end", b"waiting event(s) but found", b"Traceback")

pytestmark = pytest.mark.timeout(400)


@contextlib.contextmanager
def small_disk(directory: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted on ``directory`` for the test; skips when mounting is not allowed."""
    directory.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 2 MiB tmpfs needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def event(i: int) -> bytes:
    return audit_line(i, pad=PAD)


def write_config(tmp_path: Path, state: Path, log: Path, give_up_after: str) -> Path:
    delivery = f"""retry_initial = "50ms"
retry_max = "200ms"
give_up_after = "{give_up_after}"
drain_timeout = "2s"
timeout = "2s"
batch_max = {BATCH_MAX}"""
    return config_file(
        tmp_path, log=log, state=state, delivery=delivery, channels=f"{SIEM_WEBHOOK}max_rate = 0"
    )


def received(requests: list[Request]) -> list[int]:
    return posted_seqs(requests, SIEM)


class Runs:
    """Starts and stops ``shipper run`` and keeps everything the runs logged."""

    def __init__(self, config: Path, fake: FakeWebhook) -> None:
        self.config = config
        self.env = clean_env({"SIEM_URL": fake.to(SIEM)})
        self.fake = fake
        self.logs = b""
        self.kills = 0
        self.watch: StderrWatch | None = None

    async def start(self) -> asyncio.subprocess.Process:
        proc, seen = await start_run(self.config, self.env)
        self.watch = StderrWatch(proc, seen)
        return proc

    async def finish(self, proc: asyncio.subprocess.Process, how: signal.Signals) -> int:
        """Send ``how`` (unless the run ended by itself); the exit status, once it ended."""
        assert self.watch is not None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(how)
        if how == signal.SIGKILL:
            self.kills += 1
        await asyncio.wait_for(proc.wait(), 60)
        self.logs += await self.watch.finish()
        assert proc.returncode is not None
        return proc.returncode

    async def until_posted(self, more: int) -> None:
        """Wait for ``more`` posts from now on."""
        goal = len(self.fake.requests) + more
        await self.fake.wait_for(lambda r: len(r) >= goal, 60)


def used(state: Path) -> int:
    st = os.statvfs(state)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def fill_the_disk_while_down(runs: Runs, state: Path) -> None:
    """The webhook is down: the backlog fills the disk, reading pauses; then restarts."""
    proc = await runs.start()
    assert runs.watch is not None
    await runs.watch.wait_for(b"No space left on device", deadline=60)
    assert used(state) > 1_000_000
    # A stop while reading is paused: what could not be stored is read again next time.
    assert await runs.finish(proc, signal.SIGTERM) == 1
    assert b"cannot keep events on disk, reading stopped" in runs.logs
    for how in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        proc = await runs.start()
        await runs.until_posted(5)
        await runs.finish(proc, how)


async def deliver_everything(runs: Runs, accepted_from: int) -> None:
    """The webhook is healthy: one run killed while posting, then one run delivers the rest."""
    proc = await runs.start()
    await runs.until_posted(3)
    await runs.finish(proc, signal.SIGKILL)
    proc = await runs.start()
    delivered = asyncio.ensure_future(
        runs.fake.wait_for(lambda r: set(received(r[accepted_from:])) >= set(range(TOTAL)), 120)
    )
    ended = asyncio.ensure_future(proc.wait())  # it must not end before that
    await asyncio.wait([delivered, ended], return_when=asyncio.FIRST_COMPLETED)
    ended.cancel()
    if delivered.done():
        await delivered
        assert runs.watch is not None
        if b"reading paused" in runs.watch.text:  # the lines that did not fit are stored too
            await runs.watch.wait_for(b"room again in the state directory: reading goes on")
    else:
        delivered.cancel()
    assert await runs.finish(proc, signal.SIGTERM) == 0, runs.logs.decode()


async def test_a_full_disk_through_an_outage_and_restarts_loses_and_repeats_nothing(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(TOTAL)))
    with small_disk(tmp_path / "state") as state:
        runs = Runs(write_config(tmp_path, state, log, "24h"), fake)
        fake.always(SIEM, Reply(500, "down"))
        await fill_the_disk_while_down(runs, state)
        refused, kills_while_down = len(fake.requests), runs.kills
        fake.always(SIEM, Reply(204, ""))
        await deliver_everything(runs, refused)
        text = runs.logs.decode()
        for needle in CONFUSED:
            assert needle not in runs.logs, text
        assert b"siemSECRET" not in runs.logs
        seqs = received(fake.requests[refused:])
        assert set(seqs) == set(range(TOTAL)), "every event arrives"
        # The bound: a kill -9 while the webhook takes events can repeat the one post in
        # flight (a worker posts one batch at a time, so BATCH_MAX events); a kill while it
        # refuses them has nothing accepted in flight; a stop by SIGTERM or by the full disk
        # drains first and repeats nothing. Before the fix: 4x every event, or more.
        kills = runs.kills - kills_while_down
        duplicates = len(seqs) - TOTAL
        print(f"full disk: {duplicates} duplicate(s) in {len(seqs)} deliveries, {kills} kill(s)")
        assert duplicates <= kills * BATCH_MAX, text


def dead_letters(state: Path) -> list[bytes]:
    path = state / "dead-letter" / "siem.jsonl"
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def assert_whole_records(lines: list[bytes]) -> set[int]:
    """Every line a whole dead letter; their seqs."""
    seqs = set()
    for line in lines:
        assert line.endswith(b"\n"), f"a torn dead letter: {line[:80]!r}"
        seqs.add(orjson.loads(line)["event"]["seq"])
    return seqs


async def test_dead_letters_on_a_full_disk_stay_whole_and_replay_counts_them(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    total = 1000
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(event(i) for i in range(total)))
    with small_disk(tmp_path / "state") as state:
        # Something else takes most of the disk; dead letters and the backlog fill the rest.
        ballast = state / "ballast"
        ballast.write_bytes(b"\0" * 1_200_000)
        config = write_config(tmp_path, state, log, "100ms")
        config.write_text(config.read_text().replace("batch_max = 20", "batch_max = 7"))
        runs = Runs(config, fake)
        fake.always(SIEM, Reply(500, "down"))
        proc = await runs.start()
        assert runs.watch is not None
        needle = b"could not write dead letters (No space left on device)"
        await runs.watch.wait_for(needle, 3, deadline=60)
        await runs.finish(proc, signal.SIGTERM)
        for how in (signal.SIGKILL, signal.SIGTERM):
            proc = await runs.start()
            await runs.until_posted(5)
            await runs.finish(proc, how)
        dead = assert_whole_records(dead_letters(state))
        assert dead, "some events were dead-lettered"

        ballast.unlink()  # the operator makes room, and the webhook is fixed
        refused = len(fake.requests)
        fake.always(SIEM, Reply(204, ""))
        replay = await asyncio.to_thread(
            subprocess.run,
            [str(SHIPPER), "replay", "siem", "-c", str(config)],
            capture_output=True,
            check=False,
            env=runs.env,
        )
        assert replay.returncode == 0, replay.stderr.decode()
        (moved,) = (state / "replay").iterdir()
        records = moved.read_bytes().splitlines(keepends=True)
        assert_whole_records(records)
        count = f"siem: {len(records)} dead letter(s) queued".encode()
        assert replay.stdout.startswith(count), replay.stdout

        proc = await runs.start()
        await fake.wait_for(lambda r: set(received(r[refused:])) >= set(range(total)), 60)
        await runs.finish(proc, signal.SIGTERM)
        text = runs.logs.decode()
        for needle in CONFUSED:
            assert needle not in runs.logs, text
        assert not dead_letters(state), "every dead letter was replayed"
        assert not list((state / "replay").iterdir()), "and taken in once"
        seqs = received(fake.requests[refused:])
        # A kill -9 can repeat a dead-letter write whose acknowledgement it cut short,
        # at most one batch (7 events): each such event is then delivered twice.
        duplicates = len(seqs) - total
        print(f"dead letters: {len(records)} replayed, {duplicates} duplicate(s)")
        assert duplicates <= runs.kills * 7, text

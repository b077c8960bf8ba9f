"""Hostile operations through the real CLI: a flood of connections to ``[metrics] listen``,
a slowloris client, a ``listen`` that is not loopback, the exit status of a run that
dead-lettered events, and ``route``'s summary of suppressed warnings.

Each test runs ``shipper`` in a subprocess against a fake webhook on 127.0.0.1 and waits on
what the webhook received or what the process logged, with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson

from tests.e2e.cli import (
    StderrWatch,
    clean_env,
    free_port,
    read_until,
    run_async,
    shipper,
    spawn,
    stop_watched,
)
from tests.e2e.inputs import SIEM_WEBHOOK, audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply, Request, posted_seqs
from tests.support.files import append
from tests.support.waiting import poll_until

SIEM = "/ingest/siemSECRETpath7"
# What the run may keep open: far fewer than the flood below.
OPEN_FILES = 256
FLOOD = 1000


def write_config(tmp_path: Path, log: Path, extra: str = "") -> Path:
    delivery = f"""retry_initial = "50ms"
retry_max = "200ms"
drain_timeout = "3s"
timeout = "2s"
max_rate = 0
{extra}"""
    return config_file(tmp_path, log=log, delivery=delivery, channels=SIEM_WEBHOOK)


def event(seq: int, action: str = "user.lock") -> bytes:
    return audit_line(seq, action)


def received(requests: list[Request]) -> set[int]:
    return set(posted_seqs(requests))


def has_all(seqs: range) -> Callable[[list[Request]], bool]:
    return lambda requests: set(seqs) <= received(requests)


def few_open_files() -> None:
    """In the child, before exec: a low open-files limit, soft and hard (the fix may raise the
    soft limit to the hard one; here there is nothing above it)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


async def start(
    config: Path, env: dict[str, str], preexec: Callable[[], None] | None = None
) -> tuple[asyncio.subprocess.Process, StderrWatch]:
    proc = await spawn(
        "run",
        "-c",
        str(config),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        preexec=preexec,
    )
    seen = await read_until(proc, b"started: reading", deadline=20)
    return proc, StderrWatch(proc, seen)


async def stop(proc: asyncio.subprocess.Process, watch: StderrWatch) -> tuple[int, bytes]:
    """SIGTERM, then the exit status and everything logged."""
    status, err = await stop_watched(proc, watch)
    assert b"siemSECRETpath7" not in err
    return status, err


async def healthz(port: int) -> int | None:
    """The status of ``GET /healthz`` on a fresh connection; ``None`` if it got no answer."""
    timeout = aiohttp.ClientTimeout(total=2)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def open_idle(port: int, count: int, opened: list[socket.socket]) -> None:
    """Open ``count`` connections that never send a byte, 64 at a time, into ``opened``
    (every socket made goes there, so the caller closes them all)."""
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(64)

    async def connect() -> bool:
        async with slots:
            sock = socket.socket()
            sock.setblocking(False)
            opened.append(sock)
            try:
                # A SYN dropped on a full accept queue is sent again after 1, 3, 7, 15 s.
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 30)
            except (OSError, TimeoutError):
                return False
            return True

    connected = await asyncio.gather(*(connect() for _ in range(count)))
    never = connected.count(False)
    assert never == 0, f"{never} connection(s) were never accepted"


def server_side_connections(port: int) -> int:
    """Established TCP connections whose local end is ``port``: the server's side, accepted or
    waiting in its accept queue. (A client whose last handshake packet was dropped on a full
    queue may believe itself connected forever: the server never had it.)"""
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local_port, state = int(fields[1].rsplit(":", 1)[1], 16), fields[3]
        count += local_port == port and state == "01"
    return count


async def test_a_connection_flood_on_the_metrics_port_starves_nothing(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    port = free_port()
    log = tmp_path / "audit.jsonl"
    config = write_config(tmp_path, log, f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    env = clean_env({"SIEM_URL": fake.to(SIEM)})
    proc, watch = await start(config, env, few_open_files)
    flood: list[socket.socket] = []
    try:
        append(log, *(event(i) for i in range(10)))
        await fake.wait_for(has_all(range(10)), 10)
        flooding = asyncio.create_task(open_idle(port, FLOOD, flood))
        # Events keep flowing while the flood goes on: reading, spooling and posting all
        # need file descriptors.
        for start_seq in range(10, 210, 20):
            append(log, *(event(i) for i in range(start_seq, start_seq + 20)))
            await fake.wait_for(has_all(range(start_seq + 20)), 20)
            assert proc.returncode is None, watch.text.decode()
        await asyncio.wait_for(flooding, 120)

        async def answers() -> bool:
            return await healthz(port) == 200

        await poll_until(answers, 30)

        async def all_dropped() -> bool:
            return server_side_connections(port) == 0

        # The server closes every idle connection in the end; it keeps none forever.
        await poll_until(all_dropped, 40)
        assert await healthz(port) == 200
        assert proc.returncode is None, watch.text.decode()
    finally:
        for sock in flood:
            sock.close()
    status, err = await stop(proc, watch)
    assert status == 0, err.decode()[-3000:]
    assert received(fake.requests) == set(range(210))
    assert b"Traceback" not in err
    assert b"out of system resource" not in err
    assert len(err) < 100_000, "a flood must not flood the log"


async def test_a_slowloris_client_is_cut_off_while_probes_are_answered(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    port = free_port()
    log = tmp_path / "audit.jsonl"
    config = write_config(tmp_path, log, f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    proc, watch = await start(config, clean_env({"SIEM_URL": fake.to(SIEM)}))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drip() -> None:
        # A request whose headers never end: one more byte a second.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        while True:
            await asyncio.sleep(1)
            writer.write(b"X")
            await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        assert await healthz(port) == 200, "a fresh probe is answered meanwhile"
        async with asyncio.timeout(40):
            with contextlib.suppress(ConnectionError):
                assert await reader.read() == b"", "no answer to headers that never end"
        append(log, event(1))
        await fake.wait_for(has_all(range(1, 2)), 10)
    finally:
        dripping.cancel()
        await asyncio.gather(dripping, return_exceptions=True)
        writer.close()
    status, err = await stop(proc, watch)
    assert status == 0, err.decode()
    assert b"Traceback" not in err


def test_a_listen_address_that_is_not_loopback_is_warned_about(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails, after the warning.
    config = tmp_path / "c.toml"
    config.write_text(
        f'[source]\nstate_dir = "{tmp_path / "state"}"\n'
        '[metrics]\nlisten = "192.0.2.1:9816"\n'
        '[channels.a]\nkind = "webhook"\nurl = "https://x.example.com/SECRET"\n'
    )
    result = shipper("run", "-c", str(config), env=clean_env())
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "metrics.listen: 192.0.2.1:9816 is not a loopback address" in err
    assert "metrics.listen: cannot serve on 192.0.2.1:9816" in err
    assert "Traceback" not in err


def test_a_loopback_listen_address_is_not_warned_about(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(
        f'[source]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
        '[channels.a]\nkind = "webhook"\nurl = "http://127.0.0.1:9/SECRET"\n'
    )
    result = shipper("run", "-c", str(config), env=clean_env(), stdin=b"")
    assert result.returncode == 0, result.stderr.decode()
    assert "loopback" not in result.stderr.decode()


# --- the exit status of a run that dead-lettered events ---------------------------------------


def stdin_config(tmp_path: Path, fake: FakeWebhook) -> Path:
    config = tmp_path / "shipper.toml"
    config.write_text(f"""
[source]
state_dir = "{tmp_path / "state"}"
[delivery]
retry_initial = "50ms"
retry_max = "100ms"
drain_timeout = "5s"
max_rate = 0
[channels.siem]
kind = "webhook"
url = "{fake.to(SIEM)}"
""")
    return config


async def run_stdin(config: Path, lines: bytes) -> tuple[int, str]:
    status, _, err = await run_async(
        "run", "-c", str(config), env=clean_env(), stdin=lines, deadline=30
    )
    return status, err.decode()


async def test_run_exits_3_when_it_dead_lettered_and_delivered_the_rest(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    config = stdin_config(tmp_path, fake)
    fake.script(SIEM, Reply(404, "no such hook"))  # the first post is refused for good
    status, err = await run_stdin(config, event(1))
    assert status == 3, err
    assert "dead-lettered 1 event(s)" in err
    fake.always(SIEM, Reply(204, ""))
    status, err = await run_stdin(config, event(2) + event(3))
    assert status == 0, f"nothing dead-lettered in this run: {err}"
    assert received(fake.requests[1:]) == {2, 3}


async def test_undelivered_work_outranks_dead_letters(tmp_path: Path, fake: FakeWebhook) -> None:
    config = stdin_config(tmp_path, fake)
    text = config.read_text().replace('"5s"', '"1s"')
    config.write_text(text.replace("max_rate = 0", "max_rate = 0\nbatch_max = 1"))
    fake.script(SIEM, Reply(404, "no such hook"))
    fake.always(SIEM, Reply(503, "down"))
    status, err = await run_stdin(config, event(1) + event(2))
    assert status == 1, err
    assert "dead-lettered" in err and "not delivered yet" in err


def test_run_help_lists_the_exit_statuses() -> None:
    result = shipper("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.decode().split())
    assert "Exit status: 0 everything delivered 1 work left queued for the next run" in text
    assert " 2 config, usage or start-up error " in text
    assert "3 the rest delivered, but some events were dead-lettered" in text


# --- route's summary of suppressed warnings --------------------------------------------------


def test_route_summarises_suppressed_warnings_like_run(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[channels.a]\nkind = "webhook"\nurl = "${NOPE}"\n')
    lines = b"not json\n" * 50 + b'{"action": "a", "severity": "high"}\n'
    for args in ((), ("--stats",)):
        result = shipper("route", "-c", str(config), *args, stdin=lines, env=clean_env())
        assert result.returncode == 0, result.stderr
        err = result.stderr.decode()
        assert err.count("skipped: not valid JSON") == 10 + 1, "ten lines, then the summary"
        assert "40 similar message(s) suppressed" in err
        assert "the last one: line 50 skipped: not valid JSON" in err
    assert result.stdout


def test_route_summary_goes_to_stderr_only(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[channels.a]\nkind = "webhook"\nurl = "${NOPE}"\n')
    lines = b"not json\n" * 20 + b'{"action": "a", "severity": "high"}\n'
    result = shipper("route", "-c", str(config), stdin=lines, env=clean_env())
    assert result.returncode == 0
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert out == [{"line": 21, "action": "a", "severity": "high", "channels": ["a"]}]
    assert b"suppressed" in result.stderr

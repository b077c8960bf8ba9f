"""Operating the real CLI: systemd notify, reload on SIGHUP, /metrics and /healthz, log limits.

Each test runs ``shipper run`` in a subprocess tailing a file, against a fake
webhook on 127.0.0.1, and waits on what the webhook received, what the
process logged or what it sent to a notify socket the test binds, always
with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import StderrWatch, clean_env, free_port, shipper, stop_watched
from tests.e2e.cli import start_watched as start
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply, Request, posted_seqs
from tests.support.files import append
from tests.support.waiting import get, poll_until

SIEM = "/ingest/siemSECRETpath5"
AUDIT = "/ingest/auditSECRETpath6"
SECRETS = (b"siemSECRETpath5", b"auditSECRETpath6")


class NotifySocket:
    """The service manager's end of ``$NOTIFY_SOCKET``: a datagram socket bound in a test dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.setblocking(False)
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self._socket, 4096)
            async with self._changed:
                self.messages.append(data.decode())
                self._changed.notify_all()

    def count(self, line: str) -> int:
        return sum(line in m.split("\n") for m in self.messages)

    async def wait_for(self, line: str, count: int = 1, deadline: float = 10) -> None:
        try:
            async with asyncio.timeout(deadline), self._changed:
                await self._changed.wait_for(lambda: self.count(line) >= count)
        except TimeoutError:
            raise AssertionError(f"{line} not received {count}x: {self.messages}") from None

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._socket.close()


def write_config(tmp_path: Path, log: Path, channels: str, extra: str = "") -> Path:
    delivery = f"""retry_initial = "50ms"
retry_max = "200ms"
drain_timeout = "3s"
timeout = "2s"
max_rate = 0
{extra}"""
    return config_file(tmp_path, log=log, delivery=delivery, channels=channels)


def channel(name: str, var: str, min_severity: str = "debug") -> str:
    return f"""
[channels.{name}]
kind = "webhook"
url = "${{{var}}}"
min_severity = "{min_severity}"
"""


def env_for(fake: FakeWebhook, **extra: str) -> dict[str, str]:
    return clean_env({"SIEM_URL": fake.to(SIEM), "AUDIT_URL": fake.to(AUDIT), **extra})


def event(seq: int, severity: str = "high") -> bytes:
    return audit_line(seq, severity=severity)


def received(requests: list[Request], path: str) -> list[int]:
    return posted_seqs(requests, path)


def has(path: str, *seqs: int) -> Callable[[list[Request]], bool]:
    return lambda requests: set(seqs) <= set(received(requests, path))


async def stop(proc: asyncio.subprocess.Process, watch: StderrWatch) -> bytes:
    _, err = await stop_watched(proc, watch)
    assert not any(secret in err for secret in SECRETS)
    return err


async def test_notify_ready_watchdog_and_stopping(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(event(0))  # read before the start? start_at = "end" says no
    config = write_config(tmp_path, log, channel("siem", "SIEM_URL"))
    config.write_text(config.read_text().replace('"beginning"', '"end"'))
    notify = NotifySocket(tmp_path / "notify.sock")
    env = env_for(fake, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="200000")
    try:
        proc, watch = await start(config, env)
        await notify.wait_for("READY=1")
        # READY means the file is open: a line appended now is read, the older one is not.
        append(log, event(1))
        await fake.wait_for(has(SIEM, 1))
        await notify.wait_for("WATCHDOG=1", count=3, deadline=5)
        assert notify.count("STOPPING=1") == 0
        err = await stop(proc, watch)
        await notify.wait_for("STOPPING=1")
    finally:
        await notify.close()
    assert proc.returncode == 0, err.decode()
    assert received(fake.requests, SIEM) == [1]
    ready = next(i for i, m in enumerate(notify.messages) if "READY=1" in m.split("\n"))
    stopping = next(i for i, m in enumerate(notify.messages) if "STOPPING=1" in m.split("\n"))
    assert ready < stopping


async def test_reload_applies_a_new_threshold_and_adds_a_channel(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    config = write_config(tmp_path, log, channel("siem", "SIEM_URL", "high"))
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        proc, watch = await start(config, env_for(fake, NOTIFY_SOCKET=str(notify.path)))
        append(log, event(1, "medium"), event(2, "high"))
        await fake.wait_for(has(SIEM, 2))
        await notify.wait_for("READY=1")

        config.write_text(
            config.read_text().replace('"high"', '"medium"') + channel("audit", "AUDIT_URL")
        )
        proc.send_signal(signal.SIGHUP)
        await watch.wait_for(b"reloaded ")
        await notify.wait_for("RELOADING=1")
        await notify.wait_for("READY=1", count=2)
        append(log, event(3, "medium"), event(4, "low"))
        await fake.wait_for(lambda r: has(SIEM, 3)(r) and has(AUDIT, 3, 4)(r))
        err = await stop(proc, watch)
    finally:
        await notify.close()
    assert proc.returncode == 0, err.decode()
    assert received(fake.requests, SIEM) == [2, 3], "line 1 was routed before the reload"
    assert received(fake.requests, AUDIT) == [3, 4], "an added channel takes lines read after"
    assert b"added audit" in err and b"rerouted siem" in err


async def test_reload_removes_a_channel_and_keeps_its_backlog(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.always(AUDIT, Reply(503, "down"))
    log = tmp_path / "audit.jsonl"
    channels = channel("siem", "SIEM_URL") + channel("audit", "AUDIT_URL")
    config = write_config(tmp_path, log, channels)
    proc, watch = await start(config, env_for(fake))
    append(log, event(1), event(2))
    await fake.wait_for(has(SIEM, 1, 2))
    await fake.wait_for(lambda _: len(fake.requests_to(AUDIT)) >= 2)

    config.write_text(config.read_text().replace(channel("audit", "AUDIT_URL"), ""))
    proc.send_signal(signal.SIGHUP)
    await watch.wait_for(b"reloaded ")
    append(log, event(3))
    await fake.wait_for(has(SIEM, 3))
    err = await stop(proc, watch)
    assert proc.returncode == 0, err.decode()
    spool = tmp_path / "state" / "spool" / "audit"
    assert b"channel audit was removed: its backlog (2 event(s)) stays on disk in" in err
    assert str(spool).encode() in err

    # The backlog waited on disk: the channel, back and healthy, delivers it.
    fake.always(AUDIT, Reply(204, ""))
    config.write_text(config.read_text() + channel("audit", "AUDIT_URL"))
    proc, watch = await start(config, env_for(fake))
    await fake.wait_for(has(AUDIT, 1, 2))
    await stop(proc, watch)
    assert 3 not in received(fake.requests, AUDIT), "line 3 was read while it was removed"


async def test_reload_refuses_a_broken_config(tmp_path: Path, fake: FakeWebhook) -> None:
    log = tmp_path / "audit.jsonl"
    config = write_config(tmp_path, log, channel("siem", "SIEM_URL", "high"))
    good = config.read_text()
    proc, watch = await start(config, env_for(fake))
    config.write_text(
        good.replace('"high"', '"urgent"') + '[channels.x]\nkind = "pager"\nurl = "${NOPE}"\n'
    )
    proc.send_signal(signal.SIGHUP)
    await watch.wait_for(b"reload refused")
    append(log, event(1, "medium"), event(2, "high"))
    await fake.wait_for(has(SIEM, 2))
    err = await stop(proc, watch)
    assert proc.returncode == 0, err.decode()
    assert received(fake.requests, SIEM) == [2], "the old threshold still applies"
    text = err.decode()
    assert 'channels.siem.min_severity: unknown severity "urgent"' in text
    assert 'channels.x.kind: unknown kind "pager"' in text
    assert "channels.x.url: environment variable NOPE is not set" in text
    assert "the running config stays" in text


async def test_reload_moves_a_changed_channel_and_the_metrics_server(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.always(SIEM, Reply(503, "down"))
    log = tmp_path / "audit.jsonl"
    old_port, new_port = free_port(), free_port()
    metrics = f'[metrics]\nlisten = "127.0.0.1:{old_port}"\n'
    config = write_config(tmp_path, log, channel("siem", "SIEM_URL"), metrics)
    proc, watch = await start(config, env_for(fake))
    append(log, event(1), event(2))
    await fake.wait_for(lambda _: len(fake.requests_to(SIEM)) >= 2)
    assert (await get(f"http://127.0.0.1:{old_port}/healthz"))[0] == 200

    config.write_text(
        config.read_text()
        .replace("${SIEM_URL}", "${AUDIT_URL}")
        .replace(str(old_port), str(new_port))
    )
    proc.send_signal(signal.SIGHUP)
    await watch.wait_for(b"reloaded ")
    await fake.wait_for(has(AUDIT, 1, 2))

    async def recovered() -> bool:
        status, body = await get(f"http://127.0.0.1:{new_port}/healthz")
        return status == 200 and orjson.loads(body)["channels"]["siem"]["status"] == "ok"

    await poll_until(recovered)
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"http://127.0.0.1:{old_port}/healthz")
    err = await stop(proc, watch)
    assert proc.returncode == 0, err.decode()
    assert b"changed siem" in err
    assert received(fake.requests, AUDIT) == [1, 2], "the backlog went to the new URL, once"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_and_healthz_while_a_channel_fails_and_after(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.always(AUDIT, Reply(500, "boom"))
    port = free_port()
    log = tmp_path / "audit.jsonl"
    channels = channel("siem", "SIEM_URL") + channel("audit", "AUDIT_URL")
    metrics = f'[metrics]\nlisten = "127.0.0.1:{port}"\nunhealthy_after = "300ms"\n'
    config = write_config(tmp_path, log, channels, metrics)
    proc, watch = await start(config, env_for(fake))
    base = f"http://127.0.0.1:{port}"
    append(log, event(1), b"not json\n", event(2))
    await fake.wait_for(has(SIEM, 1, 2))

    async def failing() -> dict[str, Any] | None:
        status, body = await get(f"{base}/healthz")
        assert not any(secret in body for secret in SECRETS)
        return orjson.loads(body) if status == 503 else None

    health = await poll_until(failing)
    assert await get(f"{base}/livez") == (200, b'{"status": "alive"}'), (
        "a dead webhook is not a dead process"
    )

    async def scrape_once_siem_settled() -> dict[Any, float] | None:
        scraped = samples((await get(f"{base}/metrics"))[1].decode())
        delivered = scraped[("shipper_events_delivered_total", (("channel", "siem"),))]
        return scraped if delivered == 2 else None

    scraped = await poll_until(scrape_once_siem_settled)
    assert health["status"] == "failing"
    assert health["source"]["state"] == "reading"
    assert health["channels"]["siem"]["status"] == "ok"
    audit = health["channels"]["audit"]
    assert audit["status"] == "failing" and audit["failing_since"]
    assert "The webhook answered 500 boom" in audit["reason"]
    assert audit["backlog"] == 2

    status, body = await get(f"{base}/metrics")
    assert status == 200
    assert not any(secret in body for secret in SECRETS)
    assert scraped[("shipper_build_info", (("version", "0.1.0"),))] == 1
    assert scraped[("shipper_lines_read_total", ())] == 3
    assert scraped[("shipper_lines_rejected_total", (("reason", "invalid_json"),))] == 1
    assert scraped[("shipper_events_matched_total", (("channel", "audit"),))] == 2
    assert scraped[("shipper_events_delivered_total", (("channel", "siem"),))] == 2
    assert scraped[("shipper_events_delivered_total", (("channel", "audit"),))] == 0
    http_5xx = (("channel", "audit"), ("reason", "http_5xx"))
    assert scraped[("shipper_delivery_failures_total", http_5xx)] >= 1
    assert scraped[("shipper_delivery_retries_total", (("channel", "audit"),))] >= 1
    assert scraped[("shipper_backlog_events", (("channel", "audit"),))] == 2
    assert scraped[("shipper_backlog_bytes", (("channel", "audit"),))] > 0
    assert scraped[("shipper_channel_failing_seconds", (("channel", "audit"),))] > 0

    fake.always(AUDIT, Reply(204, ""))

    async def healthy() -> dict[str, Any] | None:
        status, body = await get(f"{base}/healthz")
        settled = status == 200 and orjson.loads(body)["channels"]["audit"]["backlog"] == 0
        return orjson.loads(body) if settled else None

    health = await poll_until(healthy)
    assert health["status"] == "ok"
    assert health["channels"]["audit"] == {
        **health["channels"]["audit"],
        "status": "ok",
        "failing_since": None,
        "reason": None,
        "backlog": 0,
    }
    scraped = samples((await get(f"{base}/metrics"))[1].decode())
    assert scraped[("shipper_events_delivered_total", (("channel", "audit"),))] == 2
    assert scraped[("shipper_seconds_since_last_success", (("channel", "audit"),))] < 10
    err = await stop(proc, watch)
    assert proc.returncode == 0, err.decode()


def test_a_metrics_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.toml"
        config.write_text(
            f'[source]\nstate_dir = "{tmp_path / "state"}"\n'
            f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
            '[channels.a]\nkind = "webhook"\nurl = "https://x.example.com/SECRET"\n'
        )
        result = shipper("run", "-c", str(config), env=clean_env())
    assert result.returncode == 2
    assert f"metrics.listen: cannot serve on 127.0.0.1:{port}" in result.stderr.decode()


def test_repeated_warnings_are_summarised(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[channels.a]\nkind = "webhook"\nurl = "https://x.example.com/SECRET"\n')
    lines = b"not json\n" * 50 + b'{"action": "a", "severity": "high"}\n'
    result = shipper("run", "-c", str(config), "--dry-run", stdin=lines, env=clean_env())
    assert result.returncode == 0
    err = result.stderr.decode()
    assert err.count("skipped: not valid JSON") == 10 + 1, "ten lines, then the summary"
    assert "40 similar message(s) suppressed" in err
    assert "the last one: line 50 skipped: not valid JSON" in err
    assert len(result.stdout.splitlines()) == 1

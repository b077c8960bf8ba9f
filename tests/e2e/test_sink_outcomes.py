"""``shipper run`` and ``shipper test`` through the CLI: a post that gets no answer in time
and one that cannot connect are told apart by their type, all the way to ``/metrics``.

A fake webhook on 127.0.0.1 that never answers, and a port nothing listens on.
The poster reports them as ``TimedOut`` and ``Unreachable``; the metric's
``reason`` label is read from that type, not from the words of the log line.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import StderrWatch, clean_env, free_port, shipper, start_run
from tests.integration.fake_webhook import HANG, FakeWebhook, Reply

SLOW = "/slow/slowSECRETpath1"
DEADLINE = 20.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook(Reply(204, "")) as server:
        server.always(SLOW, Reply(delay=HANG))
        yield server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(tmp_path: Path, source: str, metrics_port: int) -> Path:
    config = tmp_path / "shipper.toml"
    config.write_text(f"""
[source]
path = "{source}"
start_at = "beginning"
state_dir = "{tmp_path / "state"}"

[delivery]
timeout = "300ms"
retry_initial = "50ms"
retry_max = "200ms"
drain_timeout = "1s"
max_rate = 0

[metrics]
listen = "127.0.0.1:{metrics_port}"

[channels.slow]
kind = "webhook"
url = "${{SLOW_URL}}"

[channels.gone]
kind = "webhook"
url = "${{GONE_URL}}"
""")
    return config


async def failures(port: int) -> dict[tuple[str, str], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = (await response.read()).decode()
    return {
        (s.labels["channel"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "shipper_delivery_failures_total"
    }


async def test_timeouts_and_refused_connections_are_counted_by_type(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(orjson.dumps({"action": "user.lock", "severity": "high"}) + b"\n")
    port = free_port()
    config = write_config(tmp_path, str(log), port)
    env = clean_env(
        {"SLOW_URL": fake.to(SLOW), "GONE_URL": f"http://127.0.0.1:{closed_port()}/gone"}
    )
    proc, seen = await start_run(config, env)
    watch = StderrWatch(proc, seen)
    try:
        await watch.wait_for(b"did not answer within 0.3s", deadline=DEADLINE)
        await watch.wait_for(b"could not reach 127.0.0.1: connection refused", deadline=DEADLINE)
        counted = await failures(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), DEADLINE)
        err = await watch.finish()
    assert counted[("slow", "timeout")] >= 1 and counted[("slow", "connection")] == 0
    assert counted[("gone", "connection")] >= 1 and counted[("gone", "timeout")] == 0
    assert proc.returncode == 1, "undelivered work is left for the next run"
    assert b"slowSECRETpath1" not in err


def test_shipper_test_says_which_it_was(tmp_path: Path) -> None:
    config = write_config(tmp_path, "-", free_port())
    env = clean_env({"SLOW_URL": "http://127.0.0.1:9/x", "GONE_URL": "http://127.0.0.1:9/x"})
    env["GONE_URL"] = f"http://127.0.0.1:{closed_port()}/gone"
    done = shipper("test", "gone", "-c", str(config), env=env)
    assert done.returncode == 1
    assert b"could not reach 127.0.0.1: connection refused" in done.stdout + done.stderr

"""``webhook`` ``headers`` through the installed CLI: sent with every post, and secret.

A collector that echoes the header it refused (as many do, "invalid API key
...") must not make shipper show it: not on stderr, in dead letters, on
``/metrics`` or ``/healthz``, in ``shipper test`` or ``check``. A header that
could smuggle another one (a line break in a value) or break the request
(``Content-Length``) is refused at load, by name, without showing the value.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.e2e.cli import StderrWatch, clean_env, free_port, run_async, shipper, start_run
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply, posted_seqs
from tests.support.waiting import get

AUTH = "Bearer hdrS3cretBearer0a9f"
KEY = "k3yS3cretValue77"
DELIVERY = 'retry_initial = "50ms"\nretry_max = "200ms"\ndrain_timeout = "10s"\ntimeout = "2s"'
CHANNEL = """[channels.collector]
kind = "webhook"
url = "${COLLECTOR_URL}"
[channels.collector.headers]
Authorization = "${COLLECTOR_AUTH}"
X-Api-Key = "${COLLECTOR_KEY}"
X-Source = "shipper"
"""


def env_for(fake: FakeWebhook, **extra: str) -> dict[str, str]:
    values = {"COLLECTOR_URL": fake.to("/in"), "COLLECTOR_AUTH": AUTH, "COLLECTOR_KEY": KEY}
    return clean_env({**values, **extra})


def assert_hidden(where: str, text: bytes | str) -> None:
    shown = text.decode(errors="replace") if isinstance(text, bytes) else text
    for secret in ("hdrS3cretBearer0a9f", KEY):
        assert secret not in shown, f"{where} shows a header value: {shown[:2000]}"


async def test_every_post_carries_the_headers(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL)
    async with FakeWebhook(Reply(204, "")) as fake:
        data = b"".join(audit_line(n) for n in range(30))
        status, out, err = await run_async("run", "-c", str(config), env=env_for(fake), stdin=data)
    assert status == 0, err.decode()
    assert posted_seqs(fake.requests) == list(range(30))
    for request in fake.requests:
        assert request.headers["Authorization"] == AUTH
        assert request.headers["X-Api-Key"] == KEY
        assert request.headers["X-Source"] == "shipper"
        assert request.headers["Content-Type"] == "application/json"
    assert_hidden("stdout", out)
    assert_hidden("stderr", err)


async def test_a_collector_that_echoes_the_header_shows_it_nowhere(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(audit_line(1) + audit_line(2))
    port = free_port()
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL, log=log)
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    echo = f"401 invalid credentials: Authorization: {AUTH}, X-Api-Key: {KEY}"
    async with FakeWebhook(Reply(401, echo)) as fake:
        env = env_for(fake)
        proc, seen = await start_run(config, env, "--log-format", "json")
        watch = StderrWatch(proc, seen)
        await watch.wait_for(b"dead-lettered", count=1, deadline=20)
        _, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        _, health = await get(f"http://127.0.0.1:{port}/healthz")
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        err = await watch.finish()
        tested = await asyncio.to_thread(shipper, "test", "collector", "-c", str(config), env=env)
        checked = await asyncio.to_thread(shipper, "check", "-c", str(config), env=env)
        dry = await asyncio.to_thread(
            shipper,
            "run",
            "-c",
            str(config),
            "--dry-run",
            "--input",
            "-",
            stdin=audit_line(3),
            env=env,
        )
    assert all(r.headers["Authorization"] == AUTH for r in fake.requests)
    letters = (tmp_path / "state" / "dead-letter" / "collector.jsonl").read_text()
    assert "401" in letters
    assert tested.returncode == 1 and b"401" in tested.stdout
    shown: dict[str, bytes | str] = {
        "stderr": err,
        "dead letters": letters,
        "/metrics": metrics,
        "/healthz": health,
        "test": tested.stdout + tested.stderr,
        "check": checked.stdout + checked.stderr,
        "dry run": dry.stdout + dry.stderr,
    }
    for where, text in shown.items():
        assert_hidden(where, text)


def test_headers_that_could_smuggle_or_break_a_request_are_refused_by_name(
    tmp_path: Path,
) -> None:
    channel = """[channels.collector]
kind = "webhook"
url = "https://collector.example/in"
[channels.collector.headers]
X-Api-Key = "${COLLECTOR_KEY}"
Content-Length = "1"
"bad name" = "x"
Host = "evil.example"
X-Count = 3
"""
    config = config_file(tmp_path, delivery=DELIVERY, channels=channel)
    env = clean_env({"COLLECTOR_KEY": f"{KEY}\r\nX-Injected: yes"})
    checked = shipper("check", "-c", str(config), env=env)
    assert checked.returncode == 2
    err = checked.stderr.decode()
    assert "channels.collector.headers.X-Api-Key: the value holds a line break" in err
    assert "channels.collector.headers.Content-Length: shipper sets this header itself" in err
    assert "channels.collector.headers.Host: shipper sets this header itself" in err
    assert 'channels.collector.headers: "bad name" is not a header name' in err
    assert "channels.collector.headers.X-Count: must be a string" in err
    assert "Traceback" not in err and "evil.example" not in err
    assert_hidden("check", checked.stdout + checked.stderr)

"""The Splunk token against a HEC that quotes it back, through the installed CLI.

Some proxies in front of HEC quote the ``Authorization`` header they refused.
The token may then reach shipper in an answer, but never goes further: not to
stderr (text or JSON logs), dead letters, ``/metrics``, ``/healthz``, ``shipper
test`` or ``shipper check``.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.e2e.cli import StderrWatch, clean_env, free_port, shipper, start_run
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_hec import FakeHec
from tests.support.waiting import get

TOKEN = "5ec7e70c-aaaa-4bbb-8ccc-d0d0d0d0d0d0"
PIECES = (TOKEN, "5ec7e70c", "d0d0d0d0d0d0")
DELIVERY = 'retry_initial = "50ms"\nretry_max = "200ms"\ndrain_timeout = "10s"\ntimeout = "2s"'


def assert_hidden(where: str, text: bytes | str) -> None:
    shown = (text.decode(errors="replace") if isinstance(text, bytes) else text).lower()
    assert not [p for p in PIECES if p in shown], f"{where} shows the token: {shown[:2000]}"


async def test_a_hec_that_quotes_the_token_makes_shipper_show_it_nowhere(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(audit_line(1) + audit_line(2))
    port = free_port()
    channel = '[channels.siem]\nkind = "splunk"\nurl = "${HEC_URL}"\ntoken = "${HEC_TOKEN}"\n'
    config = config_file(tmp_path, delivery=DELIVERY, channels=channel, log=log)
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    async with FakeHec(token="another-token") as hec:
        hec.echo_auth = True
        env = clean_env({"HEC_URL": hec.url, "HEC_TOKEN": TOKEN})
        proc, seen = await start_run(config, env, "--log-format", "json")
        watch = StderrWatch(proc, seen)
        await watch.wait_for(b"dead-lettered", deadline=20)
        _, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        _, health = await get(f"http://127.0.0.1:{port}/healthz")
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        err = await watch.finish()
        tested = await asyncio.to_thread(shipper, "test", "siem", "-c", str(config), env=env)
        checked = await asyncio.to_thread(shipper, "check", "-c", str(config), env=env)
    assert TOKEN in hec.requests[0].answer["text"], "the fake did quote it"
    letters = (tmp_path / "state" / "dead-letter" / "siem.jsonl").read_text()
    assert "Invalid token" in letters and "(code 4)" in letters
    assert tested.returncode == 1 and b"Invalid token" in tested.stdout
    shown: dict[str, bytes | str] = {
        "stderr": err,
        "dead letters": letters,
        "/metrics": metrics,
        "/healthz": health,
        "test": tested.stdout + tested.stderr,
        "check": checked.stdout + checked.stderr,
    }
    for where, text in shown.items():
        assert_hidden(where, text)

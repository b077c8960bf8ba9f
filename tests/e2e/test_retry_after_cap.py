"""Through the real CLI: a ``429 Retry-After: 999999`` waits ``retry_after_max``, with a warning.

Before the cap, such an answer parked the channel for eleven days.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson

from tests.e2e.cli import StderrWatch, clean_env, shipper, start_run
from tests.e2e.inputs import SIEM_WEBHOOK, config_file
from tests.integration.fake_webhook import FakeWebhook, Reply

HOOK = "/ingest/siemRetryS3cret"


def write_config(tmp_path: Path, channel_extra: str = "") -> Path:
    delivery = 'retry_initial = "50ms"\ndrain_timeout = "5s"\nmax_rate = 0'
    return config_file(
        tmp_path,
        log=tmp_path / "audit.jsonl",
        delivery=delivery,
        channels=SIEM_WEBHOOK + channel_extra,
    )


async def test_run_waits_retry_after_max_and_warns_naming_the_channel(
    tmp_path: Path, fake: FakeWebhook
) -> None:
    fake.script(HOOK, Reply(429, "slow down", {"Retry-After": "999999"}))
    config = write_config(tmp_path, 'retry_after_max = "1s"')
    event = orjson.dumps({"action": "user.lock", "severity": "high", "seq": 1})
    (tmp_path / "audit.jsonl").write_bytes(event + b"\n")
    proc, seen = await start_run(config, clean_env({"SIEM_URL": fake.to(HOOK)}))
    watch = StderrWatch(proc, seen)
    try:
        await fake.wait_for(lambda requests: len(requests) == 2, deadline=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    err = (await watch.finish()).decode()
    assert proc.returncode == 0, err
    assert (
        "channel siem: the endpoint asked to wait 999999s before the next try; "
        "waiting 1s instead (retry_after_max)"
    ) in err
    assert "retrying after 1s (retry_after_max), not the 999999s asked for" in err
    assert "siemRetryS3cret" not in err


async def test_shipper_test_reports_the_capped_wait(tmp_path: Path, fake: FakeWebhook) -> None:
    fake.script(HOOK, Reply(429, "slow down", {"Retry-After": "999999"}))
    config = write_config(tmp_path)
    env = clean_env({"SIEM_URL": fake.to(HOOK)})
    result = await asyncio.to_thread(shipper, "test", "siem", "-c", str(config), env=env)
    assert result.returncode == 1
    assert result.stdout.decode() == (
        "siem: The webhook answered 429 slow down: rate limited, "
        "retrying after 3600s (retry_after_max), not the 999999s asked for\n"
    )

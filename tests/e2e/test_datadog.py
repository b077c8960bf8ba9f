"""The datadog kind through the real CLI against a fake intake on 127.0.0.1: ``run`` with
3,000 events, a late event warned about and counted in /metrics, ``test``, ``check``, and
an API key that never shows anywhere."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from tests.e2e.cli import clean_env, free_port, run_async, shipper, start_watched, stop_watched
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_datadog import API_KEY, FakeDatadog
from tests.support.waiting import get, poll_until

CHANNEL = '[channels.dd]\nkind = "datadog"\napi_key = "${DD_API_KEY}"\nurl = "${DD_URL}"\n'
DELIVERY = 'retry_initial = "10ms"\nretry_max = "50ms"\n'


def env(fake: FakeDatadog, key: str = API_KEY) -> dict[str, str]:
    return clean_env({"DD_API_KEY": key, "DD_URL": fake.intake_url})


async def test_3000_events_reach_datadog_complete_in_order_within_its_limits(
    tmp_path: Path,
) -> None:
    lines = b"".join(audit_line(n, timestamp=time.time() - 60, pad="x" * 2000) for n in range(3000))
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL + 'tags = ["env:e2e"]\n')
    async with FakeDatadog() as fake:
        code, _, err = await run_async("run", "-c", str(config), env=env(fake), stdin=lines)
    assert code == 0, err.decode()
    assert [log["seq"] for log in fake.logs] == list(range(3000))
    assert all(
        i.gzipped and i.raw_bytes <= 5_000_000 and len(i.logs) <= 1000 for i in fake.accepted
    )
    assert not fake.cut and not fake.refused
    assert {log["ddtags"] for log in fake.logs} == {"env:e2e"}
    assert {log["status"] for log in fake.logs} == {"error"}
    assert API_KEY.encode() not in err


async def test_a_late_event_is_kept_warned_about_once_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    old = time.time() - 30 * 3600
    log.write_bytes(b"".join(audit_line(n, timestamp=old) for n in range(3)) + audit_line(3))
    port = free_port()
    config = config_file(
        tmp_path,
        delivery=DELIVERY,
        channels=CHANNEL,
        log=log,
        source="",
    )
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    async with FakeDatadog() as fake:
        proc, watch = await start_watched(config, env(fake))
        await fake.wait_for(lambda: len(fake.logs) == 4, 20)

        async def late_metric() -> bytes | None:
            _, body = await get(f"http://127.0.0.1:{port}/metrics")
            return body if b'shipper_events_late_total{channel="dd"} 3.0' in body else None

        await poll_until(late_metric, 20)
        code, err = await stop_watched(proc, watch)
    assert code == 0, err.decode()
    assert [entry.get("original_timestamp") for entry in fake.logs] == [
        round(old * 1000),
        round(old * 1000),
        round(old * 1000),
        None,
    ]
    assert err.count(b"Datadog would drop") == 1, err.decode()


async def test_test_reports_the_answer_in_plain_words(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL)
    wrong = "ffffffffffffffffffffffffffffffff"
    async with FakeDatadog() as fake:
        code, out, err = await run_async("test", "dd", "-c", str(config), env=env(fake))
        assert code == 0, err.decode()
        assert out.decode().startswith("dd: Datadog answered 202")
        (log,) = fake.logs
        assert log["action"] == "shipper.test" and log["hostname"]
        code, out, err = await run_async("test", "dd", "-c", str(config), env=env(fake, wrong))
    assert code == 1
    assert "Datadog answered 403 Forbidden: API key is invalid" in out.decode()
    assert "an API key, not an application key" in out.decode()
    assert wrong.encode() not in out + err and b"Traceback" not in err


def test_check_validates_the_keys_offline(tmp_path: Path) -> None:
    channels = '[channels.dd]\nkind = "datadog"\napi_key = "${DD_API_KEY}"\nsite = "datadoghq.eu"\n'
    config = config_file(tmp_path, delivery="", channels=channels)
    done = shipper("check", "-c", str(config), env=clean_env({"DD_API_KEY": API_KEY}))
    assert done.returncode == 0, done.stderr.decode()
    assert b"dd: kind=datadog" in done.stdout and b"batch_max=500" in done.stdout
    bad = config_file(tmp_path, delivery="", channels=channels.replace(".eu", ".con"))
    done = shipper("check", "-c", str(bad), env=clean_env({"DD_API_KEY": API_KEY}))
    assert done.returncode == 2
    assert b'channels.dd.site: unknown Datadog site "datadoghq.con"' in done.stderr
    assert API_KEY.encode() not in done.stdout + done.stderr and b"Traceback" not in done.stderr


async def test_the_api_key_never_shows_in_a_failing_run(tmp_path: Path) -> None:
    key = "abcdefabcdefabcdefabcdefabcdef12"
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(audit_line(n) for n in range(5)))
    port = free_port()
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL, log=log)
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    async with FakeDatadog() as fake:
        fake.api_key = key[::-1]  # refuses ours, quoting it back
        fake.echo_key = True
        proc, watch = await start_watched(config, env(fake, key))
        await watch.wait_for(b"dead-lettered", 1, 20)
        _, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        _, health = await get(f"http://127.0.0.1:{port}/healthz")
        code, err = await stop_watched(proc, watch)
    assert code == 3, err.decode()
    dead = (tmp_path / "state" / "dead-letter" / "dd.jsonl").read_bytes()
    assert [orjson.loads(line)["event"]["seq"] for line in dead.splitlines()] == list(range(5))
    for where, text in (("stderr", err), ("metrics", metrics), ("healthz", health), ("dead", dead)):
        assert key.encode() not in text, where
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


async def test_an_event_over_1_mb_is_dead_lettered_whole_and_the_rest_sent(tmp_path: Path) -> None:
    lines = audit_line(1) + audit_line(2, pad="q" * 1_000_000) + audit_line(3)
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL)
    async with FakeDatadog() as fake:
        code, _, err = await run_async("run", "-c", str(config), env=env(fake), stdin=lines)
    assert code == 3, err.decode()
    assert [log["seq"] for log in fake.logs] == [1, 3] and not fake.cut
    dead = (tmp_path / "state" / "dead-letter" / "dd.jsonl").read_bytes()
    (letter,) = [orjson.loads(line) for line in dead.splitlines()]
    assert letter["event"]["seq"] == 2 and len(letter["event"]["pad"]) == 1_000_000
    assert "over Datadog's limit of 1,000,000 bytes a log" in letter["reason"]

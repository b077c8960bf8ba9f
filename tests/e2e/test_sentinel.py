"""The sentinel kind through the real CLI against fakes of Entra ID and the Logs Ingestion
API on 127.0.0.1: ``run`` with 3,000 events while tokens expire, ``test`` (a token failure
in plain words), ``check``, and a client secret and access token that never show."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.cli import clean_env, free_port, run_async, shipper, start_watched, stop_watched
from tests.e2e.inputs import audit_line, config_file
from tests.integration.fake_azure import CLIENT, DCR, SECRET, STREAM, TENANT, FakeAzure
from tests.support.waiting import get, poll_until

CHANNEL = f"""[channels.sec]
kind = "sentinel"
url = "${{AZ_URL}}"
authority = "${{AZ_URL}}"
dcr_id = "{DCR}"
stream = "{STREAM}"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret = "${{AZ_SECRET}}"
"""
DELIVERY = 'retry_initial = "10ms"\nretry_max = "50ms"\n'


def env(fake: FakeAzure, secret: str = SECRET) -> dict[str, str]:
    return clean_env({"AZ_URL": fake.url, "AZ_SECRET": secret})


async def test_3000_events_reach_sentinel_in_order_while_tokens_expire(tmp_path: Path) -> None:
    lines = b"".join(
        audit_line(n, timestamp="2026-11-30T12:00:00Z", pad="y" * 1500) for n in range(3000)
    )
    config = config_file(tmp_path, delivery=DELIVERY + "batch_max = 100\n", channels=CHANNEL)
    async with FakeAzure(uses=4) as fake:  # a token is refused after four calls: mid-run
        code, _, err = await run_async("run", "-c", str(config), env=env(fake), stdin=lines)
    assert code == 0, err.decode()
    assert [row["Event"]["seq"] for row in fake.rows] == list(range(3000))
    assert all(c.raw_bytes <= 1_000_000 and c.wire_bytes <= 1_048_576 for c in fake.calls)
    assert fake.refused.count(401) >= 3 and len(fake.issued) >= 4
    assert {row["TimeGenerated"] for row in fake.rows} == {"2026-11-30T12:00:00Z"}
    assert not (tmp_path / "state" / "dead-letter" / "sec.jsonl").exists()
    assert SECRET.encode() not in err
    assert not any(token.encode() in err for token in fake.issued)


async def test_test_reports_success_and_a_token_failure_in_plain_words(tmp_path: Path) -> None:
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL)
    wrong = "Wrong~Secret.Value-1234"
    async with FakeAzure() as fake:
        code, out, err = await run_async("test", "sec", "-c", str(config), env=env(fake))
        assert code == 0, err.decode()
        assert out.decode().startswith("sec: Azure Monitor answered 204")
        (row,) = fake.rows
        assert row["Action"] == "shipper.test"
        code, out, err = await run_async("test", "sec", "-c", str(config), env=env(fake, wrong))
    assert code == 1
    assert (
        "Microsoft Entra ID refused the token request (401 AADSTS7000215): the client secret is "
        "wrong" in out.decode()
    )
    assert wrong.encode() not in out + err and b"Traceback" not in err


def test_check_validates_the_keys_offline(tmp_path: Path) -> None:
    environ = clean_env(
        {"AZ_URL": "https://dce.eastus-1.ingest.monitor.azure.com", "AZ_SECRET": SECRET}
    )
    config = config_file(tmp_path, delivery="", channels=CHANNEL)
    done = shipper("check", "-c", str(config), env=environ)
    assert done.returncode == 0, done.stderr.decode()
    assert b"sec: kind=sentinel" in done.stdout and b"batch_max=500" in done.stdout
    bad = config_file(
        tmp_path,
        delivery="",
        channels=CHANNEL.replace(DCR, "00112233")
        .replace(CLIENT, "my-app")
        .replace(STREAM, "Shipper"),
    )
    done = shipper("check", "-c", str(bad), env=environ)
    assert done.returncode == 2
    for key in (b"dcr_id", b"stream", b"client_id"):
        assert b"channels.sec." + key + b": must be" in done.stderr
    assert SECRET.encode() not in done.stdout + done.stderr and b"Traceback" not in done.stderr


async def test_the_secret_and_the_token_never_show_in_a_failing_run(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"".join(audit_line(n) for n in range(5)))
    port = free_port()
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL, log=log)
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    async with FakeAzure() as fake:
        fake.echo_auth = True
        proc, watch = await start_watched(config, env(fake))
        await watch.wait_for(b"dead-lettered", 1, 20)
        _, metrics = await get(f"http://127.0.0.1:{port}/metrics")
        _, health = await get(f"http://127.0.0.1:{port}/healthz")
        code, err = await stop_watched(proc, watch)
        tokens = fake.issued
    assert code == 3, err.decode()
    assert b"Azure Monitor answered 400 InvalidPayload: refused for Bearer" in err
    dead = (tmp_path / "state" / "dead-letter" / "sec.jsonl").read_bytes()
    assert [orjson.loads(line)["event"]["seq"] for line in dead.splitlines()] == list(range(5))
    state = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    for secret in (SECRET, *tokens):
        for where, text in (
            ("stderr", err),
            ("metrics", metrics),
            ("healthz", health),
            ("state", state),
        ):
            assert secret.encode() not in text, (where, secret)


async def test_a_value_azure_cuts_is_sent_whole_and_counted_in_metrics(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(audit_line(1) + audit_line(2, pad="c" * 70_000))
    port = free_port()
    config = config_file(tmp_path, delivery=DELIVERY, channels=CHANNEL, log=log)
    config.write_text(config.read_text() + f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    async with FakeAzure() as fake:
        proc, watch = await start_watched(config, env(fake))
        await fake.wait_for(lambda: len(fake.rows) == 2, 20)

        async def cut_metric() -> bytes | None:
            _, body = await get(f"http://127.0.0.1:{port}/metrics")
            return body if b'shipper_events_cut_total{channel="sec"} 1.0' in body else None

        await poll_until(cut_metric, 20)
        code, err = await stop_watched(proc, watch)
    assert code == 0, err.decode()
    assert len(fake.rows[1]["Event"]["pad"]) == 70_000
    assert err.count(b"Azure Monitor cuts short") == 1, err.decode()

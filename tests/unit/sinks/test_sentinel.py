"""The sentinel kind, pure: its config, its rows, its 1 MB a call, and its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.config.model import ChannelConfig, Config
from shipper.config.severity import Severity
from shipper.errors import ConfigError
from shipper.sinks.answers import Answer, Delivered, GiveUp, Retry
from shipper.sinks.sentinel import (
    REQUEST_BYTES,
    SENTINEL,
    SentinelSettings,
    render_sentinel,
    token_scope,
    token_url,
)
from shipper.sinks.sentinel_answers import Token, read_token_answer
from tests.support.alerts import make_alert
from tests.support.config import load_config

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-aaaaaaaaaaaa"
SECRET = "s3cr3t~Azure.Client_Secret-9f2c"
DCR = "dcr-00112233445566778899aabbccddeeff"
URL = "https://my-dce-5kyl.eastus-1.ingest.monitor.azure.com"
NOW = 1_800_000_000.0
KEYS = (
    f'url = "{URL}"\ndcr_id = "{DCR}"\nstream = "Custom-ShipperAudit_CL"\n'
    f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\nclient_secret = "${{AZ_SECRET}}"\n'
)


def channel(url: str = URL) -> ChannelConfig:
    settings = SentinelSettings(DCR, "Custom-ShipperAudit_CL", TENANT, CLIENT, SECRET)
    return ChannelConfig("sec", "sentinel", url, settings=settings)


def load(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(f'[channels.sec]\nkind = "sentinel"\n{body}')
    return load_config(path, {"AZ_SECRET": SECRET})


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    return caught.value.problems


def test_the_config_takes_its_keys_and_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, KEYS)
    (sec,) = config.channels
    assert sec.settings == SentinelSettings(
        DCR, "Custom-ShipperAudit_CL", TENANT, CLIENT, SECRET, "https://login.microsoftonline.com"
    )
    assert (sec.delivery.batch_max, sec.delivery.max_rate) == (500, None)
    assert SENTINEL.limits.flood_control.limit == 0
    assert not config.warnings
    assert render_sentinel(sec, [make_alert()]).url == (
        f"{URL}/dataCollectionRules/{DCR}/streams/Custom-ShipperAudit_CL?api-version=2023-01-01"
    )
    assert (
        token_url(sec.settings) == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    )


def test_bad_keys_are_named_and_the_secret_never_shown(tmp_path: Path) -> None:
    body = (
        f'url = "{URL}"\ndcr_id = "00112233"\nstream = "ShipperAudit_CL"\n'
        f'tenant_id = "not a tenant"\nclient_id = "app"\nclient_secret = "${{AZ_SECRET}}"\n'
        'authority = "http://login.example"\n'
    )
    found = "\n".join(problems(tmp_path, body))
    assert 'channels.sec.dcr_id: must be the DCR\'s immutable id, "dcr-" and 32 hex digits' in found
    assert 'channels.sec.stream: must be the DCR\'s input stream, "Custom-"' in found
    assert "channels.sec.tenant_id: must be the Directory (tenant) ID" in found
    assert "channels.sec.client_id: must be the app's Application (client) ID" in found
    assert "channels.sec.authority: must use https://" in found
    assert SECRET not in found
    missing = problems(tmp_path, f'url = "{URL}"\n')
    assert "channels.sec.client_secret: missing; sentinel channels need it" in missing
    assert "channels.sec.dcr_id: missing; sentinel channels need it" in missing


def test_a_secret_written_in_the_file_is_a_warning_that_does_not_show_it(tmp_path: Path) -> None:
    config = load(tmp_path, KEYS.replace("${AZ_SECRET}", SECRET))
    assert any("client_secret: is written in the config file" in w for w in config.warnings)
    assert SECRET not in "\n".join(config.warnings)


def test_a_row_has_the_stream_columns() -> None:
    raw = {"action": "login.failed", "user": "alice", "context": {"ip": "10.0.0.1"}}
    alert = make_alert(
        raw=raw,
        action="login.failed",
        actor="alice",
        status="failure",
        severity=Severity.HIGH,
        timestamp="2026-11-30T13:00:00.5+01:00",
        facts=(("ip", "10.0.0.1"),),
    )
    kept = make_alert(3, timestamp="2026-11-30T12:00:00.25Z")
    rendered = render_sentinel(channel(), [alert, make_alert(2, timestamp=None), kept])
    first, second, third = rendered.payload
    assert first == {
        "TimeGenerated": "2026-11-30T12:00:00.500Z",
        "Action": "login.failed",
        "Severity": "high",
        "Actor": "alice",
        "Status": "failure",
        "Context": {"ip": "10.0.0.1"},
        "Event": raw,
    }
    assert "TimeGenerated" not in second  # its arrival time is added as it leaves
    assert third["TimeGenerated"] == "2026-11-30T12:00:00.25Z"  # already ISO 8601 UTC
    assert rendered.gzip and rendered.count == 3 and rendered.headers == ()


def test_a_call_keeps_1_mb_by_covering_fewer_and_refuses_a_row_over_it() -> None:
    alerts = [make_alert(n, pad="x" * 300_000) for n in range(10)]
    rendered = render_sentinel(channel(), alerts)
    assert rendered.count == 3 and len(orjson.dumps(rendered.payload)) <= REQUEST_BYTES
    huge = render_sentinel(channel(), [make_alert(1, pad="y" * REQUEST_BYTES), *alerts])
    assert huge.count == 1 and huge.refused is not None
    assert "over Azure's limit of 1,000,000 bytes a call" in huge.refused


def test_the_scope_follows_the_cloud_of_the_endpoint() -> None:
    assert token_scope(channel()) == "https://monitor.azure.com//.default"
    assert token_scope(channel("https://x.usgovvirginia-1.ingest.monitor.azure.us")) == (
        "https://monitor.azure.us//.default"
    )


def answer(status: int, body: Any = "", **headers: str) -> Answer:
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    return Answer(status, text, headers)


def azure_error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "words"}}


def test_ingestion_answers() -> None:
    read = SENTINEL.read_answer
    sec = channel()
    assert isinstance(read(sec, answer(204), now=NOW), Delivered)
    role = read(sec, answer(403, azure_error("Code")), now=NOW)
    assert isinstance(role, Retry) and role.after == 60.0, "a role grant takes time to apply"
    assert "Monitoring Metrics Publisher" in role.reason
    for status, words in [
        (404, "dcr_id"),
        (400, "stream's columns"),
        (413, "1 MB"),
        (401, "same cloud"),
    ]:
        outcome = read(sec, answer(status, azure_error("Code")), now=NOW)
        assert isinstance(outcome, GiveUp) and words in outcome.reason, outcome
        assert "Code: words" in outcome.reason
    limited = read(sec, answer(429, azure_error("TooMany"), **{"Retry-After": "12"}), now=NOW)
    assert isinstance(limited, Retry) and limited.after == 12.0
    assert isinstance(read(sec, answer(503), now=NOW), Retry)


def aad(status: int, code: int, words: str) -> Answer:
    return answer(
        status,
        {
            "error": "invalid_client",
            "error_description": f"AADSTS{code}: {words}",
            "error_codes": [code],
        },
    )


def test_token_answers_say_the_fix() -> None:
    def read(a: Answer) -> object:
        return read_token_answer(a, now=NOW, retry_after_max=3600.0)

    assert read(answer(200, {"access_token": "t", "expires_in": 3599})) == Token("t", 3599.0)
    assert read(answer(200, {"access_token": "t", "expires_in": "60"})) == Token("t", 60.0)
    assert read(answer(200, {"access_token": "t"})) == Token("t", 3600.0)
    for bad in ("", "t\r\nX-Injected: 1", "t t", 7):
        refused = read(answer(200, {"access_token": bad, "expires_in": 60}))
        assert isinstance(refused, GiveUp) and "without a usable access token" in refused.reason
    for status, code, words in [
        (401, 7000215, "client_secret must be the secret's Value"),
        (401, 7000222, "has expired"),
        (400, 700016, "check client_id"),
        (400, 90002, "check tenant_id"),
        (400, 123456, "Something else entirely"),
    ]:
        outcome = read(aad(status, code, "Something else entirely."))
        assert isinstance(outcome, GiveUp), outcome
        assert (
            f"Microsoft Entra ID refused the token request ({status} AADSTS{code})"
            in outcome.reason
        )
        assert words in outcome.reason
    assert isinstance(read(answer(503, "")), Retry)
    slow = read(answer(429, "", **{"Retry-After": "5"}))
    assert isinstance(slow, Retry) and slow.after == 5.0
    odd = read(answer(404, "not here"))
    assert isinstance(odd, GiveUp) and odd.reason.startswith("the token request failed: ")


def test_the_client_secret_is_the_secret() -> None:
    assert SENTINEL.secrets(channel()).values == (SECRET,)
    assert SENTINEL.secret_keys == {"client_secret"}

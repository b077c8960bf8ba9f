"""The datadog kind, pure: its config, its logs, its limits and its answers."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.config.model import ChannelConfig, Config
from shipper.config.severity import Severity
from shipper.errors import ConfigError
from shipper.sinks import SINKS
from shipper.sinks.answers import Answer, Delivered, GiveUp, Retry
from shipper.sinks.datadog import (
    DATADOG,
    LOG_BYTES,
    REQUEST_BYTES,
    finish_logs,
    render_datadog,
)
from shipper.sinks.datadog_keys import DatadogSettings
from tests.support.alerts import make_alert
from tests.support.config import load_config

KEY = "0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def channel(**settings: Any) -> ChannelConfig:
    return ChannelConfig("dd", "datadog", None, settings=DatadogSettings(KEY, **settings))


def load(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(f'[channels.dd]\nkind = "datadog"\n{body}')
    return load_config(path, {"DD_API_KEY": KEY})


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    return caught.value.problems


def test_the_config_takes_its_keys_and_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'api_key = "${DD_API_KEY}"\nsite = "datadoghq.eu"\nservice = "gateway"\n'
        'tags = ["env:prod", "team:sec"]\n',
    )
    (dd,) = config.channels
    assert dd.settings == DatadogSettings(
        KEY, "datadoghq.eu", "gateway", "shipper", ("env:prod", "team:sec")
    )
    assert (dd.delivery.batch_max, dd.delivery.max_rate) == (500, None)
    assert SINKS["datadog"].limits.flood_control.limit == 0
    assert (
        render_datadog(dd, [make_alert()]).url
        == "https://http-intake.logs.datadoghq.eu/api/v2/logs"
    )
    assert not config.warnings


def test_bad_keys_are_named_and_the_key_never_shown(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        'api_key = "${DD_API_KEY}"\nsite = "app.datadoghq.eu"\ntags = ["a,b"]\n'
        'url = "http://intake.example/api/v2/logs"\n',
    )
    joined = "\n".join(found)
    assert "channels.dd.site: give either site or url, not both" in joined
    assert (
        'channels.dd.site: unknown Datadog site "app.datadoghq.eu" '
        '(for app.datadoghq.eu write "datadoghq.eu")' in joined
    )
    assert 'channels.dd.tags: "a,b" is not a Datadog tag' in joined
    assert "channels.dd.url: must use https://" in joined
    assert KEY not in joined
    missing = problems(tmp_path, 'site = "datadoghq.com"\n')
    assert missing == ["channels.dd.api_key: missing; datadog channels need it"]


def test_an_unset_key_is_an_error_when_posting_and_a_warning_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[channels.dd]\nkind = "datadog"\napi_key = "${NOPE}"\n')
    with pytest.raises(
        ConfigError, match=r"channels\.dd\.api_key: environment variable NOPE is not set"
    ):
        load_config(path, {})
    config = load_config(path, {}, posts=False)
    assert config.channels[0].settings.api_key is None
    assert render_datadog(config.channels[0], [make_alert()]).headers == ()


def test_a_key_written_in_the_file_is_a_warning_that_does_not_show_it(tmp_path: Path) -> None:
    config = load(tmp_path, f'api_key = "{KEY}"\n')
    assert any("channels.dd.api_key: is written in the config file" in w for w in config.warnings)
    assert KEY not in "\n".join(config.warnings)


def test_a_log_has_the_reserved_fields_and_the_event_as_attributes() -> None:
    raw = {
        "action": "login.failed",
        "user": "alice",
        "status": "failure",
        "timestamp": "2026-11-30T12:00:00Z",
        "host": "evil",
        "context": {"ip": "10.0.0.1"},
    }
    alert = make_alert(
        raw=raw,
        action="login.failed",
        actor="alice",
        status="failure",
        severity=Severity.MEDIUM,
        timestamp="2026-11-30T12:00:00Z",
    )
    rendered = render_datadog(channel(service="gw", tags=("env:prod",)), [alert])
    (log,) = rendered.payload
    assert log == {
        "action": "login.failed",
        "user": "alice",
        "context": {"ip": "10.0.0.1"},
        "event": {"status": "failure", "timestamp": "2026-11-30T12:00:00Z", "host": "evil"},
        "message": "login.failed by alice: failure",
        "ddsource": "shipper",
        "ddtags": "env:prod",
        "service": "gw",
        "status": "warning",
        "timestamp": 1_796_040_000_000,
    }
    assert rendered.headers == (("DD-API-KEY", KEY),)
    assert rendered.gzip and rendered.count == 1 and rendered.refused is None


@pytest.mark.parametrize(
    ("severity", "status"),
    [
        (Severity.DEBUG, "debug"),
        (Severity.INFO, "info"),
        (Severity.LOW, "notice"),
        (Severity.MEDIUM, "warning"),
        (Severity.HIGH, "error"),
        (Severity.CRITICAL, "critical"),
    ],
)
def test_the_severity_becomes_a_datadog_status(severity: Severity, status: str) -> None:
    (log,) = render_datadog(channel(), [make_alert(severity=severity)]).payload
    assert log["status"] == status


@pytest.mark.parametrize(
    ("shown", "ms"),
    [
        ("1796040000", 1_796_040_000_000),
        ("1796040000123", 1_796_040_000_123),
        ("2026-11-30T13:00:00+01:00", 1_796_040_000_000),
        ("2026-11-30 12:00:00", 1_796_040_000_000),
        ("yesterday", None),
        (None, None),
        ("1e400", None),
    ],
)
def test_the_timestamp_is_epoch_milliseconds_or_left_to_datadog(
    shown: str | None, ms: int | None
) -> None:
    (log,) = render_datadog(channel(), [make_alert(timestamp=shown)]).payload
    assert log.get("timestamp") == ms


def test_a_request_keeps_5_mb_and_1000_logs_by_covering_fewer() -> None:
    big = [make_alert(n, pad="x" * 400_000) for n in range(30)]
    rendered = render_datadog(channel(), big)
    size = len(orjson.dumps(rendered.payload))
    assert 0 < rendered.count < 30 and size <= REQUEST_BYTES
    assert [log["n"] for log in rendered.payload] == list(range(rendered.count))
    many = render_datadog(channel(), [make_alert(n) for n in range(1500)])
    assert many.count == 1000


def test_a_log_over_1_mb_is_refused_whole_never_cut() -> None:
    huge = make_alert(1, pad="y" * LOG_BYTES)
    rendered = render_datadog(channel(), [huge, make_alert(2)])
    assert rendered.count == 1 and rendered.refused is not None
    assert "over Datadog's limit of 1,000,000 bytes a log" in rendered.refused
    before = render_datadog(channel(), [make_alert(0), huge])
    assert before.count == 1 and before.refused is None  # the big one goes first next time


def test_late_logs_are_sent_with_the_time_of_sending_and_their_own_kept() -> None:
    now_ms = round(NOW * 1000)
    logs: list[dict[str, Any]] = [
        {"timestamp": now_ms - 19 * 3600_000},
        {"timestamp": now_ms - 3600_000},
        {"timestamp": now_ms + 3 * 3600_000},
        {"message": "no time"},
    ]
    sent, late = finish_logs(logs, now=NOW, hostname="h1")
    assert late == 2
    assert [s.get("timestamp") for s in sent] == [now_ms, now_ms - 3600_000, now_ms, None]
    assert [s.get("original_timestamp") for s in sent] == [
        logs[0]["timestamp"],
        None,
        logs[2]["timestamp"],
        None,
    ]
    assert all(s["hostname"] == "h1" for s in sent)
    assert "hostname" not in logs[0], "the rendered logs are left as they were"


def answer(status: int, body: str = "", **headers: str) -> Answer:
    return Answer(status, body, headers)


def test_answers_202_delivers_and_errors_say_the_fix() -> None:
    read = DATADOG.read_answer
    dd = channel()
    assert isinstance(read(dd, answer(202, "{}"), now=NOW), Delivered)
    forbidden = read(
        dd,
        answer(
            403, '{"errors":[{"status":"403","title":"Forbidden","detail":"API key is invalid"}]}'
        ),
        now=NOW,
    )
    assert isinstance(forbidden, GiveUp) and forbidden.status == 403
    assert (
        "Forbidden: API key is invalid" in forbidden.reason
        and "application key" in forbidden.reason
    )
    assert isinstance(read(dd, answer(400), now=NOW), GiveUp)
    assert isinstance(read(dd, answer(401), now=NOW), GiveUp)
    assert isinstance(read(dd, answer(413), now=NOW), GiveUp)
    for status in (408, 500, 503):
        assert isinstance(read(dd, answer(status), now=NOW), Retry)
    limited = read(dd, answer(429, "", **{"X-RateLimit-Reset": "7"}), now=NOW)
    assert isinstance(limited, Retry) and limited.after == 7.0
    told = read(dd, answer(429, "", **{"Retry-After": "3", "X-RateLimit-Reset": "7"}), now=NOW)
    assert isinstance(told, Retry) and told.after == 3.0


def test_the_api_key_is_the_secret() -> None:
    assert DATADOG.secrets(channel()).values == (KEY,)
    assert DATADOG.secret_keys == {"api_key"}


def test_the_body_is_gzipped_json_on_the_wire() -> None:
    from shipper.delivery.poster import encode_body

    rendered = render_datadog(channel(), [make_alert(1), make_alert(2)])
    assert orjson.loads(gzip.decompress(encode_body(rendered))) == rendered.payload

"""Event fields that once slipped past a kind's rendering: a timestamp past datetime's range,
a date Datadog would date the log by, tag characters behind a flag."""

from __future__ import annotations

from pathlib import Path

from shipper.sinks.datadog import datadog_log
from shipper.sinks.datadog_keys import DatadogSettings
from shipper.sinks.escape import reveal
from shipper.sinks.slack_app import status_line
from tests.support.alerts import make_alert
from tests.support.config import load_config


def test_a_timestamp_past_datetimes_range_is_shown_as_written() -> None:
    for stamp in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        alert = make_alert(1, status="approved", actor="al", timestamp=stamp)
        assert stamp[:10] in status_line(alert)  # before: OverflowError, the event unposted


def test_an_events_own_date_fields_go_under_event() -> None:
    raw = {"action": "x", "date": "2000-01-01T00:00:00Z", "eventTime": "1999", "_timestamp": 1}
    log = datadog_log(make_alert(1, raw=raw), DatadogSettings(api_key="k"))
    assert not {"date", "eventTime", "_timestamp"} & log.keys()
    assert log["event"]["date"] == "2000-01-01T00:00:00Z"


def test_only_real_subdivision_flags_keep_their_tags() -> None:
    def tags(text: str) -> str:
        return "".join(chr(0xE0000 + ord(c)) for c in text)

    wales = "\U0001f3f4" + tags("gbwls") + "\U000e007f"
    assert reveal(wales) == wales
    hidden = "\U0001f3f4" + tags("ignore") + "\U000e007f"
    assert "<U+E0069" in reveal(hidden), "tags behind a flag that is no flag are shown"


def test_a_splunk_token_written_in_the_file_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    token = "12345678-9abc-def0-1234-56789abcdef0"
    path.write_text(
        f'[channels.s]\nkind = "splunk"\nurl = "https://splunk.example:8088"\ntoken = "{token}"\n'
    )
    warnings = load_config(path, {}).warnings
    assert any(w.startswith("channels.s.token: is written in the config file") for w in warnings)
    assert token not in "\n".join(warnings)


def test_a_header_credential_is_a_secret_alone_too() -> None:
    import base64

    from shipper.config.model import ChannelConfig
    from shipper.sinks.webhook import WEBHOOK, WebhookSettings

    basic = base64.b64encode(b"collector:pa55w0rd").decode()
    headers = (("Authorization", "Bearer s3cr3t-token-value"), ("X-Basic", f"Basic {basic}"))
    chan = ChannelConfig("w", "webhook", "https://x.example", settings=WebhookSettings(headers))
    values = WEBHOOK.secrets(chan).values
    assert {"s3cr3t-token-value", "collector:pa55w0rd", "pa55w0rd"} <= set(values)
    assert "Bearer" not in values and "Basic" not in values

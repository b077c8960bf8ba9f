"""Raw JSON webhook payloads and the renderer registry."""

from __future__ import annotations

import orjson
import pytest

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks import SINKS, render
from shipper.sinks.base import Rendered
from shipper.sinks.webhook import WEBHOOK, render_webhook
from tests.support.alerts import make_alert

CHANNEL = ChannelConfig(name="siem", kind="webhook", url=None)


def alert(line: int, raw: dict[str, object]) -> Alert:
    return make_alert(
        line,
        str(raw.get("action", "")),
        raw=raw,
        severity=Severity.INFO,
        facts=(("shown", "not sent"),),
    )


def test_one_alert_is_sent_as_received() -> None:
    raw: dict[str, object] = {
        "action": "login",
        "context": {"ip": "<!channel>", "n": [1, 2]},
        "extra": None,
    }
    rendered = render_webhook(CHANNEL, [alert(1, raw)])
    assert rendered == Rendered(payload=raw, count=1)
    assert rendered.payload is raw  # unchanged, not a rendering of it
    assert orjson.loads(orjson.dumps(rendered.payload)) == raw


def test_a_batch_is_an_array_in_order() -> None:
    raws: list[dict[str, object]] = [{"action": f"a.{i}", "i": i} for i in range(250)]
    rendered = render_webhook(CHANNEL, [alert(i, raw) for i, raw in enumerate(raws)])
    assert rendered.count == 250
    assert rendered.payload == raws


def test_no_alerts_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_webhook(CHANNEL, [])


def test_registry_has_a_renderer_for_every_kind() -> None:
    assert {"slack", "teams", "webhook"} <= set(SINKS)
    assert SINKS["webhook"] is WEBHOOK


def test_render_dispatches_by_kind() -> None:
    alerts = [alert(1, {"action": "login"}), alert(2, {"action": "logout"})]
    assert render(CHANNEL, alerts).payload == [{"action": "login"}, {"action": "logout"}]
    slack = render(ChannelConfig(name="s", kind="slack", url=None), alerts).payload
    assert "blocks" in slack
    teams = render(ChannelConfig(name="t", kind="teams", url=None), alerts).payload
    assert teams["@type"] == "MessageCard"

"""The generic JSON webhook: the events exactly as they were read, any 2xx is success.

Pure. SIEMs and other consumers want the original event, not a rendering of
it, so one alert is sent as its raw object and a batch as a JSON array of the
raw objects in input order. A batch is never split here: whatever size limit a
generic endpoint has is unknown, so every given alert is covered. No flood
control: a machine reads every event.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Outcome, delivered, read_failure
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets, UrlKeys, url_secrets

NAME = "The webhook"


def render_webhook(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """``alert.raw`` for one alert, a list of the raws for several; covers all of them."""
    del channel  # every webhook channel gets the same body
    if not alerts:
        raise ValueError("render_webhook needs at least one alert")
    if len(alerts) == 1:
        return Rendered(payload=alerts[0].raw, count=1)
    return Rendered(payload=[alert.raw for alert in alerts], count=len(alerts))


class WebhookSink(UrlKeys):
    """Raw events to any URL; see the module docstring."""

    kind = "webhook"
    limits = Limits(
        request_bytes=None,
        request_items=None,
        max_rate=None,
        batch_max=20,
        flood_control=FLOOD_CONTROL_OFF,
    )
    secret_keys = frozenset({"url"})

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return render_webhook(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        text = answer.body.strip()
        if 200 <= answer.status < 300:
            return delivered(NAME, answer.status, text)
        return read_failure(
            NAME, answer, text, now=now, retry_after_max=channel.delivery.retry_after_max
        )

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return url_secrets(channel)


WEBHOOK = WebhookSink()

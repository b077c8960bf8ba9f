"""Generic JSON webhook payloads: the events exactly as they were read.

Pure. SIEMs and other consumers want the original event, not a rendering of
it, so one alert is sent as its raw object and a batch as a JSON array of the
raw objects in input order. A batch is never split here: whatever size limit a
generic endpoint has is unknown, so every given alert is covered.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered


def render_webhook(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """``alert.raw`` for one alert, a list of the raws for several; covers all of them."""
    del channel  # every webhook channel gets the same body
    if not alerts:
        raise ValueError("render_webhook needs at least one alert")
    if len(alerts) == 1:
        return Rendered(payload=alerts[0].raw, count=1)
    return Rendered(payload=[alert.raw for alert in alerts], count=len(alerts))

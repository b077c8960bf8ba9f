"""The destinations: one module per kind of channel, and the table that picks one.

Pure: a sink renders a batch, reads an answer and declares its limits and
secrets (``base.Sink``), touching no file, socket or clock. A new kind of
destination is one new module holding one sink, and one row in ``SINKS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert
from shipper.sinks.base import Destination, Rendered, Secrets, Sink
from shipper.sinks.slack import SLACK
from shipper.sinks.teams import TEAMS
from shipper.sinks.webhook import WEBHOOK

__all__ = ["SINKS", "Rendered", "Secrets", "Sink", "channel_secrets", "render", "sink_for"]

# The sink of each channel kind.
SINKS: dict[str, Destination] = {sink.kind: sink for sink in (SLACK, TEAMS, WEBHOOK)}


def sink_for(channel: ChannelConfig) -> Destination:
    """The sink that serves ``channel``, by its kind."""
    return SINKS[channel.kind]


def render(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The next request for ``channel``: it covers ``Rendered.count`` leading ``alerts``."""
    return sink_for(channel).render(channel, alerts)


def channel_secrets(channels: Iterable[ChannelConfig]) -> Secrets:
    """Every secret the ``channels`` hold, each kind saying which of its values are secret."""
    urls: list[str] = []
    values: list[str] = []
    for channel in channels:
        secrets = sink_for(channel).secrets(channel)
        urls.extend(secrets.urls)
        values.extend(secrets.values)
    return Secrets(tuple(urls), tuple(values))

"""The destinations, one module per kind of channel, and the table that picks one.

Pure: rendering a batch (``base.Rendered``) and reading an answer (``answers``)
touch no file, socket or clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipper.config.model import ChannelConfig, Kind
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered, Renderer
from shipper.sinks.slack import render_slack
from shipper.sinks.teams import render_teams
from shipper.sinks.webhook import render_webhook

# Which builder makes a channel's messages, by the channel's kind.
RENDERERS: dict[Kind, Renderer] = {
    "slack": render_slack,
    "teams": render_teams,
    "webhook": render_webhook,
}


def render(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The next message for ``channel``: it covers ``Rendered.count`` leading ``alerts``."""
    return RENDERERS[channel.kind](channel, alerts)

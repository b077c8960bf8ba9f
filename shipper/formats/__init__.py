"""Payload builders, one module per kind of channel, and the table that picks one.

Pure: a builder turns a channel's settings and a batch of alerts into the JSON
body of one message. A builder may cover fewer alerts than it was given (when
the rest would break the service's size limits); ``Rendered.count`` says how
many, and delivery acknowledges exactly that many and renders the rest next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipper.config import ChannelConfig
from shipper.event import Alert


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message body and how many of the given alerts it covers (at least one)."""

    payload: Any
    count: int


Renderer = Callable[[ChannelConfig, Sequence[Alert]], Rendered]


# The builders import ``Rendered`` from this module, so they are imported only
# once it is defined.
from shipper.config import Kind  # noqa: E402
from shipper.formats.slack import render_slack  # noqa: E402
from shipper.formats.teams import render_teams  # noqa: E402
from shipper.formats.webhook import render_webhook  # noqa: E402

# Which builder makes a channel's messages, by the channel's kind.
RENDERERS: dict[Kind, Renderer] = {
    "slack": render_slack,
    "teams": render_teams,
    "webhook": render_webhook,
}


def render(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """The next message for ``channel``: it covers ``Rendered.count`` leading ``alerts``."""
    return RENDERERS[channel.kind](channel, alerts)

"""What every destination's renderer gives delivery: one message body and how many alerts
it covers.

Pure. A renderer turns a channel's settings and a batch of alerts into the JSON
body of one message. It may cover fewer alerts than it was given (when the rest
would break the service's size limits); ``Rendered.count`` says how many, and
delivery acknowledges exactly that many and renders the rest next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipper.config.model import ChannelConfig
from shipper.routing.event import Alert


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message body and how many of the given alerts it covers (at least one)."""

    payload: Any
    count: int


Renderer = Callable[[ChannelConfig, Sequence[Alert]], Rendered]

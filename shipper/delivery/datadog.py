"""Datadog's exchange: the host's name on every log, and the logs Datadog would drop.

A rendered request (``sinks.datadog``) gets, as it leaves, this host's name
and, for each log dated outside what Datadog keeps (18 h back, 2 h ahead), the
time of sending (``finish_logs``): Datadog answers 202 for such logs and then
drops them without a word. Each such log is counted (``Delivered.late``, the
``shipper_events_late_total`` metric) and the first of each channel is
warned about once. A 413 sends the logs again in halves (``split``).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import TYPE_CHECKING

from shipper.config.model import ChannelConfig
from shipper.delivery.split import send_halving
from shipper.sinks.answers import Delivered, Outcome
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.datadog import DATADOG, finish_logs

if TYPE_CHECKING:  # the exchange table imports this module
    from shipper.delivery.exchange import ExchangeContext, Http

logger = logging.getLogger(__name__)


class DatadogExchange:
    """One per run, for every datadog channel."""

    kind = DATADOG.kind

    def __init__(self, context: ExchangeContext) -> None:
        self._clock = context.clock
        self._hostname = socket.gethostname()
        self._warned: set[str] = set()

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        logs, late = finish_logs(request.payload, now=self._clock.time(), hostname=self._hostname)
        if late and channel.name not in self._warned:
            self._warned.add(channel.name)
            logger.warning(
                "channel %s: %d event(s) dated over 18 h ago or over 2 h ahead, which Datadog "
                "would drop after accepting them: sent with the time of sending, their own "
                "time in original_timestamp; counted in shipper_events_late_total (warned "
                "once per channel)",
                channel.name,
                late,
                extra={"channel": channel.name},
            )

        async def post(part: Rendered) -> Outcome:
            return await http.send(channel, sink, part)

        outcome = await send_halving(post, dataclasses.replace(request, payload=logs))
        if isinstance(outcome, Delivered) and late:
            outcome = dataclasses.replace(outcome, late=late)
        return outcome

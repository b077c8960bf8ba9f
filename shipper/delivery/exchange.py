"""Kinds whose delivery is more than one POST: the ``Exchange`` hook and its table.

Most kinds post a rendered request to one URL and read the answer, which
``Poster`` does on its own. A kind that must first fetch a token (Sentinel),
resolve a name (a Slack app's ``#channel``), or confirm after posting (Splunk's
acknowledgements, a Slack thread's first message) supplies an ``Exchange``:
it makes its requests through ``Http.request``, which keeps the transport's
rules (timeouts, no redirects, capped answers, errors in plain words naming
the host only, the channel's secrets scrubbed from answers), and returns one
``Outcome`` for the rendered request, as a plain post would. ``EXCHANGES``
maps a kind to the factory of its exchange; ``Poster`` makes one exchange of
each kind per run, shared by every channel of that kind, so what a kind
shares across channels (a token, a rate limit, a name cache) lives in it.
Whatever must survive a restart goes in a file of ``ExchangeContext.state_dir``
(the state directory's ``kinds/``, created private by whoever writes there
first, with ``shipper.durable``), named after the kind. An exchange may also have
``prepare(http, channel, sink)``, which ``Poster.prepare`` calls for each channel at
the start of a run (a Slack app resolves its ``#names`` there, so a wrong one is
reported before the first event).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shipper.clock import Clock
from shipper.config.model import ChannelConfig
from shipper.delivery.datadog import DatadogExchange
from shipper.delivery.sentinel import SentinelExchange
from shipper.delivery.slack_app import SlackAppExchange
from shipper.delivery.splunk import SplunkExchange
from shipper.sinks.answers import Answer, GiveUp, Outcome, Retry
from shipper.sinks.base import Rendered, Sink


@dataclass(frozen=True, slots=True)
class ExchangeContext:
    """What an exchange may use besides HTTP: the clock, and the state directory
    (``None`` where nothing is kept, as in ``shipper test``)."""

    clock: Clock
    state_dir: Path | None


# Answers to a post are a word or a short JSON object; never buffer a runaway body.
# An exchange that reads longer answers (a listing, an echo) asks for more per request.
MAX_ANSWER_BYTES = 64 * 1024


class Http(Protocol):
    """The HTTP edge an exchange talks through (``Poster``)."""

    async def request(
        self,
        channel: ChannelConfig,
        sink: Sink,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: bytes | None = None,
        max_answer: int = MAX_ANSWER_BYTES,
    ) -> Answer | Retry | GiveUp:
        """One request with the channel's timeout: its answer (secrets scrubbed, cut at
        ``max_answer`` bytes), the
        ``TimedOut``/``Unreachable`` retry when none came, or ``GiveUp`` for a URL that
        is not one."""

    async def send(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        """``request`` posted as a plain post is, read by ``sink``."""


class Exchange(Protocol):
    """How one kind delivers a rendered request; see the module docstring."""

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        """Deliver ``request`` for ``channel``; never raises for a delivery failure."""


ExchangeFactory = Callable[[ExchangeContext], Exchange]

# The kinds whose delivery is more than one POST, and how each makes its exchange.
EXCHANGES: dict[str, ExchangeFactory] = {
    e.kind: e for e in (SlackAppExchange, SplunkExchange, DatadogExchange, SentinelExchange)
}

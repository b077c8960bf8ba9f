"""Splunk HEC delivery: the machine's name as ``host``, and indexer acknowledgements.

Without ``acknowledgements`` a request is one plain post: HEC's ``200`` means
the events looked valid, not that they were indexed (reference 2.6). With it,
every request carries the channel's ``X-Splunk-Request-Channel``, a GUID
chosen once and kept in ``state_dir/kinds/splunk.<channel>.channel`` (0600,
never through a link; a new one in ``shipper test``, which keeps nothing), and
its answer's ``ackId`` is polled at ``/services/collector/ack``, every
``ACK_POLL_FIRST`` seconds doubling up to ``ACK_POLL_MAX``, until HEC reports
it indexed: only then is the request ``Delivered`` and its events leave the
backlog. An ack that has not come within ``ack_timeout`` (at most
``give_up_after``) is a ``Retry``: the events are sent again, since a
duplicate beats a loss, and ``give_up_after`` bounds the whole outage as for
any failure. A ``kill -9`` while waiting leaves them in the backlog, sent
again by the next run.

One request waits for its ack before the next is sent: the worker's backlog
releases events in order from its head, so a later request's ack could not
release them before an earlier one's anyway, and one request in flight keeps
the duplicates of a crash or a lost ack to one request. Throughput is then
``batch_max`` events per ack delay; raise ``batch_max`` where acks are slow.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from shipper.config.channel_files import file_name_for
from shipper.config.model import ChannelConfig
from shipper.durable import ensure_private_dir, read_private, write_atomic
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Partial, Retry, format_delay
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.splunk import ACK_PATH, SPLUNK, settings_of, with_host
from shipper.sinks.splunk_answers import ack_id, read_ack_answer

if TYPE_CHECKING:  # exchange.EXCHANGES lists this module's exchange
    from shipper.delivery.exchange import ExchangeContext, Http

logger = logging.getLogger(__name__)

ACK_POLL_FIRST = 0.05
ACK_POLL_MAX = 10.0  # Vector polls every 10 s (reference 2.6)
CHANNEL_HEADER = "X-Splunk-Request-Channel"


class SplunkExchange:
    """One per run, for every splunk channel; see the module docstring."""

    kind = SPLUNK.kind

    def __init__(self, context: ExchangeContext) -> None:
        self._context = context
        self._host: str | None = None
        self._guids: dict[str, str] = {}
        self._warned: set[str] = set()

    @property
    def host(self) -> str:
        """This machine's name, asked once."""
        if self._host is None:
            self._host = socket.gethostname() or "localhost"
        return self._host

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        settings = settings_of(channel)
        if settings.token is None or channel.url is None:
            unset = "token" if settings.token is None else "url"
            return GiveUp(f"channel {channel.name} has no {unset}: its variable was unset")
        if settings.host is None:
            request = with_host(request, self.host)
        if not settings.acknowledgements:
            return await http.send(channel, sink, request)
        try:
            guid = self._guid(channel)
        except OSError as exc:
            return Retry(None, f"could not keep the HEC channel id of {channel.name}: {exc}")
        return await self._send_acknowledged(http, channel, sink, request, guid)

    async def _send_acknowledged(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered, guid: str
    ) -> Outcome:
        from shipper.delivery.poster import encode_body  # the poster imports the exchanges

        headers = {"Content-Type": "application/json", CHANNEL_HEADER: guid}
        headers.update(request.headers)
        if request.gzip:
            headers["Content-Encoding"] = "gzip"
        url = request.url or channel.url or ""
        try:
            data = encode_body(request)
        except TypeError as exc:
            return GiveUp(f"the message could not be encoded as JSON ({type(exc).__name__})")
        answer = await http.request(channel, sink, "POST", url, headers=headers, data=data)
        if not isinstance(answer, Answer):
            return answer
        clock = self._context.clock
        outcome = sink.read_answer(channel, answer, now=clock.time())
        if not isinstance(outcome, Delivered):
            return outcome
        ack = ack_id(answer)
        if ack is None:
            self._warn_once(
                channel,
                f"channel {channel.name}: Splunk answered without an ackId, so indexer "
                "acknowledgement is off for its token: events count as delivered once HEC "
                "took them, not once indexed; turn it on for the token (Settings > Data "
                "inputs > HTTP Event Collector), or set acknowledgements = false",
            )
            return Delivered(outcome.status, f"{outcome.reason}, no ackId: not confirmed indexed")
        return await self._await_ack(http, channel, sink, guid, ack, outcome)

    async def _await_ack(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        guid: str,
        ack: int,
        posted: Delivered,
    ) -> Outcome:
        clock = self._context.clock
        limit = min(settings_of(channel).ack_timeout, channel.delivery.give_up_after)
        deadline = clock.monotonic() + limit
        url = (channel.url or "").rstrip("/") + ACK_PATH
        headers = {"Content-Type": "application/json", CHANNEL_HEADER: guid}
        headers.update(dict(_auth(channel)))
        body = orjson.dumps({"acks": [ack]})
        delay = ACK_POLL_FIRST
        last = "no answer yet"
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return Retry(
                    None,
                    f"Splunk took the events (ackId {ack}) but did not report them indexed "
                    f"within {format_delay(limit)} (ack_timeout; last: {last}): sending them again",
                    posted.status,
                )
            await clock.sleep(min(delay, remaining))
            delay = min(delay * 2, ACK_POLL_MAX)
            answer = await http.request(channel, sink, "POST", url, headers=headers, data=body)
            if not isinstance(answer, Answer):
                last = answer.reason  # no answer: the events may be indexed all the same
                continue
            read = read_ack_answer(
                answer,
                ack,
                now=clock.time(),
                retry_after_max=channel.delivery.retry_after_max,
            )
            if read is True:
                return Delivered(posted.status, f"{posted.reason}, indexed (ackId {ack})")
            if read is False:
                last = f"ackId {ack} not indexed yet"
                continue
            if isinstance(read, Delivered):
                self._warn_once(channel, f"channel {channel.name}: {read.reason}")
                return read
            if isinstance(read, GiveUp | Partial):
                # The query was refused for good (a token revoked meanwhile): whether the
                # events were indexed is unknown, so they go again and meet the refusal.
                return Retry(None, f"{read.reason}; asking for ackId {ack}", read.status)
            last = read.reason

    def _guid(self, channel: ChannelConfig) -> str:
        """The channel's HEC channel id, kept across runs when there is a state directory."""
        found = self._guids.get(channel.name)
        if found is not None:
            return found
        state = self._context.state_dir
        guid = str(uuid.uuid4())
        if state is not None:
            path = state / f"splunk.{file_name_for(channel.name)}.channel"
            guid = _load_or_keep(path, guid)
        self._guids[channel.name] = guid
        return guid

    def _warn_once(self, channel: ChannelConfig, message: str) -> None:
        if channel.name not in self._warned:
            self._warned.add(channel.name)
            logger.warning("%s", message, extra={"channel": channel.name})


def _load_or_keep(path: Path, fresh: str) -> str:
    """The GUID kept at ``path``, or ``fresh`` written there when none valid is."""
    ensure_private_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        text = read_private(path).decode("ascii", "replace").strip()
        with contextlib.suppress(ValueError):
            return str(uuid.UUID(text))
    write_atomic(path, fresh.encode() + b"\n")
    return fresh


def _auth(channel: ChannelConfig) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Splunk {settings_of(channel).token}"),)

"""The HTTP edge of delivery: one ``Http1Client`` for the run, one POST, one ``Outcome``.

``Poster.post`` serialises a sink's request with orjson, posts it within the
channel's own ``timeout``, reads the answer (capped) and hands it to the sink to
read. Transport failures are translated here, at the edge, into
``TransportError``/``PostTimeoutError`` and then into the typed retries
``Unreachable``/``TimedOut``, whose reason names the host only: the URL is the
webhook's secret. Whatever the sink declares secret is scrubbed from the answer
before it is read.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import orjson

from shipper import __version__
from shipper.clock import Clock, SystemClock
from shipper.config.model import ChannelConfig
from shipper.delivery.exchange import (
    EXCHANGES,
    MAX_ANSWER_BYTES,
    Exchange,
    ExchangeContext,
    ExchangeFactory,
)
from shipper.delivery.http1 import ConnectionFailed, Http1Client, InvalidRequest
from shipper.errors import PostTimeoutError, TransportError
from shipper.ops.logs import SecretFilter, host_of
from shipper.sinks.answers import (
    Answer,
    GiveUp,
    Outcome,
    Retry,
    TimedOut,
    Unreachable,
    format_delay,
)
from shipper.sinks.base import Rendered, Secrets, Sink

_JSON_HEADERS = {"Content-Type": "application/json"}


class Sender(Protocol):
    """What a worker posts through; ``Poster`` in production, a fake in unit tests."""

    async def post(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        """Post ``request`` to ``channel`` and let ``sink`` read the answer; never raises for a
        delivery failure."""


class Poster:
    """One HTTP client for every channel: ``async with Poster() as poster: ...``.

    A kind listed in ``exchange.EXCHANGES`` delivers through its exchange, made
    once per run on first use; every other kind is one POST (``send``).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        user_agent: str | None = None,
        state_dir: Path | None = None,
        exchanges: Mapping[str, ExchangeFactory] | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._user_agent = user_agent or f"shipper/{__version__}"
        self._client: Http1Client | None = None
        self._context = ExchangeContext(self._clock, state_dir)
        self._factories = EXCHANGES if exchanges is None else exchanges
        self._exchanges: dict[str, Exchange] = {}
        self._filters: dict[tuple[int, int], tuple[ChannelConfig, Sink, SecretFilter]] = {}

    async def start(self) -> None:
        """Make the client (inside the running event loop)."""
        if self._client is None:
            self._client = Http1Client(self._user_agent)

    async def aclose(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> Poster:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def prepare(self, channels: Iterable[tuple[ChannelConfig, Sink]]) -> None:
        """Let the exchange of each channel's kind get ready for it before its first post,
        if it has a ``prepare`` (what it finds wrong, it logs)."""
        for channel, sink in channels:
            exchange = self._exchange(channel.kind)
            prepare = getattr(exchange, "prepare", None)
            if prepare is not None:
                await prepare(self, channel, sink)

    async def post(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        """Deliver ``request`` to ``channel``: through its kind's exchange, else ``send``."""
        if request.refused is not None:
            return GiveUp(request.refused)
        exchange = self._exchange(channel.kind)
        if exchange is None:
            return await self.send(channel, sink, request)
        outcome = await exchange.send(self, channel, sink, request)
        return _scrubbed(outcome, self._secrets(channel, sink))

    def _secrets(self, channel: ChannelConfig, sink: Sink) -> SecretFilter:
        """The filter of ``channel``'s secrets, asked of its sink once per channel object
        (a reload makes new ones): each post needs it twice."""
        key = (id(channel), id(sink))
        kept = self._filters.get(key)
        if kept is None or kept[0] is not channel or kept[1] is not sink:
            kept = self._filters[key] = (channel, sink, _filter_for(sink.secrets(channel)))
            if len(self._filters) > 256:  # channels of reloads long gone
                self._filters = {key: kept}
        return kept[2]

    def _exchange(self, kind: str) -> Exchange | None:
        """The run's exchange of ``kind``, made on first use; ``None`` for a plain kind."""
        factory = self._factories.get(kind)
        if factory is None:
            return None
        exchange = self._exchanges.get(kind)
        if exchange is None:
            exchange = self._exchanges[kind] = factory(self._context)
        return exchange

    async def send(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        """POST ``request`` to its URL (the channel's, unless it names one) and let ``sink``
        read the answer."""
        url = request.url or channel.url
        if url is None:
            return GiveUp(f"channel {channel.name} has no URL: its variable was unset")
        try:
            data = encode_body(request)
        except TypeError as exc:
            return GiveUp(f"the message could not be encoded as JSON ({type(exc).__name__})")
        headers = dict(_JSON_HEADERS)
        headers.update(request.headers)
        if request.gzip:
            headers["Content-Encoding"] = "gzip"
        answer = await self.request(channel, sink, "POST", url, headers=headers, data=data)
        if not isinstance(answer, Answer):
            return answer
        outcome = sink.read_answer(channel, answer, now=self._clock.time())
        return _scrubbed(outcome, self._secrets(channel, sink))

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
        """One request with the channel's timeout; see ``exchange.Http.request``."""
        if self._client is None:
            raise RuntimeError("Poster.start() was not called")
        try:
            status, body, answer_headers = await self._send(
                self._client, method, url, headers, data, channel.delivery.timeout, max_answer
            )
        except InvalidRequest as exc:
            return GiveUp(f"channel {channel.name}: {exc}")
        except PostTimeoutError as exc:
            return TimedOut(None, str(exc))
        except TransportError as exc:
            return Unreachable(None, str(exc))
        # Scrub before the answer is read: its echo is cut short, and a cut may halve a secret.
        return Answer(status, self._secrets(channel, sink).scrub(body), answer_headers)

    async def _send(
        self,
        client: Http1Client,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        limit: float,
        max_answer: int,
    ) -> tuple[int, str, Mapping[str, str]]:
        try:
            status, raw, answer_headers = await client.request(
                method, url, headers, data, max_answer, limit
            )
        except TimeoutError as exc:
            host = host_of(url)
            raise PostTimeoutError(f"{host} did not answer within {format_delay(limit)}") from exc
        except ConnectionFailed as exc:
            raise TransportError(f"could not reach {host_of(url)}: {exc}") from exc
        return status, raw.decode("utf-8", "replace"), answer_headers


def encode_body(request: Rendered) -> bytes:
    """The bytes of ``request``'s body: JSON, or its items' JSON one after another, maybe
    gzipped. Raises ``TypeError`` for a payload JSON cannot hold."""
    if request.framing == "concatenated":
        data = b"".join(orjson.dumps(item) for item in request.payload)
    else:
        data = orjson.dumps(request.payload)
    # Level 6 is zlib's default: most of the gain, at a fraction of level 9's CPU.
    return gzip.compress(data, compresslevel=6, mtime=0) if request.gzip else data


@functools.lru_cache(maxsize=64)
def _filter_for(secrets: Secrets) -> SecretFilter:
    # One per channel's secrets, not one per post: building it parses the URLs.
    found = SecretFilter(secrets.urls)
    for value in secrets.values:
        found.add_secret(value)
    return found


def _scrubbed(outcome: Outcome, secrets: SecretFilter) -> Outcome:
    """Belt and braces: an endpoint that echoes its own URL must not leak it into logs."""
    reason = secrets.scrub(outcome.reason)
    if reason == outcome.reason:
        return outcome
    return dataclasses.replace(outcome, reason=reason)

"""A fake Splunk HTTP Event Collector on 127.0.0.1, for integration and end-to-end tests.

It checks what HEC checks and answers as HEC answers (reference 2.1-2.6):
``Authorization: Splunk <token>`` (code 2 when missing, 3 without the ``Splunk``
prefix, 4 for another token, 1 when the token is disabled), a body of
envelopes concatenated, gzipped or not, within ``max_content_length`` on the
wire and decompressed (413 past it), each envelope an object with a non-blank
``event`` (12, 13), a numeric ``time`` if any (6) and an ``index`` the token
may write to (7). HEC takes a batch's events in order and stops at the first
bad one, answering its ``invalid-event-number``: the fake keeps the events
before it, as HEC indexes them. An event whose ``event`` holds
``"poison": true`` is refused as invalid data (code 6), so a test can place a
bad event anywhere.

With ``acks`` on (the token's indexer acknowledgement), every request needs an
``X-Splunk-Request-Channel`` GUID (10, 11); a success carries an ``ackId``
numbered per channel from 0, and ``/services/collector/ack`` answers
``{"acks": {id: bool}}``. ``ack_after_queries`` makes each ack come late (that
many queries answer ``false`` first); ``hold_acks`` answers ``false`` for
ever, as for data an indexer lost. With acks off, ``/ack`` answers code 14.
``busy`` makes the next event posts answer 503 code 9 with ``Retry-After``;
``busy_after`` makes the next one take that many events first and say so
(``invalid-event-number``), as a busy HEC may.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.integration.fake_siem import FakeServer

TOKEN = "0f6c5a1e-7b2d-4e8f-9a3c-5d1e2f3a4b5c"
MAX_CONTENT_LENGTH = 1_000_000


@dataclass
class HecRequest:
    """One request to the fake: path, headers, bytes on the wire, envelopes, and the answer."""

    path: str
    headers: dict[str, str]
    wire: bytes
    envelopes: list[dict[str, Any]]
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


def _hec(status: int, code: int, text: str, **extra: Any) -> web.Response:
    body = {"text": text, "code": code, **extra}
    return web.json_response(body, status=status)


class FakeHec(FakeServer):
    """See the module docstring; ``async with FakeHec() as hec: hec.url``."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        acks: bool = False,
        indexes: tuple[str, ...] = ("main", "audit"),
        max_content_length: int = MAX_CONTENT_LENGTH,
    ) -> None:
        super().__init__()
        self.token = token
        self.acks = acks
        self.indexes = indexes
        self.max_content_length = max_content_length
        self.disabled = False
        self.ack_after_queries = 0
        self.hold_acks = False
        self.busy = 0  # the next event posts answer 503 code 9
        self.busy_retry_after = "1"
        self.busy_after: int | None = None  # the next post: takes that many, then is busy
        self.echo_auth = False  # refusals quote the Authorization header, as some proxies do
        self.requests: list[HecRequest] = []
        self.received: list[dict[str, Any]] = []  # every event HEC took, duplicates included
        self.indexed: list[dict[str, Any]] = []  # those whose ack was reported indexed
        self.ack_queries: list[tuple[str, list[int]]] = []
        self._next_ack: dict[str, int] = defaultdict(int)
        self._pending: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._queried: dict[tuple[str, int], int] = defaultdict(int)
        self.app.router.add_post("/services/collector/event", self._event)
        self.app.router.add_post("/services/collector/ack", self._ack)

    async def wait_for(self, predicate: Any, deadline: float = 30.0) -> None:
        """Return once ``predicate(self)`` holds; fail the test after ``deadline`` s."""
        await super().wait_for(lambda: predicate(self), deadline)

    def event_posts(self) -> list[HecRequest]:
        return [r for r in self.requests if r.path.endswith("/event")]

    async def _record(self, request: HecRequest) -> None:
        async with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _auth(self, request: web.Request) -> web.Response | None:
        refused = self._check_auth(request)
        if refused is not None and self.echo_auth:
            said = json.loads(refused.text or "{}")
            said["text"] += f" ({request.headers.get('Authorization')})"
            return web.json_response(said, status=refused.status)
        return refused

    def _check_auth(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization")
        if auth is None:
            return _hec(401, 2, "Token is required")
        scheme, _, token = auth.partition(" ")
        if scheme != "Splunk" or not token:
            return _hec(401, 3, "Invalid authorization")
        if token != self.token:
            return _hec(403, 4, "Invalid token")
        if self.disabled:
            return _hec(403, 1, "Token disabled")
        return None

    def _channel(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        channel = request.headers.get("X-Splunk-Request-Channel") or request.query.get("channel")
        if channel is None:
            return None, _hec(400, 10, "Data channel is missing")
        try:
            uuid.UUID(channel)
        except ValueError:
            return None, _hec(400, 11, "Invalid data channel")
        return channel, None

    async def _event(self, request: web.Request) -> web.Response:
        wire = await request.read()
        record = HecRequest(request.path, dict(request.headers), wire, [])
        response = self._take(request, wire, record)
        record.status = response.status
        record.answer = json.loads(response.text or "{}")
        await self._record(record)
        return response

    def _take(self, request: web.Request, wire: bytes, record: HecRequest) -> web.Response:
        refused = self._auth(request)
        if refused is not None:
            return refused
        channel = None
        if self.acks:
            channel, refused = self._channel(request)
            if refused is not None:
                return refused
        if len(wire) > self.max_content_length:
            return web.Response(status=413, text="Content-Length of request is too large")
        data = wire
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            data = gzip.decompress(wire)
        if len(data) > self.max_content_length:
            return web.Response(status=413, text="Content-Length of request is too large")
        if self.busy:
            self.busy -= 1
            return web.json_response(
                {"text": "Server is busy", "code": 9},
                status=503,
                headers={"Retry-After": self.busy_retry_after},
            )
        envelopes = _split(data.decode("utf-8"))
        record.envelopes = [e for e in envelopes if isinstance(e, dict)]
        if not envelopes:
            return _hec(400, 5, "No data")
        taken: list[dict[str, Any]] = []
        failure: web.Response | None = None
        for number, envelope in enumerate(envelopes):
            failure = self._check(envelope, number)
            if failure is None and number == self.busy_after:
                self.busy_after = None
                failure = web.json_response(
                    {"text": "Server is busy", "code": 9, "invalid-event-number": number},
                    status=503,
                    headers={"Retry-After": self.busy_retry_after},
                )
            if failure is not None:
                break
            taken.append(envelope)
        self.received.extend(taken)
        if not self.acks:
            self.indexed.extend(taken)
        if failure is not None:
            return failure
        if channel is None:
            return _hec(200, 0, "Success")
        ack = self._next_ack[channel]
        self._next_ack[channel] += 1
        self._pending[(channel, ack)] = taken
        return _hec(200, 0, "Success", ackId=ack)

    def _check(self, envelope: Any, number: int) -> web.Response | None:
        if not isinstance(envelope, dict):
            return _hec(400, 6, "Invalid data format", **{"invalid-event-number": number})
        if "event" not in envelope:
            return _hec(400, 12, "Event field is required", **{"invalid-event-number": number})
        event = envelope["event"]
        if event in ("", {}, None):
            return _hec(400, 13, "Event field cannot be blank", **{"invalid-event-number": number})
        time = envelope.get("time")
        if time is not None and (isinstance(time, bool) or not isinstance(time, int | float)):
            return _hec(400, 6, "Invalid data format", **{"invalid-event-number": number})
        if isinstance(event, dict) and event.get("poison") is True:
            return _hec(400, 6, "Invalid data format", **{"invalid-event-number": number})
        index = envelope.get("index")
        if index is not None and index not in self.indexes:
            return _hec(400, 7, "Incorrect index", **{"invalid-event-number": number})
        return None

    async def _ack(self, request: web.Request) -> web.Response:
        wire = await request.read()
        record = HecRequest(request.path, dict(request.headers), wire, [])
        response = self._answer_ack(request, wire)
        record.status = response.status
        record.answer = json.loads(response.text or "{}")
        await self._record(record)
        return response

    def _answer_ack(self, request: web.Request, wire: bytes) -> web.Response:
        refused = self._auth(request)
        if refused is not None:
            return refused
        if not self.acks:
            return _hec(400, 14, "ACK is disabled")
        channel, refused = self._channel(request)
        if refused is not None or channel is None:
            return refused or _hec(400, 10, "Data channel is missing")
        try:
            ids = json.loads(wire)["acks"]
        except (ValueError, KeyError, TypeError):
            return _hec(400, 6, "Invalid data format")
        self.ack_queries.append((channel, list(ids)))
        acks = {}
        for ack in ids:
            key = (channel, ack)
            self._queried[key] += 1
            done = key in self._pending and not self.hold_acks
            done = done and self._queried[key] > self.ack_after_queries
            if done:
                self.indexed.extend(self._pending.pop(key))
            acks[str(ack)] = done
        return web.json_response({"acks": acks})


def _split(text: str) -> list[Any]:
    """Envelopes concatenated, with or without whitespace between them."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            found.append(None)  # unparsable from here on: an invalid event
            return found
        found.append(value)


def seqs(envelopes: list[dict[str, Any]]) -> list[int]:
    """The ``seq`` of each envelope's event."""
    return [e["event"]["seq"] for e in envelopes]

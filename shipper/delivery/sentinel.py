"""Sentinel's exchange: client-credentials tokens from Microsoft Entra ID, then the rows.

One exchange serves every sentinel channel of a run; channels with the same
authority, tenant, client, secret and cloud share one token. A token is asked for
(``POST {authority}/{tenant_id}/oauth2/v2.0/token``, form-encoded, scope
Azure Monitor) when there is none, when it is about to expire (a tenth of its
life early, at most five minutes: ``expires_in`` says when), and when the
ingestion endpoint answers ``401`` (revoked, or expired early): then once more
with a fresh token, and a second 401 is a mistake in the config. Only one
request for a token is in flight per identity: the others wait for it. A row
without a time of its own gets the time of sending. A 413 sends the rows again
in halves (``split``). Azure cuts a value over 64 KB short after answering
204: such rows are still sent (their short columns arrive whole), counted
(``Delivered.cut``) and warned about once per channel. The access token is a
secret like the client secret: it is scrubbed from every reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from shipper.config.model import ChannelConfig
from shipper.delivery.split import send_halving
from shipper.ops.redaction import REDACTED
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Retry
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.sentinel import SENTINEL, SentinelSettings, count_cut, token_scope, token_url
from shipper.sinks.sentinel_answers import Token, read_token_answer
from shipper.sinks.siem import iso_utc

if TYPE_CHECKING:  # the exchange table imports this module
    from shipper.delivery.exchange import ExchangeContext, Http

# Renew this early: a tenth of the token's life, at most five minutes.
RENEW_SHARE = 0.1
RENEW_MAX = 300.0
UNAUTHORIZED = 401
ISSUED_KEPT = 16

logger = logging.getLogger(__name__)

Identity = tuple[str, str, str, str, str]  # authority, tenant, client, secret, scope


@dataclasses.dataclass(slots=True)
class _Cached:
    token: str
    renew_at: float  # monotonic


class SentinelExchange:
    """One per run, for every sentinel channel."""

    kind = SENTINEL.kind

    def __init__(self, context: ExchangeContext) -> None:
        self._clock = context.clock
        self._tokens: dict[Identity, _Cached] = {}
        self._locks: dict[Identity, asyncio.Lock] = {}
        # The latest tokens, scrubbed from reasons (an older one can no longer be echoed).
        self._issued: deque[str] = deque(maxlen=ISSUED_KEPT)
        self._warned: set[str] = set()
        self.fetched = 0

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        settings: SentinelSettings = channel.settings
        if settings.client_secret is None:
            return GiveUp(f"channel {channel.name} has no client_secret: its variable was unset")
        identity = (
            settings.authority,
            settings.tenant_id,
            settings.client_id,
            settings.client_secret,
            token_scope(channel),  # a token is for one cloud's Azure Monitor
        )
        stamp = iso_utc(self._clock.time())
        rows = [
            row if "TimeGenerated" in row else {"TimeGenerated": stamp, **row}
            for row in request.payload
        ]

        async def post(part: Rendered) -> Outcome:
            outcome: Outcome = GiveUp("no token")  # replaced on the first pass
            for _ in range(2):
                token = await self._token(http, channel, sink, identity)
                if not isinstance(token, str):
                    return token
                auth = (("Authorization", f"Bearer {token}"),)
                outcome = await http.send(
                    channel, sink, dataclasses.replace(part, headers=part.headers + auth)
                )
                if not (isinstance(outcome, GiveUp) and outcome.status == UNAUTHORIZED):
                    return outcome
                self._forget(identity, token)  # revoked or expired early: one fresh try
            return outcome

        outcome = await send_halving(post, dataclasses.replace(request, payload=rows))
        if isinstance(outcome, Delivered) and (cut := count_cut(rows)):
            self._warn_cut(channel, cut)
            outcome = dataclasses.replace(outcome, cut=cut)
        return self._scrubbed(outcome)

    def _warn_cut(self, channel: ChannelConfig, cut: int) -> None:
        if channel.name in self._warned:
            return
        self._warned.add(channel.name)
        logger.warning(
            "channel %s: %d event(s) had a value over 64 KB, which Azure Monitor cuts short "
            "without a word (its Action, Severity, Actor and Status columns arrive whole); "
            "counted in shipper_events_cut_total (warned once per channel)",
            channel.name,
            cut,
            extra={"channel": channel.name},
        )

    async def _token(
        self, http: Http, channel: ChannelConfig, sink: Sink, identity: Identity
    ) -> str | Retry | GiveUp:
        cached = self._tokens.get(identity)
        if cached is not None and self._clock.monotonic() < cached.renew_at:
            return cached.token
        lock = self._locks.setdefault(identity, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(identity)  # another channel may have fetched it meanwhile
            if cached is not None and self._clock.monotonic() < cached.renew_at:
                return cached.token
            found = await self._fetch(http, channel, sink, identity)
            if not isinstance(found, Token):
                return found
            life = found.seconds
            renew_at = self._clock.monotonic() + life - min(RENEW_MAX, life * RENEW_SHARE)
            self._tokens[identity] = _Cached(found.value, renew_at)
            self._issued.append(found.value)
            return found.value

    async def _fetch(
        self, http: Http, channel: ChannelConfig, sink: Sink, identity: Identity
    ) -> Token | Retry | GiveUp:
        settings: SentinelSettings = channel.settings
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": identity[2],
                "client_secret": identity[3],
                "scope": identity[4],
            }
        )
        self.fetched += 1
        answer = await http.request(
            channel,
            sink,
            "POST",
            token_url(settings),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=form.encode(),
        )
        if not isinstance(answer, Answer):
            return dataclasses.replace(answer, reason=f"the token request failed: {answer.reason}")
        return read_token_answer(
            answer, now=self._clock.time(), retry_after_max=channel.delivery.retry_after_max
        )

    def _forget(self, identity: Identity, token: str) -> None:
        cached = self._tokens.get(identity)
        if cached is not None and cached.token == token:
            del self._tokens[identity]

    def _scrubbed(self, outcome: Outcome) -> Outcome:
        reason = outcome.reason
        for token in self._issued:
            reason = reason.replace(token, REDACTED)
        return outcome if reason == outcome.reason else dataclasses.replace(outcome, reason=reason)

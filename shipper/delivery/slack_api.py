"""Calling Slack's Web API for a Slack app: one call, read, and the limits it reports kept.

``SlackApi`` belongs to the ``slack_app`` exchange and is shared by every
channel of the kind, so what channels of one token share lives here, keyed by
a hash of the token (``token_id``), never the token itself:

- pauses: a ``429``/``ratelimited`` is the method's limit for the whole token
  (reference 1.8: per method, workspace and app), so every channel of that
  token waits it out; ``rate_limited`` is one Slack channel's. A short pause
  is waited out in place; a longer one is a ``Retry`` for the worker to sleep;
- turns: about one message a second per Slack channel (``PACE_SECONDS``),
  whichever shipper channels post there with that token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from shipper.clock import Clock
from shipper.config.model import ChannelConfig
from shipper.sinks.answers import Answer, GiveUp, Retry, format_delay
from shipper.sinks.base import Sink
from shipper.sinks.slack_app import SlackAppSettings
from shipper.sinks.slack_app_answers import Scope, SlackRead, read_slack_answer

if TYPE_CHECKING:
    from shipper.delivery.exchange import Http

# A little over Slack's one message a second per channel (reference 1.8).
PACE_SECONDS = 1.05
# Slack echoes the whole message it posted, escaped, and a conversations.list page of 200
# channels is ~170 KB: an answer cut short would read as a failure, and a post that
# succeeded would be sent again.
ANSWER_BYTES = 4 * 1024 * 1024
# A pause this short is waited out in place rather than reported as a failed try.
SLEEP_PAUSE_MAX = 2.0


def token_id(settings: SlackAppSettings) -> str:
    """What tells tokens apart in the caches: a hash, so no cache key holds a secret."""
    return hashlib.sha256((settings.token or "").encode()).hexdigest()[:24]


class SlackApi:
    """See the module docstring."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._pauses: dict[tuple[str, str], float] = {}  # (token, method or channel) -> until
        self._turns: dict[tuple[str, str], float] = {}  # (token, channel) -> next post

    async def call(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        method: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        target: str = "",
    ) -> SlackRead:
        """``method`` with a JSON ``body`` (POST) or a ``query`` (GET), read; a rate limit it
        reports is kept for ``target`` (the Slack channel) or the token."""
        settings: SlackAppSettings = channel.settings
        headers = {"Authorization": f"Bearer {settings.token or ''}"}
        url = f"{settings.api_url}/{method}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
            try:
                data = orjson.dumps(body)
            except TypeError as exc:
                return SlackRead(GiveUp(f"the message could not be encoded as JSON ({exc})"))
        if query is not None:
            url += f"?{urlencode(query)}"
        answer = await http.request(
            channel,
            sink,
            "POST" if body is not None else "GET",
            url,
            headers=headers,
            data=data,
            max_answer=ANSWER_BYTES,
        )
        if not isinstance(answer, Answer):
            return SlackRead(answer)
        read = read_slack_answer(
            answer,
            method,
            where=settings.channel,
            now=self.clock.time(),
            retry_after_max=channel.delivery.retry_after_max,
        )
        outcome = read.outcome
        if read.scope is not None and isinstance(outcome, Retry) and outcome.after is not None:
            token = token_id(settings)
            key = (token, method) if read.scope is Scope.TOKEN else (token, target)
            until = self.clock.monotonic() + outcome.after
            self._pauses[key] = max(self._pauses.get(key, 0.0), until)
        return read

    def paused(self, settings: SlackAppSettings, method: str, target: str) -> float:
        """Seconds left of a pause Slack asked of ``method`` or of ``target``; <= 0: none."""
        token = token_id(settings)
        until = max(self._pauses.get((token, method), 0.0), self._pauses.get((token, target), 0.0))
        return until - self.clock.monotonic()

    async def wait(self, settings: SlackAppSettings, method: str, target: str) -> Retry | None:
        """Wait out a short pause; a longer one is returned as the ``Retry`` to report."""
        remaining = self.paused(settings, method, target)
        if remaining <= 0:
            return None
        if remaining <= SLEEP_PAUSE_MAX:
            await self.clock.sleep(remaining)
            return None
        return Retry(
            remaining,
            f"Slack rate limited this app's {method} calls: waiting "
            f"{format_delay(remaining)} before the next (every channel of this token waits)",
            429,
        )

    async def take_turn(self, settings: SlackAppSettings, target: str) -> None:
        """Wait for the next turn to post to ``target``: one every ``PACE_SECONDS``."""
        key = (token_id(settings), target)
        now = self.clock.monotonic()
        turn = max(now, self._turns.get(key, now))
        self._turns[key] = turn + PACE_SECONDS
        if turn > now:
            await self.clock.sleep(turn - now)

"""Delivering to a Slack app: channel names, pacing, rate-limit pauses and threads.

The exchange of the ``slack_app`` kind (``exchange.EXCHANGES``), one per run,
shared by every ``slack_app`` channel, so what channels of one token share is
kept here, keyed by a hash of the token (never the token itself):

- a ``#name`` is resolved to its ID once with ``conversations.list`` (cursor
  paging, archived channels left out) and cached; a name Slack does not list
  is a refusal naming the channel and the fix, asked again after
  ``NOT_FOUND_RECHECK`` seconds. ``prepare`` resolves at the start of a run, so
  a wrong name is reported before the first event;
- pacing: about one message a second per Slack channel (``PACE_SECONDS``),
  whichever shipper channels post there;
- pauses: a ``429``/``ratelimited`` is the method's limit for the whole token,
  so every channel of that token waits it out; ``rate_limited`` one channel's;
- threads (``thread_by``): a request with a ``Rendered.key`` whose thread is
  known (``slack_threads``) is posted as a reply (``thread_ts``), then the
  thread's first message is redrawn with the request's status line
  (``chat.update``; its failures are logged, never the reply's). A new
  thread's ``(channel, ts)`` is committed before the post is reported
  delivered. A post that succeeded but whose event comes back (a crash
  before its acknowledgement) is recognised by its fingerprint and not
  posted twice; a crash between Slack's answer and the commit posts it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from shipper.config.channel_files import file_name_for
from shipper.config.model import ChannelConfig
from shipper.delivery.slack_threads import Thread, ThreadStore
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Retry, format_delay
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.slack_app import SLACK_APP, SlackAppSettings, settings_of, with_status
from shipper.sinks.slack_app_answers import (
    THREAD_GONE,
    Scope,
    SlackRead,
    channels_listed,
    next_cursor,
    posted_at,
    read_slack_answer,
)

if TYPE_CHECKING:
    from shipper.delivery.exchange import ExchangeContext, Http

log = logging.getLogger(__name__)

# A little over Slack's one message a second per channel (reference 1.8).
PACE_SECONDS = 1.05
# A pause this short is waited out in place rather than reported as a failed try.
SLEEP_PAUSE_MAX = 2.0
NOT_FOUND_RECHECK = 60.0
LIST_PAGE = 200
MAX_PAGES = 1000  # 200,000 channels; a cursor that never ends must not loop forever
POST = "chat.postMessage"
UPDATE = "chat.update"
LIST = "conversations.list"
# Arguments of chat.update besides channel and ts (reference 1.3); others would be refused.
_UPDATE_ARGS = ("text", "blocks")


class SlackAppExchange:
    """See the module docstring."""

    kind = SLACK_APP.kind

    def __init__(self, context: ExchangeContext) -> None:
        self._clock = context.clock
        self._state_dir = context.state_dir
        self._ids: dict[tuple[str, str, str], str] = {}
        self._missing: dict[tuple[str, str, str], tuple[float, Retry | GiveUp]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._pauses: dict[tuple[str, str], float] = {}  # (token, method or channel) -> until
        self._slots: dict[tuple[str, str], float] = {}  # (token, channel) -> next post
        self._threads: dict[str, ThreadStore | None] = {}

    async def prepare(self, http: Http, channel: ChannelConfig, sink: Sink) -> None:
        """Resolve ``channel``'s ``#name`` now, logging at once what is wrong with it."""
        settings = settings_of(channel)
        if settings.token is None or settings.channel_name is None:
            return
        found = await self._channel_id(http, channel, sink, settings)
        if isinstance(found, GiveUp):
            log.error(
                "channel %s: %s; its events are dead-lettered until that is fixed "
                "(then: shipper replay %s)",
                channel.name,
                found.reason,
                channel.name,
                extra={"channel": channel.name},
            )
        elif isinstance(found, Retry):
            log.warning(
                "channel %s: could not look up %s yet (%s); trying again at its first post",
                channel.name,
                settings.channel,
                found.reason,
                extra={"channel": channel.name},
            )

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        settings = settings_of(channel)
        if settings.token is None:
            return GiveUp(f"channel {channel.name} has no token: its variable was unset")
        target = await self._channel_id(http, channel, sink, settings)
        if not isinstance(target, str):
            return target
        token = _token_id(settings.token)
        paused = await self._wait_pause(token, POST, target)
        if paused is not None:
            return paused
        store = await self._store(channel) if request.key is not None else None
        fingerprint = hashlib.sha256(orjson.dumps(request.payload)).hexdigest()
        thread = await self._thread(store, request.key, target)
        if thread is not None and request.key is not None and thread.last == fingerprint:
            # Delivered before a crash took its acknowledgement with it: not again.
            await self._update(http, channel, sink, settings, thread, request.status)
            return Delivered(200, f"already posted to {settings.channel} before a restart")
        read = await self._post(http, channel, sink, settings, target, request.payload, thread)
        if thread is not None and store is not None and read.error in THREAD_GONE:
            # The first message is gone: this one starts the conversation again.
            await self._save(store.forget, request.key)
            thread = None
            read = await self._post(http, channel, sink, settings, target, request.payload, None)
        if not isinstance(read.outcome, Delivered) or store is None or request.key is None:
            return read.outcome
        if thread is None:
            where = posted_at(read.data)
            if where is not None:
                await self._save(
                    store.put,
                    request.key,
                    *where,
                    fingerprint,
                    request.payload,
                    self._clock.time(),
                )
        else:
            await self._save(store.mark, request.key, fingerprint)
            await self._update(http, channel, sink, settings, thread, request.status)
        return read.outcome

    async def _post(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        settings: SlackAppSettings,
        target: str,
        payload: Any,
        thread: Thread | None,
    ) -> SlackRead:
        body = {"channel": target, **payload}
        if thread is not None:
            body["thread_ts"] = thread.ts
        token = _token_id(settings.token or "")
        await self._pace(token, target)
        return await self._call(http, channel, sink, settings, POST, body, target)

    async def _update(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        settings: SlackAppSettings,
        thread: Thread,
        status: str | None,
    ) -> None:
        """Redraw the thread's first message with ``status``; a failure is only logged."""
        if status is None:
            return
        token = _token_id(settings.token or "")
        if self._paused(token, UPDATE, thread.channel) > 0:
            log.warning(
                "channel %s: not updating the thread's first message: Slack asked to wait",
                channel.name,
                extra={"channel": channel.name},
            )
            return
        drawn = with_status(thread.parent, status)
        body = {"channel": thread.channel, "ts": thread.ts}
        body.update({k: drawn[k] for k in _UPDATE_ARGS if k in drawn})
        read = await self._call(http, channel, sink, settings, UPDATE, body, thread.channel)
        if not isinstance(read.outcome, Delivered):
            log.warning(
                "channel %s: the reply was posted, but its thread's first message was not "
                "updated: %s",
                channel.name,
                read.outcome.reason,
                extra={"channel": channel.name, "reason": read.outcome.reason},
            )

    async def _call(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        settings: SlackAppSettings,
        method: str,
        body: dict[str, Any],
        target: str,
    ) -> SlackRead:
        try:
            data = orjson.dumps(body)
        except TypeError as exc:
            return SlackRead(GiveUp(f"the message could not be encoded as JSON ({exc})"))
        answer = await http.request(
            channel,
            sink,
            "POST",
            f"{settings.api_url}/{method}",
            headers=_headers(settings.token or "", json=True),
            data=data,
        )
        return self._read(answer, method, channel, settings, target)

    def _read(
        self,
        answer: Answer | Retry | GiveUp,
        method: str,
        channel: ChannelConfig,
        settings: SlackAppSettings,
        target: str,
    ) -> SlackRead:
        if not isinstance(answer, Answer):
            return SlackRead(answer)
        read = read_slack_answer(
            answer,
            method,
            where=settings.channel,
            now=self._clock.time(),
            retry_after_max=channel.delivery.retry_after_max,
        )
        outcome = read.outcome
        if read.scope is not None and isinstance(outcome, Retry) and outcome.after is not None:
            token = _token_id(settings.token or "")
            key = (token, method) if read.scope is Scope.TOKEN else (token, target)
            until = self._clock.monotonic() + outcome.after
            self._pauses[key] = max(self._pauses.get(key, 0.0), until)
        return read

    async def _channel_id(
        self, http: Http, channel: ChannelConfig, sink: Sink, settings: SlackAppSettings
    ) -> str | Retry | GiveUp:
        """The ID of ``settings.channel``: as written, or a name resolved once and cached."""
        name = settings.channel_name
        if name is None:
            return settings.channel
        key = (_token_id(settings.token or ""), settings.api_url, name)
        # Channels of one token resolving at once wait for the first one's answer.
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self._ids:
                return self._ids[key]
            missing = self._missing.get(key)
            if missing is not None and missing[0] > self._clock.monotonic():
                return missing[1]
            found = await self._list(http, channel, sink, settings, name)
            if isinstance(found, str):
                self._ids[key] = found
            elif isinstance(found, GiveUp):
                self._missing[key] = (self._clock.monotonic() + NOT_FOUND_RECHECK, found)
            return found

    async def _list(
        self, http: Http, channel: ChannelConfig, sink: Sink, settings: SlackAppSettings, name: str
    ) -> str | Retry | GiveUp:
        token = _token_id(settings.token or "")
        cursor: str | None = None
        seen: set[str] = set()
        listed = 0
        for _ in range(MAX_PAGES):
            paused = await self._wait_pause(token, LIST, "")
            if paused is not None:
                return paused
            query = {"exclude_archived": "true", "limit": str(LIST_PAGE), "types": "public_channel"}
            if cursor is not None:
                query["cursor"] = cursor
            answer = await http.request(
                channel,
                sink,
                "GET",
                f"{settings.api_url}/{LIST}?{urlencode(query)}",
                headers=_headers(settings.token or "", json=False),
            )
            read = self._read(answer, LIST, channel, settings, "")
            if not isinstance(read.outcome, Delivered):
                return read.outcome
            for listed_name, ident, is_member in channels_listed(read.data):
                listed += 1
                if listed_name == name:
                    if not is_member:
                        log.warning(
                            "channel %s: the app is not a member of #%s (%s) yet: type "
                            "/invite @your-app in that channel, or its posts are refused",
                            channel.name,
                            name,
                            ident,
                            extra={"channel": channel.name},
                        )
                    return ident
            cursor = next_cursor(read.data)
            if cursor is None or cursor in seen:
                break
            seen.add(cursor)
        return GiveUp(
            f"Slack lists no channel #{name} among the {listed} channels this app can see "
            "(conversations.list): check the name; if the channel is private, type "
            "/invite @your-app in it and write its ID (C…, from the channel's details) "
            "instead of its name",
            200,
        )

    async def _wait_pause(self, token: str, method: str, target: str) -> Retry | None:
        """Wait out a short pause Slack asked for; a longer one is reported as a retry."""
        remaining = self._paused(token, method, target)
        if remaining <= 0:
            return None
        if remaining <= SLEEP_PAUSE_MAX:
            await self._clock.sleep(remaining)
            return None
        return Retry(
            remaining,
            f"Slack rate limited this app's {method} calls: waiting "
            f"{format_delay(remaining)} before the next (every channel of this token waits)",
            429,
        )

    def _paused(self, token: str, method: str, target: str) -> float:
        now = self._clock.monotonic()
        until = max(self._pauses.get((token, method), 0.0), self._pauses.get((token, target), 0.0))
        return until - now

    async def _pace(self, token: str, target: str) -> None:
        """Take the next turn to post to ``target``: one every ``PACE_SECONDS``."""
        now = self._clock.monotonic()
        turn = max(now, self._slots.get((token, target), now))
        self._slots[(token, target)] = turn + PACE_SECONDS
        if turn > now:
            await self._clock.sleep(turn - now)

    async def _store(self, channel: ChannelConfig) -> ThreadStore | None:
        """``channel``'s thread store, opened on first use; ``None`` where nothing is kept."""
        if channel.name in self._threads:
            return self._threads[channel.name]
        store = None
        if self._state_dir is not None:
            path = self._state_dir / _store_name(channel.name)
            try:
                store = await asyncio.to_thread(ThreadStore, path)
            except (OSError, sqlite3.Error) as exc:
                log.error(
                    "channel %s: cannot keep its threads in %s (%s): every event posts as a "
                    "message of its own",
                    channel.name,
                    path,
                    exc,
                    extra={"channel": channel.name},
                )
        self._threads[channel.name] = store
        return store

    async def _thread(
        self, store: ThreadStore | None, key: str | None, target: str
    ) -> Thread | None:
        if store is None or key is None:
            return None
        try:
            thread = await asyncio.to_thread(store.get, key, self._clock.time())
        except sqlite3.Error as exc:
            log.error("cannot read %s (%s): posting as a new message", store.path, exc)
            return None
        # A thread of another Slack channel (the config changed): start a new one here.
        return thread if thread is not None and thread.channel == target else None

    async def _save(self, step: Any, *args: Any) -> None:
        """Write to the thread store; the post is delivered, so a failure is logged only."""
        try:
            await asyncio.to_thread(step, *args)
        except (OSError, sqlite3.Error) as exc:
            log.error(
                "could not save a Slack thread (%s): later events of that conversation "
                "post as new messages",
                exc,
            )


def _store_name(channel: str) -> str:
    safe = file_name_for(channel)
    if len(safe) > 150:  # room for the suffixes and SQLite's "-journal"
        safe = safe[:120] + "." + hashlib.sha256(channel.encode()).hexdigest()[:16]
    return f"slack_app.{safe}.threads.sqlite3"


def _token_id(token: str) -> str:
    """What tells tokens apart in the caches: a hash, so no cache key holds a secret."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def _headers(token: str, *, json: bool) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if json:
        headers["Content-Type"] = "application/json; charset=utf-8"
    return headers


def state_path(state_dir: Path, channel: str) -> Path:
    """Where ``channel``'s threads are kept in the state directory's ``kinds/``."""
    return state_dir / _store_name(channel)

"""Delivering to a Slack app: names, pacing and pauses (through ``SlackApi``), and threads.

The exchange of the ``slack_app`` kind (``exchange.EXCHANGES``): one per run,
shared by every ``slack_app`` channel. A ``#name`` is looked up once
(``slack_names``; ``prepare`` does it at the start of a run, so a wrong name
is reported before the first event); posts take their turn per Slack channel
and respect the pauses Slack asked for (``slack_api``). Threads
(``thread_by``): a request with a ``Rendered.key`` whose thread is known
(``slack_threads``) is posted as a reply (``thread_ts``), then the thread's
first message is redrawn with the request's status line (``chat.update``; its
failures are logged, never the reply's). A new thread's ``(channel, ts)`` is
committed before the post is reported delivered, so before its event leaves
the backlog. The crash windows: after that commit, an event that comes back
(its acknowledgement lost) is recognised by its request's fingerprint and not
posted twice; between Slack's answer and the commit, it is posted again, as
a new first message (at least once), and later events join the new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from shipper.config.channel_files import file_name_for
from shipper.config.model import ChannelConfig
from shipper.delivery.slack_api import SlackApi
from shipper.delivery.slack_names import ChannelNames
from shipper.delivery.slack_threads import Thread, ThreadStore
from shipper.sinks.answers import Delivered, GiveUp, Outcome, Retry
from shipper.sinks.base import Rendered, Sink
from shipper.sinks.slack_app import SLACK_APP, settings_of, with_status
from shipper.sinks.slack_app_answers import THREAD_GONE, SlackRead, posted_at

if TYPE_CHECKING:
    from shipper.delivery.exchange import ExchangeContext, Http

log = logging.getLogger(__name__)

POST = "chat.postMessage"
UPDATE = "chat.update"
# Arguments of chat.update besides channel and ts (reference 1.3).
_UPDATE_ARGS = ("text", "blocks")


class SlackAppExchange:
    """See the module docstring."""

    kind = SLACK_APP.kind

    def __init__(self, context: ExchangeContext) -> None:
        self._clock = context.clock
        self._state_dir = context.state_dir
        self._api = SlackApi(context.clock)
        self._names = ChannelNames(self._api)
        self._threads: dict[str, ThreadStore | None] = {}

    async def prepare(self, http: Http, channel: ChannelConfig, sink: Sink) -> None:
        """Resolve ``channel``'s ``#name`` now, logging at once what is wrong with it."""
        settings = settings_of(channel)
        if settings.token is None or settings.channel_name is None:
            return
        found = await self._names.channel_id(http, channel, sink)
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
        target = await self._names.channel_id(http, channel, sink)
        if not isinstance(target, str):
            return target
        paused = await self._api.wait(settings, POST, target)
        if paused is not None:
            return paused
        store = await self._store(channel) if request.key is not None else None
        fingerprint = hashlib.sha256(orjson.dumps(request.payload)).hexdigest()
        thread = await self._thread(store, request.key, target)
        if thread is not None and request.key is not None and thread.last == fingerprint:
            # Delivered before a crash took its acknowledgement with it: not again.
            await self._update(http, channel, sink, thread, request.status)
            return Delivered(200, f"already posted to {settings.channel} before a restart")
        read = await self._post(http, channel, sink, target, request.payload, thread)
        if thread is not None and store is not None and read.error in THREAD_GONE:
            # The first message is gone: this one starts the conversation again.
            await self._save(store.forget, request.key)
            thread = None
            read = await self._post(http, channel, sink, target, request.payload, None)
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
            await self._update(http, channel, sink, thread, request.status)
        return read.outcome

    async def _post(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        target: str,
        payload: Any,
        thread: Thread | None,
    ) -> SlackRead:
        body = {"channel": target, **payload}
        if thread is not None:
            body["thread_ts"] = thread.ts
        await self._api.take_turn(settings_of(channel), target)
        return await self._api.call(http, channel, sink, POST, body=body, target=target)

    async def _update(
        self,
        http: Http,
        channel: ChannelConfig,
        sink: Sink,
        thread: Thread,
        status: str | None,
    ) -> None:
        """Redraw the thread's first message with ``status``; a failure is only logged."""
        if status is None:
            return
        if self._api.paused(settings_of(channel), UPDATE, thread.channel) > 0:
            log.warning(
                "channel %s: the thread's first message was not updated: Slack asked to wait",
                channel.name,
                extra={"channel": channel.name},
            )
            return
        drawn = with_status(thread.parent, status)
        body = {"channel": thread.channel, "ts": thread.ts}
        body.update({k: drawn[k] for k in _UPDATE_ARGS if k in drawn})
        read = await self._api.call(http, channel, sink, UPDATE, body=body, target=thread.channel)
        if not isinstance(read.outcome, Delivered):
            log.warning(
                "channel %s: the reply was posted, but its thread's first message was not "
                "updated: %s",
                channel.name,
                read.outcome.reason,
                extra={"channel": channel.name, "reason": read.outcome.reason},
            )

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

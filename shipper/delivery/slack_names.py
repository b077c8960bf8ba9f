"""A Slack app channel's ``#name`` -> its ID, looked up once per token and kept.

``conversations.list`` (scope ``channels:read``) lists public channels, in
cursor pages of ``LIST_PAGE``, archived ones left out (reference 1.4). The ID
found is kept for the run; a name Slack does not list is a ``GiveUp`` that
names the channel and the fix, kept ``NOT_FOUND_RECHECK`` seconds before Slack
is asked again (the app may have been invited, the channel created). Channels
of one token that look up one name at once wait for the first one's answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from shipper.config.model import ChannelConfig
from shipper.delivery.slack_api import SlackApi, token_id
from shipper.sinks.answers import Delivered, GiveUp, Partial, Retry
from shipper.sinks.base import Sink
from shipper.sinks.slack_app import SlackAppSettings
from shipper.sinks.slack_app_answers import channels_listed, next_cursor

if TYPE_CHECKING:
    from shipper.delivery.exchange import Http

log = logging.getLogger(__name__)

LIST = "conversations.list"
LIST_PAGE = 200
MAX_PAGES = 1000  # 200,000 channels: a cursor that never ends must not loop forever
NOT_FOUND_RECHECK = 60.0


class ChannelNames:
    """See the module docstring."""

    def __init__(self, api: SlackApi) -> None:
        self._api = api
        self._ids: dict[tuple[str, str, str], str] = {}
        self._missing: dict[tuple[str, str, str], tuple[float, GiveUp]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def channel_id(
        self, http: Http, channel: ChannelConfig, sink: Sink
    ) -> str | Retry | GiveUp:
        """The ID ``channel`` posts to: as written, or its ``#name`` looked up."""
        settings: SlackAppSettings = channel.settings
        name = settings.channel_name
        if name is None:
            return settings.channel
        key = (token_id(settings), settings.api_url, name)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self._ids:
                return self._ids[key]
            missing = self._missing.get(key)
            if missing is not None and missing[0] > self._api.clock.monotonic():
                return missing[1]
            found = await self._look_up(http, channel, sink, name)
            if isinstance(found, str):
                self._ids[key] = found
            elif isinstance(found, GiveUp):
                self._missing[key] = (self._api.clock.monotonic() + NOT_FOUND_RECHECK, found)
            return found

    async def _look_up(
        self, http: Http, channel: ChannelConfig, sink: Sink, name: str
    ) -> str | Retry | GiveUp:
        settings: SlackAppSettings = channel.settings
        cursor: str | None = None
        seen: set[str] = set()
        listed = 0
        for _ in range(MAX_PAGES):
            paused = await self._api.wait(settings, LIST, "")
            if paused is not None:
                return paused
            query = {"exclude_archived": "true", "limit": str(LIST_PAGE), "types": "public_channel"}
            if cursor is not None:
                query["cursor"] = cursor
            read = await self._api.call(http, channel, sink, LIST, query=query)
            if isinstance(read.outcome, Partial):  # Slack's answers are whole: never here
                return read.outcome.rest()
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
            f"Slack lists no channel #{name} among the {listed} channel(s) this app can see "
            "(conversations.list): check the name; if the channel is private, type "
            "/invite @your-app in it and write its ID (C…, from the channel's details) "
            "instead of its name",
            200,
        )

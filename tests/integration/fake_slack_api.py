"""A fake of Slack's Web API on 127.0.0.1, as the reference (destinations.md §1) describes it.

``FakeSlackApi`` serves ``/api/<method>`` for ``conversations.list``,
``chat.postMessage`` and ``chat.update`` and checks what Slack checks: the
bearer token (``not_authed``, ``invalid_auth``, ``token_revoked``), the
token's scopes (``missing_scope`` with ``needed``/``provided``), the channel
(``channel_not_found``, ``is_archived``, ``not_in_channel``), content
(``no_text``, ``invalid_blocks`` after parsing every block with slack-sdk's
models, more than 50 blocks, a ``chat.update`` text over 4,000 characters),
the ``ts`` of updates and thread parents. ``conversations.list`` pages with a
cursor, in short pages and now and then an empty one with a cursor, as Slack
may. Answers are HTTP 200 with ``"ok": false``, except what a test scripts
(``script``: a 429 with ``Retry-After``, a 500, any error string). Messages
are kept with their thread and their updates, so a test reads the channel as a
person would. Timestamps are ``"<seconds>.<6 digits>"`` and grow.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

TOKEN = "xoxb-1111111111-2222222222-FakeBotTokenSecret"
SCOPES = ("chat:write", "channels:read")


@dataclass
class FakeChannel:
    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    purpose: str = ""


@dataclass
class Message:
    channel: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    updates: int = 0

    @property
    def shown(self) -> str:
        """Every text of the message's blocks, as one string."""
        return orjson.dumps(self.blocks).decode()


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: a status, a JSON body and headers."""

    status: int = 200
    body: Mapping[str, Any] = field(default_factory=lambda: {"ok": True})
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    method: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str]


class FakeSlackApi:
    """See the module docstring; ``async with FakeSlackApi(channels) as fake: fake.url``."""

    def __init__(
        self,
        channels: list[FakeChannel],
        *,
        tokens: Mapping[str, tuple[str, ...]] | None = None,
        page: int = 2,
    ) -> None:
        self.channels = {c.id: c for c in channels}
        self.tokens = dict(tokens) if tokens is not None else {TOKEN: SCOPES}
        self.revoked: set[str] = set()
        self.page = page
        self.messages: list[Message] = []
        self.calls: list[Call] = []
        self.problems: list[str] = []  # what a real Slack would have refused as malformed
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._handle)

    def script(self, method: str, *answers: Scripted) -> None:
        """Answer the next calls of ``method`` with ``answers`` (after checking the token)."""
        self._scripts[method].extend(answers)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def top_level(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def replies(self, parent: Message) -> list[Message]:
        return [
            m for m in self.messages if m.channel == parent.channel and m.thread_ts == parent.ts
        ]

    async def wait_for(
        self, predicate: Callable[[FakeSlackApi], bool], deadline: float = 20
    ) -> None:
        async with asyncio.timeout(deadline), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def __aenter__(self) -> FakeSlackApi:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/api"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        call = Call(method, dict(request.headers), body, dict(request.query))
        try:
            return await self._answer(call)
        finally:
            async with self._changed:
                self.calls.append(call)
                self._changed.notify_all()

    async def _answer(self, call: Call) -> web.Response:
        auth = call.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is None:
            return _error("not_authed")
        if token in self.revoked:
            return _error("token_revoked")
        if token not in self.tokens:
            return _error("invalid_auth")
        script = self._scripts.get(call.method)
        if script:
            scripted = script.popleft()
            return web.json_response(
                dict(scripted.body), status=scripted.status, headers=dict(scripted.headers)
            )
        needed = {"conversations.list": "channels:read"}.get(call.method, "chat:write")
        if needed not in self.tokens[token]:
            provided = ",".join(self.tokens[token])
            return _error("missing_scope", needed=needed, provided=provided)
        if call.method == "conversations.list":
            return self._list(call)
        if call.method in ("chat.postMessage", "chat.update"):
            if not call.headers.get("Content-Type", "").startswith("application/json"):
                return _error("invalid_post_type")
            try:
                data = orjson.loads(call.body)
            except orjson.JSONDecodeError:
                return _error("invalid_json")
            if not isinstance(data, dict):
                return _error("json_not_object")
            if call.method == "chat.postMessage":
                return self._post(data)
            return self._update(data)
        return _error("unknown_method")

    def _list(self, call: Call) -> web.Response:
        limit = int(call.query.get("limit", "100"))
        if not 0 < limit < 1000:
            return _error("invalid_limit")
        cursor = call.query.get("cursor")
        start, emptied = 0, False
        if cursor:
            try:
                _, offset, flag = base64.b64decode(cursor).decode().split(":")
                start, emptied = int(offset), flag == "e"
            except ValueError:
                return _error("invalid_cursor")
        every = [
            c
            for c in self.channels.values()
            if not (c.is_archived and call.query.get("exclude_archived") == "true")
        ]
        # Short pages, and now and then an empty one that still has a cursor (reference 1.4).
        if start and (start // self.page) % 3 == 1 and not emptied:
            chunk, following = [], _cursor(start, "e")
        else:
            chunk = every[start : start + min(limit, self.page)]
            end = start + len(chunk)
            following = _cursor(end, "-") if end < len(every) else ""
        # Slack lists whole channel objects (topic, purpose, ...): a page is ~1 KB a channel.
        listed = [
            {
                "id": c.id,
                "name": c.name,
                "is_archived": c.is_archived,
                "is_member": c.is_member,
                "purpose": {"value": c.purpose, "creator": "U0CREATOR", "last_set": 0},
            }
            for c in chunk
        ]
        return web.json_response(
            {"ok": True, "channels": listed, "response_metadata": {"next_cursor": following}}
        )

    def _channel(self, given: object) -> FakeChannel | str:
        if not isinstance(given, str):
            return "channel_not_found"
        found = self.channels.get(given) or next(
            (c for c in self.channels.values() if f"#{c.name}" == given or c.name == given), None
        )
        if found is None:
            return "channel_not_found"
        if found.is_archived:
            return "is_archived"
        if not found.is_member:
            return "not_in_channel"
        return found

    def _blocks(self, data: Mapping[str, Any]) -> list[dict[str, Any]] | str:
        blocks = data.get("blocks")
        if blocks is None:
            return [] if isinstance(data.get("text"), str) and data["text"] else "no_text"
        if not isinstance(blocks, list) or len(blocks) > 50:
            self.problems.append(f"blocks: not a list of at most 50 ({type(blocks).__name__})")
            return "invalid_blocks"
        for block in blocks:
            try:
                parsed = Block.parse(block)
                if parsed is None:
                    raise SlackObjectFormationError(f"unknown block {block!r}")
                parsed.validate_json()
            except SlackObjectFormationError as exc:
                self.problems.append(str(exc))
                return "invalid_blocks"
        return blocks

    def _post(self, data: Mapping[str, Any]) -> web.Response:
        channel = self._channel(data.get("channel"))
        if isinstance(channel, str):
            return _error(channel)
        blocks = self._blocks(data)
        if isinstance(blocks, str):
            return _error(blocks)
        if data.get("unfurl_links") is not False or data.get("unfurl_media") is not False:
            self.problems.append("unfurl_links/unfurl_media not turned off")
        thread_ts = data.get("thread_ts")
        if thread_ts is not None and not any(
            m.ts == thread_ts and m.channel == channel.id and m.thread_ts is None
            for m in self.messages
        ):
            return _error("thread_not_found")
        ts = f"{1764547200 + next(self._ts)}.{next(self._ts):06d}"
        text = data.get("text")
        text = text if isinstance(text, str) else ""
        self.messages.append(Message(channel.id, ts, thread_ts, text, blocks))
        # Slack echoes the message it posted, whole (and non-ASCII escaped as \uXXXX).
        echo = {"text": text, "blocks": blocks, "ts": ts, "bot_profile": {"name": "shipper"}}
        return web.json_response({"ok": True, "channel": channel.id, "ts": ts, "message": echo})

    def _update(self, data: Mapping[str, Any]) -> web.Response:
        channel = self.channels.get(str(data.get("channel")))
        if channel is None:
            return _error("channel_not_found")
        found = next(
            (m for m in self.messages if m.channel == channel.id and m.ts == data.get("ts")), None
        )
        if found is None:
            return _error("message_not_found")
        text = data.get("text")
        if isinstance(text, str) and len(text) > 4000:
            return _error("msg_too_long")
        blocks = self._blocks(data)
        if isinstance(blocks, str):
            return _error(blocks)
        found.blocks = blocks
        found.text = text if isinstance(text, str) else found.text
        found.updates += 1
        return web.json_response({"ok": True, "channel": channel.id, "ts": found.ts})


def _cursor(offset: int, flag: str) -> str:
    return base64.b64encode(f"offset:{offset}:{flag}".encode()).decode()


def _error(code: str, **extra: str) -> web.Response:
    return web.json_response({"ok": False, "error": code, **extra})


def ratelimited(after: int) -> Scripted:
    """Slack's answer to a method called too often (reference 1.1)."""
    return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(after)})


def failed(code: str, status: int = 200, **extra: str) -> Scripted:
    return Scripted(status, {"ok": False, "error": code, **extra})

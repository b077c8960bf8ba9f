"""What the fakes of Datadog and Azure share: a server on 127.0.0.1, scripted replies,
waiting on a condition with a deadline, and reading a body as the services do."""

from __future__ import annotations

import asyncio
import gzip
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Canned:
    """A reply given instead of the real one, for the next request to a path."""

    status: int
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


class FakeServer:
    """An aiohttp app on 127.0.0.1 whose subclasses add the routes of one service."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self._canned: dict[str, deque[Canned]] = {}

    def can(self, kind: str, *replies: Canned) -> None:
        """Answer the next requests of ``kind`` (``"logs"``, ``"token"``, ``"rows"``) so."""
        self._canned.setdefault(kind, deque()).extend(replies)

    def canned(self, kind: str) -> web.Response | None:
        queue = self._canned.get(kind)
        if not queue:
            return None
        reply = queue.popleft()
        return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], deadline: float = 10.0) -> None:
        async with asyncio.timeout(deadline), self._changed:
            await self._changed.wait_for(predicate)

    async def start(self) -> str:
        # No access log: request lines hold no secret here, but keep the habit.
        self._runner = web.AppRunner(self.app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def inflate(request: web.Request, body: bytes) -> bytes:
    """The body as sent before compression (``Content-Encoding: gzip`` undone)."""
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        return gzip.decompress(body)
    return body
